/* Locks shared between the line thread (SCHED_FIFO) and the control plane (an ordinary thread):
 * with priority inheritance, a control-plane thread holding one is raised to the line thread's
 * priority while the line thread waits, so a busy machine cannot park the line behind it. */
#ifndef PRIBOX_RT_LOCK_H
#define PRIBOX_RT_LOCK_H

#include <pthread.h>

static inline void rt_lock_init(pthread_mutex_t *lock)
{
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    if (pthread_mutexattr_setprotocol(&attr, PTHREAD_PRIO_INHERIT) != 0)
        pthread_mutexattr_setprotocol(&attr, PTHREAD_PRIO_NONE);
    pthread_mutex_init(lock, &attr);
    pthread_mutexattr_destroy(&attr);
}

#endif
