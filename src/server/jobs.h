/*
 * jobs.h: a small thread pool for work that may block (hashing an
 * executable during attestation), with the result delivered back to the
 * event loop that asked for it.
 *
 * md_jobs_submit(pool, base, work, done, arg): work(arg) runs on a pool
 * thread; then done(arg) runs on base's thread, from its loop.  done is
 * called exactly once for every accepted job, which is how arg gets freed:
 * a caller that no longer wants the result (its connection closed) marks
 * arg itself and lets done discard it; there is no cancellation here, so
 * there is no race between a finishing job and a cancel.
 *
 * Shutdown: md_jobs_free() is called after every base's loop has stopped and
 * before any base is freed.  It stops the threads (a running work() is
 * waited for, queued ones never start) and calls done(arg) on the calling
 * thread for every job not yet delivered, so nothing leaks; a done must
 * therefore not assume its base's thread when its caller is already gone.
 *
 * Threads: submit from any base thread; the pool's state is under one
 * mutex; delivery uses event_active(), which libevent makes thread-safe once
 * evthread_use_pthreads() ran (the server does that before making bases).
 */
#ifndef MD_SERVER_JOBS_H
#define MD_SERVER_JOBS_H

#include <stddef.h>

#include <event2/event.h>

#include "core/core.h"

typedef struct md_jobs md_jobs_t;
typedef void (*md_job_fn)(void *arg);

/* Start `threads` threads (1..64).  MD_OK, MD_EINVAL, or MD_ENOMEM/MD_EIO with err set. */
int md_jobs_new(int threads, md_jobs_t **out, md_err_t *err) MD_WUR;

/*
 * Queue a job.  MD_OK: done(arg) will be called.  MD_ELIMIT: `max_pending`
 * jobs are already queued or running (nothing queued; the caller answers
 * 503).  MD_ENOMEM.  On failure neither work nor done is ever called.
 */
int md_jobs_submit(md_jobs_t *pool, struct event_base *base, size_t max_pending, md_job_fn work,
                   md_job_fn done, void *arg) MD_WUR;

/* Jobs queued or running, and not yet delivered (for tests and metrics). */
size_t md_jobs_pending(md_jobs_t *pool);

/* See "Shutdown" above.  NULL is a no-op. */
void md_jobs_free(md_jobs_t *pool);

#endif
