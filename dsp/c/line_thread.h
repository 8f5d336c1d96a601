/* The line's own thread: every period it advances each attached port (dsp/c/line_port.h) to
 * CLOCK_MONOTONIC's now, as a card's hardware and the kernel do for DAHDI, with no Python and no
 * GIL — so nothing the control plane does (a password hash, a config commit, a garbage
 * collection) can make the wire late.  The control plane attaches and detaches ports and reads
 * the engine's timing figures; everything else goes through each port's own bounded queues. */
#ifndef PRIBOX_LINE_THREAD_H
#define PRIBOX_LINE_THREAD_H

#include <stdint.h>

#include "line_port.h"
#include "rtp_port.h"

/* cffi:begin */
#define LINE_THREAD_MAX_PORTS 64
#define LINE_THREAD_MAX_RTP_PORTS 256
#define LINE_THREAD_ERR_FULL -1
#define LINE_THREAD_ERR_THREAD -2
#define LINE_THREAD_ERR_ARGUMENT -3

typedef struct line_thread line_thread;

typedef struct {
    uint64_t ticks;
    uint64_t late_ticks;        /* ticks that began more than one period after their due time */
    uint64_t max_late_ns;
    uint64_t max_work_ns;       /* longest time one tick spent advancing its ports */
    uint64_t total_work_ns;
    /* Why the late ticks were late, from inside the thread (getrusage(RUSAGE_THREAD) around
     * each tick's work): the tick before ran past this one's due time plus a period
     * (late_after_overrun), or the wake-up itself came late (late_wakeups: the timer, the
     * scheduler or the hypervisor).  Beside them, ticks whose work took a page fault, blocked
     * (a lock, or a fault's I/O), or was preempted, and the same counted over the overruns
     * alone (ticks whose work took longer than a period). */
    uint64_t late_after_overrun;
    uint64_t late_wakeups;
    uint64_t ticks_faulted;
    uint64_t ticks_blocked;
    uint64_t ticks_preempted;
    uint64_t overruns_faulted;
    uint64_t overruns_blocked;
    uint64_t overruns_preempted;
    int running;
    int realtime_priority;      /* 1 if the thread got SCHED_FIFO */
    int ports;
    int rtp_ports;
} line_thread_stats;

line_thread *line_thread_new(int64_t period_ns);
void line_thread_free(line_thread *e);                 /* stops the thread first */
int line_thread_attach(line_thread *e, line_port *p);
int line_thread_detach(line_thread *e, line_port *p);  /* returns once the thread let go of it */
/* RTP ports (dsp/c/rtp_port.h) are advanced after the line ports, so a bridge between an E1
 * channel and an RTP leg is run by one thread. */
int line_thread_attach_rtp(line_thread *e, rtp_port *p);
int line_thread_detach_rtp(line_thread *e, rtp_port *p);
int line_thread_start(line_thread *e, int want_realtime);
void line_thread_stop(line_thread *e);
void line_thread_get_stats(line_thread *e, line_thread_stats *out);
void line_thread_reset_stats(line_thread *e);
double line_thread_now(void);                          /* CLOCK_MONOTONIC seconds, as the thread sees it */
/* cffi:end */

#endif
