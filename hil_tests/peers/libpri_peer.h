/* libpri as the far end of a D-channel in tests: a thin shim that owns one `struct pri`,
 * flattens every `pri_event` into one plain struct, and wraps the actions scenarios need.
 * The caller drives it from its own event loop: lp_on_readable() when the fd is readable,
 * lp_on_timer() when lp_next_timeout_ms() has run out. */
#ifndef PRIBOX_LIBPRI_PEER_H
#define PRIBOX_LIBPRI_PEER_H

/* cffi:begin */
#define LP_NUM_LEN 64
#define LP_TEXT_LEN 256

typedef struct lp_peer lp_peer;

typedef struct {
    int type;               /* PRI_EVENT_*, 0 when there was no event */
    int channel;            /* libpri's encoded channel (B-channel | span << 8 | explicit << 16), -1 none */
    int cause;              /* Q.850 cause of HANGUP, HANGUP_REQ, PROCEEDING/PROGRESS; -1 none */
    int cref;               /* call reference value, -1 none */
    int complete;           /* RING: Sending Complete seen */
    int progress;           /* progress indicator description, -1 none */
    int progressmask;
    int ctype;              /* RING: transfer capability (PRI_TRANS_CAP_*) */
    int layer1;             /* RING: user information layer 1 (0x22 mu-law, 0x23 A-law) */
    int calledplan;         /* RING: type of number << 4 | numbering plan */
    int callingplan;
    int callingpres;
    int redirectingreason;
    int redirectingplan;
    int changestatus;       /* SERVICE / SERVICE_ACK */
    int notify_info;        /* NOTIFY */
    void *call;             /* opaque q931_call of the event, NULL for link events */
    char callednum[LP_NUM_LEN];
    char callingnum[LP_NUM_LEN];
    char callingname[LP_NUM_LEN];
    char redirectingnum[LP_NUM_LEN];
    char origcallednum[LP_NUM_LEN];
    char digits[LP_NUM_LEN];
    char text[LP_TEXT_LEN];
} lp_event;

lp_peer *lp_new(int fd, int nodetype, int switchtype, int debug);
void lp_free(lp_peer *peer);
int lp_set_timer(lp_peer *peer, const char *name, int value);
int lp_next_timeout_ms(lp_peer *peer);
int lp_on_readable(lp_peer *peer, lp_event *out);
int lp_on_timer(lp_peer *peer, lp_event *out);
int lp_frames_in(lp_peer *peer);
int lp_frames_out(lp_peer *peer);
int lp_line_closed(lp_peer *peer);
int lp_dahdi_events(lp_peer *peer);       /* DAHDI descriptor: events drained on ELAST */
int lp_last_dahdi_event(lp_peer *peer);
int lp_take_log(char *buf, int buflen);
const char *lp_event_name(int type);
const char *lp_cause_name(int cause);

void *lp_new_call(lp_peer *peer);
int lp_setup(lp_peer *peer, void *call, int channel, int exclusive, const char *called, int calledplan,
             const char *calling, int callingplan, int callingpres, const char *redirecting,
             int redirectingreason, int complete, int layer1);
int lp_proceeding(lp_peer *peer, void *call, int channel, int inband);
int lp_progress(lp_peer *peer, void *call, int channel, int inband);
int lp_acknowledge(lp_peer *peer, void *call, int channel, int inband);
int lp_need_more_info(lp_peer *peer, void *call, int channel);
int lp_information(lp_peer *peer, void *call, const char *digits);
int lp_answer(lp_peer *peer, void *call, int channel);
int lp_hangup(lp_peer *peer, void *call, int cause);
int lp_reset_channel(lp_peer *peer, int channel);
void lp_set_overlap(lp_peer *peer, int enable);

double lp_bench_calls(int count, int *completed);
/* cffi:end */

#endif
