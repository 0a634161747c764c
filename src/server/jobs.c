/*
 * jobs.c: the blocking-work thread pool (see jobs.h).
 *
 * A job is on exactly one list at a time: `queue` (waiting for a thread),
 * `running` (a thread runs work), `ready` (work finished, its event made
 * active, waiting for base's loop to run deliver()).  deliver() unlinks it
 * and frees the event before calling done, so after done returns nothing of
 * the job is left.
 */
#include "server/jobs.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define JOBS_THREADS_MAX 64

typedef struct md_job md_job_t;
struct md_job {
    md_job_t *prev, *next;
    md_jobs_t *pool;
    struct event *ev; /* on the submitter's base: runs deliver() */
    md_job_fn work, done;
    void *arg;
};

typedef struct job_list {
    md_job_t *head, *tail;
} job_list_t;

struct md_jobs {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    job_list_t queue, running, ready;
    size_t pending; /* on any list */
    pthread_t threads[JOBS_THREADS_MAX];
    int nthreads;
};

static void list_push(job_list_t *l, md_job_t *j)
{
    j->next = NULL;
    j->prev = l->tail;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
}

static void list_unlink(job_list_t *l, md_job_t *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        l->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        l->tail = j->prev;
    j->prev = j->next = NULL;
}

static void *thread_main(void *arg)
{
    md_jobs_t *p = arg;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->queue.head == NULL)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop) break;
        md_job_t *j = p->queue.head;
        list_unlink(&p->queue, j);
        list_push(&p->running, j);
        pthread_mutex_unlock(&p->mu);
        j->work(j->arg);
        pthread_mutex_lock(&p->mu);
        list_unlink(&p->running, j);
        list_push(&p->ready, j);
        event_active(j->ev, EV_READ, 0);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* On the submitter's base thread. */
static void deliver(evutil_socket_t fd, short what, void *arg)
{
    md_job_t *j = arg;
    md_jobs_t *p = j->pool;
    md_job_fn done = j->done;
    void *darg = j->arg;

    (void)fd;
    (void)what;
    pthread_mutex_lock(&p->mu);
    list_unlink(&p->ready, j);
    p->pending--;
    pthread_mutex_unlock(&p->mu);
    event_free(j->ev);
    free(j);
    done(darg);
}

int md_jobs_new(int threads, md_jobs_t **out, md_err_t *err)
{
    md_jobs_t *p;

    *out = NULL;
    if (threads < 1 || threads > JOBS_THREADS_MAX)
        return md_err_set(err, MD_EINVAL, "jobs: %d threads (1..%d)", threads, JOBS_THREADS_MAX);
    p = calloc(1, sizeof(*p));
    if (p == NULL) return md_err_set(err, MD_ENOMEM, "jobs: out of memory");
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (int i = 0; i < threads; i++) {
        int e = pthread_create(&p->threads[i], NULL, thread_main, p);
        if (e != 0) {
            md_jobs_free(p);
            return md_err_set(err, MD_EIO, "jobs: cannot start a thread: %s", strerror(e));
        }
        p->nthreads++;
    }
    *out = p;
    return MD_OK;
}

int md_jobs_submit(md_jobs_t *p, struct event_base *base, size_t max_pending, md_job_fn work, md_job_fn done,
                   void *arg)
{
    md_job_t *j = calloc(1, sizeof(*j));
    if (j == NULL) return MD_ENOMEM;
    j->pool = p;
    j->work = work;
    j->done = done;
    j->arg = arg;
    j->ev = event_new(base, -1, 0, deliver, j);
    if (j->ev == NULL) {
        free(j);
        return MD_ENOMEM;
    }
    pthread_mutex_lock(&p->mu);
    if (p->stop || p->pending >= max_pending) {
        pthread_mutex_unlock(&p->mu);
        event_free(j->ev);
        free(j);
        return MD_ELIMIT;
    }
    list_push(&p->queue, j);
    p->pending++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return MD_OK;
}

size_t md_jobs_pending(md_jobs_t *p)
{
    size_t n;
    pthread_mutex_lock(&p->mu);
    n = p->pending;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void md_jobs_free(md_jobs_t *p)
{
    job_list_t *lists[2];

    if (p == NULL) return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    /* no thread is left: what is queued never ran, what is ready was never delivered */
    lists[0] = &p->queue;
    lists[1] = &p->ready;
    for (int l = 0; l < 2; l++) {
        while (lists[l]->head != NULL) {
            md_job_t *j = lists[l]->head;
            list_unlink(lists[l], j);
            event_free(j->ev);
            j->done(j->arg);
            free(j);
        }
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
