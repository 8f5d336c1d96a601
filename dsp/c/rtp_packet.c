/* See rtp_packet.h. */
#include "rtp_packet.h"

#include <string.h>

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int rtp_is_rtcp(const uint8_t *data, int length)
{
    return length >= 2 && data[1] >= 192 && data[1] <= 223;
}

int rtp_parse(const uint8_t *data, int length, rtp_header_t *out)
{
    /* RTCP first (RFC 5761): a receiver report with no blocks is 8 octets, shorter than RTP. */
    if (data == NULL || length < 2)
        return RTP_ERR_SHORT;
    if (data[0] >> 6 != 2)
        return RTP_ERR_VERSION;
    if (rtp_is_rtcp(data, length))
        return RTP_ERR_RTCP;
    if (length < RTP_HEADER_OCTETS)
        return RTP_ERR_SHORT;
    int padding = data[0] & 0x20, extension = data[0] & 0x10, cc = data[0] & 0x0f;
    int offset = RTP_HEADER_OCTETS + 4 * cc;
    if (offset > length)
        return RTP_ERR_CSRC;
    if (extension) {
        if (offset + 4 > length)
            return RTP_ERR_EXTENSION;
        offset += 4 + 4 * get16(data + offset + 2);
        if (offset > length)
            return RTP_ERR_EXTENSION;
    }
    int end = length;
    if (padding) {
        int pad = data[length - 1];
        if (pad == 0 || pad > length - offset)
            return RTP_ERR_PADDING;
        end -= pad;
    }
    out->marker = data[1] >> 7;
    out->payload_type = data[1] & 0x7f;
    out->sequence = get16(data + 2);
    out->timestamp = get32(data + 4);
    out->ssrc = get32(data + 8);
    out->csrc_count = (uint8_t)cc;
    out->has_extension = extension != 0;
    out->has_padding = padding != 0;
    out->payload_offset = offset;
    out->payload_length = end - offset;
    return 0;
}

int rtp_write_header(uint8_t *out, int marker, int payload_type, uint16_t sequence, uint32_t timestamp,
                     uint32_t ssrc)
{
    out[0] = 0x80;
    out[1] = (uint8_t)((marker ? 0x80 : 0) | (payload_type & 0x7f));
    put16(out + 2, sequence);
    put32(out + 4, timestamp);
    put32(out + 8, ssrc);
    return RTP_HEADER_OCTETS;
}

int rtp_dtmf_parse(const uint8_t *payload, int length, rtp_dtmf_payload_t *out)
{
    if (payload == NULL || length < 4)
        return RTP_ERR_SHORT;
    out->event = payload[0];
    out->end = payload[1] >> 7;
    out->volume = payload[1] & 0x3f;
    out->duration = get16(payload + 2);
    return 0;
}

int rtp_dtmf_write(uint8_t *out, int event, int end, int volume, int duration)
{
    out[0] = (uint8_t)event;
    out[1] = (uint8_t)((end ? 0x80 : 0) | (volume & 0x3f));
    put16(out + 2, (uint32_t)(duration > 0xffff ? 0xffff : duration));
    return 4;
}

