/* RTP (RFC 3550), RFC 4733 telephone-event payloads and RTCP SR/RR, as bytes only: parse
 * and build, no sockets and no clock.  Every parser checks each length it reads against the
 * datagram it was given and says which rule the datagram broke (RTP_ERR_*), so a hostile
 * datagram is counted and dropped by the caller (dsp/c/rtp_port.h), never read past its end. */
#ifndef PRIBOX_RTP_PACKET_H
#define PRIBOX_RTP_PACKET_H

#include <stdint.h>

/* cffi:begin */
#define RTP_HEADER_OCTETS 12
#define RTP_ERR_SHORT -1          /* fewer than 12 octets */
#define RTP_ERR_VERSION -2        /* version is not 2 */
#define RTP_ERR_CSRC -3           /* the CSRC list runs past the datagram */
#define RTP_ERR_EXTENSION -4      /* the header extension runs past the datagram */
#define RTP_ERR_PADDING -5        /* padding count 0 or longer than the payload */
#define RTP_ERR_RTCP -6           /* an RTCP packet (RFC 5761 demultiplexing), not RTP */
#define RTP_ERR_PAYLOAD -7        /* (rtp_port) a payload no frame of the codec fits */
#define RTP_ERR_KINDS 7
#define RTCP_ERR_SHORT -1
#define RTCP_ERR_VERSION -2
#define RTCP_ERR_LENGTH -3        /* a packet's length field runs past the datagram */
#define RTCP_ERR_FIRST -4         /* a compound packet must start with SR or RR */
#define RTCP_ERR_COUNT -5         /* more report blocks than the packet holds */
#define RTCP_PT_SR 200
#define RTCP_PT_RR 201
#define RTCP_PT_SDES 202
#define RTCP_PT_BYE 203
#define RTCP_MAX_REPORTS 31

typedef struct {
    uint8_t marker;
    uint8_t payload_type;
    uint16_t sequence;
    uint32_t timestamp;
    uint32_t ssrc;
    uint8_t csrc_count;
    uint8_t has_extension;
    uint8_t has_padding;
    int32_t payload_offset;
    int32_t payload_length;
} rtp_header_t;

typedef struct {
    uint8_t event;           /* 0-9, 10 '*', 11 '#', 12-15 'A'-'D', others (RFC 4733 registry) */
    uint8_t end;
    uint8_t volume;          /* -dBm0, 0..63 */
    uint16_t duration;       /* timestamp units since the event began */
} rtp_dtmf_payload_t;

typedef struct {
    uint32_t ssrc;           /* the source this block reports on */
    uint8_t fraction_lost;   /* Q8 */
    int32_t cumulative_lost; /* 24-bit signed */
    uint32_t highest_sequence;
    uint32_t jitter;         /* timestamp units */
    uint32_t lsr;            /* middle 32 bits of the last SR's NTP time, 0 none */
    uint32_t dlsr;           /* 1/65536 s since that SR */
} rtcp_report_block_t;

typedef struct {
    int32_t is_sender_report;
    uint32_t ssrc;
    uint64_t ntp;            /* SR only: 32.32 fixed point */
    uint32_t rtp_timestamp;
    uint32_t packets;
    uint32_t octets;
    int32_t n_reports;
    rtcp_report_block_t reports[RTCP_MAX_REPORTS];
    int32_t has_bye;
} rtcp_info_t;

/* 0 and the header fields, or RTP_ERR_*. */
int rtp_parse(const uint8_t *data, int length, rtp_header_t *out);
/* 1 if the datagram is RTCP by RFC 5761's rule (second octet 192..223), else 0. */
int rtp_is_rtcp(const uint8_t *data, int length);
/* Writes the 12-octet fixed header; returns 12. */
int rtp_write_header(uint8_t *out, int marker, int payload_type, uint16_t sequence, uint32_t timestamp,
                     uint32_t ssrc);
/* 0 or RTP_ERR_SHORT (a telephone-event payload is 4 octets or more). */
int rtp_dtmf_parse(const uint8_t *payload, int length, rtp_dtmf_payload_t *out);
int rtp_dtmf_write(uint8_t *out, int event, int end, int volume, int duration);
/* The first SR or RR of a compound packet and whether it holds a BYE; 0 or RTCP_ERR_*. */
int rtcp_parse(const uint8_t *data, int length, rtcp_info_t *out);
/* An SR (sender != 0) or RR with at most one report block, then an SDES with a CNAME; returns
 * the octets written (capacity must be at least 160). */
int rtcp_build(uint8_t *out, int capacity, int sender, uint32_t ssrc, uint64_t ntp, uint32_t rtp_timestamp,
               uint32_t packets, uint32_t octets, const rtcp_report_block_t *report, const char *cname);
/* cffi:end */

#endif
