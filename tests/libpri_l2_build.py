"""A libpri layer-2 peer for tests (cffi, API mode): `tests._libpri_l2`.

Opens libpri with `pri_new(fd, PRI_CPE | PRI_NETWORK, PRI_SWITCH_EUROISDN_E1)` on a socket the
test hands in, so libpri's own read()/write() talk hdlcfcs framing to a span's D-channel
export.  Python drives it: call `l2_check` when the fd is readable, `l2_timers` when
`l2_next_timer_ms` is due.  libpri's messages are collected for the test to print on failure.
Built by setup.py's cffi_modules (and `setup.py build_ext --inplace`).
"""

from cffi import FFI

ffibuilder = FFI()
ffibuilder.cdef("""
    #define L2_PRI_NETWORK 1
    #define L2_PRI_CPE 2
    #define L2_EVENT_DCHAN_UP 1
    #define L2_EVENT_DCHAN_DOWN 2
    struct pri;
    struct pri *l2_new(int fd, int nodetype, int debug_q921);
    int l2_check(struct pri *pri);
    int l2_timers(struct pri *pri);
    long l2_next_timer_ms(struct pri *pri);
    int l2_take_messages(char *out, int size);
""")
ffibuilder.set_source("tests._libpri_l2", r"""
    #include <libpri.h>
    #include <string.h>
    #include <sys/time.h>

    #define L2_PRI_NETWORK PRI_NETWORK
    #define L2_PRI_CPE PRI_CPE
    #define L2_EVENT_DCHAN_UP PRI_EVENT_DCHAN_UP
    #define L2_EVENT_DCHAN_DOWN PRI_EVENT_DCHAN_DOWN

    static char messages[16384];
    static size_t messages_len;

    static void collect(struct pri *pri, char *text)
    {
        size_t n = strlen(text);
        (void)pri;
        if (n > sizeof(messages) - 1 - messages_len)
            n = sizeof(messages) - 1 - messages_len;
        memcpy(messages + messages_len, text, n);
        messages_len += n;
        messages[messages_len] = 0;
    }

    int l2_take_messages(char *out, int size)
    {
        int n = (int)messages_len < size - 1 ? (int)messages_len : size - 1;
        memcpy(out, messages, n);
        out[n] = 0;
        messages_len = 0;
        return n;
    }

    struct pri *l2_new(int fd, int nodetype, int debug_q921)
    {
        struct pri *pri;
        pri_set_message(collect);
        pri_set_error(collect);
        pri = pri_new(fd, nodetype, PRI_SWITCH_EUROISDN_E1);
        if (pri && debug_q921)
            pri_set_debug(pri, PRI_DEBUG_Q921_DUMP | PRI_DEBUG_Q921_STATE);
        return pri;
    }

    static int event_type(pri_event *e) { return e ? e->e : 0; }

    int l2_check(struct pri *pri) { return event_type(pri_check_event(pri)); }
    int l2_timers(struct pri *pri) { return event_type(pri_schedule_run(pri)); }

    long l2_next_timer_ms(struct pri *pri)
    {
        struct timeval *next = pri_schedule_next(pri), now;
        long ms;
        if (!next)
            return -1;
        gettimeofday(&now, NULL);
        ms = (next->tv_sec - now.tv_sec) * 1000 + (next->tv_usec - now.tv_usec) / 1000;
        return ms < 0 ? 0 : ms;
    }
""", libraries=["pri"], extra_compile_args=["-O2", "-Wall"])

if __name__ == "__main__":
    ffibuilder.compile(verbose=False)