static void parse_block(const uint8_t *p, rtcp_report_block_t *b)
{
    b->ssrc = get32(p);
    b->fraction_lost = p[4];
    uint32_t lost = (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
    b->cumulative_lost = lost & 0x800000 ? (int32_t)lost - 0x1000000 : (int32_t)lost;
    b->highest_sequence = get32(p + 8);
    b->jitter = get32(p + 12);
    b->lsr = get32(p + 16);
    b->dlsr = get32(p + 20);
}

int rtcp_parse(const uint8_t *data, int length, rtcp_info_t *out)
{
    if (data == NULL || length < 8)
        return RTCP_ERR_SHORT;
    memset(out, 0, sizeof *out);
    int offset = 0, first = 1, found = 0;
    while (offset < length) {
        const uint8_t *p = data + offset;
        if (length - offset < 4)
            return RTCP_ERR_SHORT;
        if (p[0] >> 6 != 2)
            return RTCP_ERR_VERSION;
        int count = p[0] & 0x1f, type = p[1];
        int octets = 4 * (get16(p + 2) + 1);
        if (octets > length - offset)
            return RTCP_ERR_LENGTH;
        if (first && type != RTCP_PT_SR && type != RTCP_PT_RR)
            return RTCP_ERR_FIRST;
        first = 0;
        if ((type == RTCP_PT_SR || type == RTCP_PT_RR) && !found) {
            int fixed = type == RTCP_PT_SR ? 28 : 8;
            if (octets < fixed + 24 * count)
                return RTCP_ERR_COUNT;
            out->is_sender_report = type == RTCP_PT_SR;
            out->ssrc = get32(p + 4);
            if (type == RTCP_PT_SR) {
                out->ntp = (uint64_t)get32(p + 8) << 32 | get32(p + 12);
                out->rtp_timestamp = get32(p + 16);
                out->packets = get32(p + 20);
                out->octets = get32(p + 24);
            }
            out->n_reports = count;
            for (int k = 0; k < count; k++)
                parse_block(p + fixed + 24 * k, &out->reports[k]);
            found = 1;
        } else if (type == RTCP_PT_BYE) {
            out->has_bye = 1;
        }
        offset += octets;
    }
    return 0;
}

int rtcp_build(uint8_t *out, int capacity, int sender, uint32_t ssrc, uint64_t ntp, uint32_t rtp_timestamp,
               uint32_t packets, uint32_t octets, const rtcp_report_block_t *report, const char *cname)
{
    if (capacity < 160)
        return RTCP_ERR_SHORT;
    int n = 0, blocks = report != NULL;
    int fixed = sender ? 28 : 8;
    int size = fixed + 24 * blocks;
    out[0] = (uint8_t)(0x80 | blocks);
    out[1] = sender ? RTCP_PT_SR : RTCP_PT_RR;
    put16(out + 2, (uint32_t)(size / 4 - 1));
    put32(out + 4, ssrc);
    if (sender) {
        put32(out + 8, (uint32_t)(ntp >> 32));
        put32(out + 12, (uint32_t)ntp);
        put32(out + 16, rtp_timestamp);
        put32(out + 20, packets);
        put32(out + 24, octets);
    }
    if (report) {
        uint8_t *b = out + fixed;
        put32(b, report->ssrc);
        b[4] = report->fraction_lost;
        int32_t lost = report->cumulative_lost;
        if (lost > 0x7fffff)
            lost = 0x7fffff;
        if (lost < -0x800000)
            lost = -0x800000;
        uint32_t l24 = (uint32_t)lost & 0xffffff;
        b[5] = (uint8_t)(l24 >> 16);
        b[6] = (uint8_t)(l24 >> 8);
        b[7] = (uint8_t)l24;
        put32(b + 8, report->highest_sequence);
        put32(b + 12, report->jitter);
        put32(b + 16, report->lsr);
        put32(b + 20, report->dlsr);
    }
    n = size;
    /* SDES: one chunk with a CNAME, padded with zeros to a 32-bit boundary. */
    int name = (int)strnlen(cname ? cname : "", 64);
    int chunk = 4 + 2 + name + 1;
    chunk = (chunk + 3) & ~3;
    uint8_t *s = out + n;
    memset(s, 0, (size_t)(4 + chunk));
    s[0] = 0x81;
    s[1] = RTCP_PT_SDES;
    put16(s + 2, (uint32_t)((4 + chunk) / 4 - 1));
    put32(s + 4, ssrc);
    s[8] = 1;
    s[9] = (uint8_t)name;
    memcpy(s + 10, cname ? cname : "", (size_t)name);
    n += 4 + chunk;
    return n;
}
