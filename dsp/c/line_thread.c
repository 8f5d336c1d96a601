/* RUSAGE_THREAD is Linux-specific. */
#define _GNU_SOURCE
#include "line_thread.h"
#include "rt_lock.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

struct line_thread {
    pthread_mutex_t lock;       /* guards the port list; held by the thread while it ticks */
    pthread_t thread;
    int running, stop;
    int64_t period_ns;
    line_port *ports[LINE_THREAD_MAX_PORTS];
    int n_ports;
    rtp_port *rtp_ports[LINE_THREAD_MAX_RTP_PORTS];
    int n_rtp_ports;
    line_thread_stats st;
};

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

double line_thread_now(void)
{
    return (double)monotonic_ns() / 1e9;
}

line_thread *line_thread_new(int64_t period_ns)
{
    if (period_ns < 100000 || period_ns > 20000000)   /* 0.1 .. 20 ms */
        return NULL;
    line_thread *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    rt_lock_init(&e->lock);
    e->period_ns = period_ns;
    return e;
}

void line_thread_free(line_thread *e)
{
    if (!e)
        return;
    line_thread_stop(e);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

int line_thread_attach(line_thread *e, line_port *p)
{
    if (!e || !p)
        return LINE_THREAD_ERR_ARGUMENT;
    pthread_mutex_lock(&e->lock);
    int rc = 0;
    for (int i = 0; i < e->n_ports; i++)
        if (e->ports[i] == p)
            goto out;
    if (e->n_ports == LINE_THREAD_MAX_PORTS)
        rc = LINE_THREAD_ERR_FULL;
    else
        e->ports[e->n_ports++] = p;
out:
    e->st.ports = e->n_ports;
    pthread_mutex_unlock(&e->lock);
    return rc;
}

int line_thread_detach(line_thread *e, line_port *p)
{
    if (!e || !p)
        return LINE_THREAD_ERR_ARGUMENT;
    pthread_mutex_lock(&e->lock);
    for (int i = 0; i < e->n_ports; i++)
        if (e->ports[i] == p) {
            memmove(&e->ports[i], &e->ports[i + 1], (size_t)(e->n_ports - i - 1) * sizeof e->ports[0]);
            e->n_ports--;
            break;
        }
    e->st.ports = e->n_ports;
    pthread_mutex_unlock(&e->lock);
    return 0;
}

int line_thread_attach_rtp(line_thread *e, rtp_port *p)
{
    if (!e || !p)
        return LINE_THREAD_ERR_ARGUMENT;
    pthread_mutex_lock(&e->lock);
    int rc = 0;
    for (int i = 0; i < e->n_rtp_ports; i++)
        if (e->rtp_ports[i] == p)
            goto out;
    if (e->n_rtp_ports == LINE_THREAD_MAX_RTP_PORTS)
        rc = LINE_THREAD_ERR_FULL;
    else
        e->rtp_ports[e->n_rtp_ports++] = p;
out:
    e->st.rtp_ports = e->n_rtp_ports;
    pthread_mutex_unlock(&e->lock);
    return rc;
}

int line_thread_detach_rtp(line_thread *e, rtp_port *p)
{
    if (!e || !p)
        return LINE_THREAD_ERR_ARGUMENT;
    pthread_mutex_lock(&e->lock);
    for (int i = 0; i < e->n_rtp_ports; i++)
        if (e->rtp_ports[i] == p) {
            memmove(&e->rtp_ports[i], &e->rtp_ports[i + 1], (size_t)(e->n_rtp_ports - i - 1) * sizeof e->rtp_ports[0]);
            e->n_rtp_ports--;
            break;
        }
    e->st.rtp_ports = e->n_rtp_ports;
    pthread_mutex_unlock(&e->lock);
    return 0;
}

typedef struct {
    long faults, voluntary, involuntary;
} thread_usage;

static thread_usage usage_now(void)
{
    struct rusage ru;
    thread_usage u = {0, 0, 0};
    if (getrusage(RUSAGE_THREAD, &ru) == 0) {
        u.faults = ru.ru_minflt + ru.ru_majflt;
        u.voluntary = ru.ru_nvcsw;
        u.involuntary = ru.ru_nivcsw;
    }
    return u;
}

static void *run(void *arg)
{
    line_thread *e = arg;
    int64_t next = monotonic_ns() + e->period_ns;
    int64_t previous_end = 0;
    for (;;) {
        struct timespec due = {(time_t)(next / 1000000000LL), (long)(next % 1000000000LL)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) == EINTR)
            ;
        int64_t start = monotonic_ns();
        thread_usage woke = usage_now();
        pthread_mutex_lock(&e->lock);
        if (e->stop) {
            pthread_mutex_unlock(&e->lock);
            break;
        }
        int64_t late = start - next;
        if (late > e->period_ns) {
            e->st.late_ticks++;
            if (previous_end > next + e->period_ns)
                e->st.late_after_overrun++;
            else
                e->st.late_wakeups++;
        }
        if (late > 0 && (uint64_t)late > e->st.max_late_ns)
            e->st.max_late_ns = (uint64_t)late;
        double now = (double)start / 1e9;
        for (int i = 0; i < e->n_ports; i++)
            line_port_advance(e->ports[i], now);
        for (int i = 0; i < e->n_rtp_ports; i++)
            rtp_port_advance(e->rtp_ports[i], now);
        int64_t end = monotonic_ns();
        int64_t work = end - start;
        thread_usage worked = usage_now();
        /* `woke` was read after the sleep's own switch: a voluntary switch since is a wait inside
         * the tick (the lock, a port's lock, a fault's I/O). */
        int faulted = worked.faults > woke.faults;
        int blocked = worked.voluntary > woke.voluntary;
        int preempted = worked.involuntary > woke.involuntary;
        e->st.ticks_faulted += (uint64_t)faulted;
        e->st.ticks_blocked += (uint64_t)blocked;
        e->st.ticks_preempted += (uint64_t)preempted;
        if (work > e->period_ns) {
            e->st.overruns_faulted += (uint64_t)faulted;
            e->st.overruns_blocked += (uint64_t)blocked;
            e->st.overruns_preempted += (uint64_t)preempted;
        }
        e->st.ticks++;
        e->st.total_work_ns += (uint64_t)work;
        if ((uint64_t)work > e->st.max_work_ns)
            e->st.max_work_ns = (uint64_t)work;
        pthread_mutex_unlock(&e->lock);
        previous_end = end;
        /* Keep to the grid; after a long delay skip ahead: pacing catches up from `now`. */
        next += e->period_ns;
        if (next <= start)
            next = start + e->period_ns;
    }
    return NULL;
}

int line_thread_start(line_thread *e, int want_realtime)
{
    if (!e)
        return LINE_THREAD_ERR_ARGUMENT;
    if (e->running)
        return 0;
    e->stop = 0;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    int realtime = 0;
    if (want_realtime) {
        struct sched_param sp = {.sched_priority = 10};
        if (pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED) == 0 &&
            pthread_attr_setschedpolicy(&attr, SCHED_FIFO) == 0 &&
            pthread_attr_setschedparam(&attr, &sp) == 0 &&
            pthread_create(&e->thread, &attr, run, e) == 0)
            realtime = 1;
    }
    if (!realtime) {
        pthread_attr_destroy(&attr);
        pthread_attr_init(&attr);
        if (pthread_create(&e->thread, &attr, run, e) != 0) {
            pthread_attr_destroy(&attr);
            return LINE_THREAD_ERR_THREAD;
        }
    }
    pthread_attr_destroy(&attr);
    e->running = 1;
    e->st.running = 1;
    e->st.realtime_priority = realtime;
    return 0;
}

void line_thread_stop(line_thread *e)
{
    if (!e || !e->running)
        return;
    pthread_mutex_lock(&e->lock);
    e->stop = 1;
    pthread_mutex_unlock(&e->lock);
    pthread_join(e->thread, NULL);
    e->running = 0;
    e->st.running = 0;
}

void line_thread_get_stats(line_thread *e, line_thread_stats *out)
{
    pthread_mutex_lock(&e->lock);
    *out = e->st;
    pthread_mutex_unlock(&e->lock);
}

void line_thread_reset_stats(line_thread *e)
{
    pthread_mutex_lock(&e->lock);
    int running = e->st.running, realtime = e->st.realtime_priority, ports = e->st.ports, rtp_ports = e->st.rtp_ports;
    memset(&e->st, 0, sizeof e->st);
    e->st.running = running;
    e->st.realtime_priority = realtime;
    e->st.ports = ports;
    e->st.rtp_ports = rtp_ports;
    pthread_mutex_unlock(&e->lock);
}
