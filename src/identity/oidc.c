/*
 * oidc.c: the OIDC federation registry — configured issuers, their key
 * caches, the fetch thread, and verification of external tokens.
 *
 * Owns: per-issuer state (current key set, fetch in flight, rate limit,
 * waiters) and one fetch thread per registry with its own event_base.
 *
 * Invariants:
 *   - the unverified iss of a token is used only to choose an issuer; the
 *     token is then verified against that issuer's keys, iss and audience;
 *   - per issuer at most one fetch is in flight, and a fetch starts at most
 *     once per min_refresh_interval (caller time), except for prefetch;
 *   - a key set (keyset_t) is immutable once published and freed by its last
 *     reference, so verification holds the issuer mutex only to take one;
 *   - a waiter is woken exactly once (or cancelled), on its own event_base's
 *     thread; the fetch thread never runs caller code;
 *   - lock order: an issuer's mu, then (inside event_active) a base's lock;
 *     the registry's fmu is never held together with an issuer's mu.
 */
#include "identity/oidc.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "core/log.h"
#include "identity/oidc_int.h"

#define DEFAULT_TTL_S 3600
#define WAIT_MARGIN_MS 2000

typedef enum key_source {
    SRC_FILE,
    SRC_URI,
    SRC_DISCOVERY,
} key_source_t;

/* One immutable set of an issuer's keys, shared by reference. */
typedef struct keyset {
    atomic_int refs;
    md_jwks_t jwks;
    int64_t fetched_at; /* caller time; 0 for a file */
    int64_t expires_at; /* due for refresh; INT64_MAX for a file */
} keyset_t;

struct md_oidc_wait {
    md_oidc_registry_t *reg; /* a reference */
    struct issuer *iss;      /* borrowed from reg */
    struct event *ev;        /* owned: activated by the fetch thread, runs on the caller's base */
    char *token;             /* owned copy */
    size_t token_len;
    int64_t now;
    md_oidc_done_fn done;
    void *arg;
    bool notified; /* under iss->mu: unlinked and activated */
    struct md_oidc_wait *prev, *next;
};

typedef struct issuer {
    /* configuration: immutable, strings in the registry's arena */
    size_t index;
    const char *issuer, *audience, *key_url, *jwks_file, *ca_file;
    key_source_t source;
    unsigned algs;
    int64_t max_age_s;
    md_oidc_tmpl_t *spiffe; /* owned */
    md_oidc_tmpl_t *owner;  /* owned */
    md_conf_map_t required; /* registry arena */
    SSL_CTX *ssl_ctx;       /* owned; remote sources only */

    /* state, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* broadcast when a fetch ends */
    bool sync_ready;
    keyset_t *keys;
    bool fetching;
    uint64_t generation;  /* fetches ended */
    int64_t last_attempt; /* caller time the last fetch started; 0: never */
    uint64_t fetches, fetch_errors, limited;
    int last_error;
    char last_error_msg[256];
    md_oidc_wait_t *waiters;
} issuer_t;

typedef struct fetch_job {
    md_oidc_registry_t *reg;
    issuer_t *iss;
    int64_t now;         /* caller time that started it */
    int64_t deadline_ms; /* monotonic */
    bool discovery;      /* fetching the discovery document (else the JWKS) */
    md_oidc_http_req_t *req;
    struct fetch_job *prev, *next;
} fetch_job_t;

struct md_oidc_registry {
    atomic_int refs;
    md_arena_t arena;
    issuer_t *issuers; /* arena */
    size_t n;
    int64_t fetch_timeout_ms, cache_min_s, cache_max_s, min_interval_s;

    /* the fetch thread */
    pthread_mutex_t fmu;
    bool thread_started;
    pthread_t thread;
    struct event_base *fbase;
    struct event *kick, *stop;
    fetch_job_t *queue;   /* under fmu: jobs to start */
    fetch_job_t *running; /* fetch thread only */
};

/* ---------------------------------------------------------------- small helpers */

const char *md_oidc_err_name(int code)
{
    switch (code) {
    case MD_OIDC_PENDING: return "MD_OIDC_PENDING";
    case MD_OIDC_UNKNOWN_ISSUER: return "MD_OIDC_UNKNOWN_ISSUER";
    case MD_OIDC_KEYS_UNAVAILABLE: return "MD_OIDC_KEYS_UNAVAILABLE";
    case MD_OIDC_TOO_OLD: return "MD_OIDC_TOO_OLD";
    case MD_OIDC_CLAIM_MISSING: return "MD_OIDC_CLAIM_MISSING";
    case MD_OIDC_CLAIM_MISMATCH: return "MD_OIDC_CLAIM_MISMATCH";
    case MD_OIDC_UNSAFE_CLAIM: return "MD_OIDC_UNSAFE_CLAIM";
    case MD_OIDC_BAD_SPIFFE_ID: return "MD_OIDC_BAD_SPIFFE_ID";
    case MD_OIDC_FETCH_FAILED: return "MD_OIDC_FETCH_FAILED";
    case MD_OIDC_BAD_DOCUMENT: return "MD_OIDC_BAD_DOCUMENT";
    case MD_OIDC_URL_REFUSED: return "MD_OIDC_URL_REFUSED";
    }
    return md_jose_err_name(code);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *arena_strdup(md_arena_t *a, const char *s)
{
    return s ? md_arena_memdup(a, s, strlen(s)) : NULL;
}

static keyset_t *keyset_ref(keyset_t *k)
{
    if (k) atomic_fetch_add(&k->refs, 1);
    return k;
}

static void keyset_unref(keyset_t *k)
{
    if (k == NULL || atomic_fetch_sub(&k->refs, 1) != 1) return;
    md_jwks_free(&k->jwks);
    free(k);
}

void md_oidc_result_free(md_oidc_result_t *r)
{
    if (r == NULL) return;
    free(r->spiffe_id);
    free(r->owner);
    free(r->issuer);
    free(r->subject);
    free(r->kid);
    json_decref(r->claims);
    memset(r, 0, sizeof(*r));
}

/* ---------------------------------------------------------------- verification against a key set */

static int verify_with(const issuer_t *iss, const keyset_t *k, md_str_t token, int64_t now,
                       md_oidc_result_t *out, md_err_t *err)
{
    md_jwt_verify_opts_t o = {0};
    md_jwt_t jwt = {0};
    md_buf_t id, owner;
    md_oidc_result_t r = {0};
    int rc;

    md_buf_init(&id);
    md_buf_init(&owner);
    o.now = now;
    o.skew = MD_JWT_MAX_SKEW;
    o.iss = iss->issuer;
    o.aud = iss->audience;
    o.algs = iss->algs;
    o.require_iat = true;
    o.allow_high_s = true; /* other issuers' ECDSA signers do not normalise s (npm jose, Go, Java) */
    rc = md_jwt_verify((const md_jwk_t *const *)k->jwks.keys, k->jwks.n, token, &o, &jwt, err);
    if (rc != MD_OK) goto out;
    if (now - jwt.iat > iss->max_age_s) {
        rc = md_err_set(err, MD_OIDC_TOO_OLD,
                        "the token was issued %lld s ago; this issuer's max_age is %lld s",
                        (long long)(now - jwt.iat), (long long)iss->max_age_s);
        goto out;
    }
    if ((rc = md_oidc_claims_check(&iss->required, jwt.claims, err)) != MD_OK) goto out;
    if ((rc = md_oidc_tmpl_render(iss->spiffe, jwt.claims, &id, err)) != MD_OK) goto out;
    if ((rc = md_oidc_tmpl_render(iss->owner, jwt.claims, &owner, err)) != MD_OK) goto out;
    {
        const json_t *sub = json_object_get(jwt.claims, "sub");
        const char *kid = md_jwk_kid(jwt.key);
        r.spiffe_id = strdup(id.p);
        r.owner = strdup(owner.p);
        r.issuer = strdup(iss->issuer);
        r.subject = json_is_string(sub) ? strdup(json_string_value(sub)) : NULL;
        r.kid = kid ? strdup(kid) : NULL;
        r.claims = json_incref(jwt.claims);
        r.alg = jwt.alg;
        r.iat = jwt.iat;
        r.exp = jwt.exp;
        r.issuer_index = iss->index;
        if (!r.spiffe_id || !r.owner || !r.issuer || (json_is_string(sub) && !r.subject) || (kid && !r.kid)) {
            md_oidc_result_free(&r);
            rc = md_err_set(err, MD_ENOMEM, "out of memory");
            goto out;
        }
    }
    *out = r;
out:
    md_jwt_free(&jwt);
    md_buf_free(&id);
    md_buf_free(&owner);
    return rc;
}

/*
 * The unverified iss of token, only to choose the issuer.  Returns the issuer
 * or NULL with a refusal.  Shape errors get the codes md_jwt_verify() would give.
 */
static issuer_t *pick_issuer(md_oidc_registry_t *reg, md_str_t token, int *code, md_err_t *err)
{
    const char *dot1, *dot2;
    unsigned char *payload = NULL;
    size_t plen = 0;
    json_t *claims = NULL;
    json_error_t je;
    const json_t *iss;
    issuer_t *found = NULL;

    if (token.n > MD_JWT_MAX_LEN_DEFAULT) {
        *code =
            md_err_set(err, MD_JOSE_TOO_LARGE, "the token is larger than %u bytes", MD_JWT_MAX_LEN_DEFAULT);
        return NULL;
    }
    dot1 = token.n ? memchr(token.p, '.', token.n) : NULL;
    dot2 = dot1 ? memchr(dot1 + 1, '.', token.n - (size_t)(dot1 + 1 - token.p)) : NULL;
    if (dot2 == NULL || memchr(dot2 + 1, '.', token.n - (size_t)(dot2 + 1 - token.p)) != NULL) {
        *code =
            md_err_set(err, MD_JOSE_MALFORMED, "the token is not a compact JWS (three dot-separated parts)");
        return NULL;
    }
    if (md_b64url_decode((md_str_t){dot1 + 1, (size_t)(dot2 - dot1 - 1)}, &payload, &plen) != MD_OK) {
        *code = md_err_set(err, MD_JOSE_BAD_ENCODING, "the token's payload is not base64url");
        return NULL;
    }
    claims = json_loadb((const char *)payload, plen, JSON_REJECT_DUPLICATES, &je);
    free(payload);
    if (!json_is_object(claims)) {
        *code = md_err_set(err, MD_JOSE_MALFORMED, "the token's payload is not a JSON object");
        goto out;
    }
    iss = json_object_get(claims, "iss");
    if (!json_is_string(iss)) {
        *code = md_err_set(err, MD_JOSE_BAD_ISSUER, "the token has no iss claim (a string)");
        goto out;
    }
    for (size_t i = 0; i < reg->n && found == NULL; i++)
        if (strlen(reg->issuers[i].issuer) == json_string_length(iss) &&
            memcmp(reg->issuers[i].issuer, json_string_value(iss), json_string_length(iss)) == 0)
            found = &reg->issuers[i];
    if (found == NULL)
        *code =
            md_err_set(err, MD_OIDC_UNKNOWN_ISSUER, "the token's issuer is not configured for federation");
out:
    json_decref(claims);
    return found;
}

/* ---------------------------------------------------------------- the fetch thread */

static void job_start(fetch_job_t *job);

static void notify_waiters(issuer_t *iss)
{
    md_oidc_wait_t *w = iss->waiters;
    iss->waiters = NULL;
    while (w != NULL) {
        md_oidc_wait_t *next = w->next;
        w->prev = w->next = NULL;
        w->notified = true;
        event_active(w->ev, EV_TIMEOUT, 1); /* thread-safe: the base was made after evthread_use_pthreads() */
        w = next;
    }
    pthread_cond_broadcast(&iss->cv);
}

/* A fetch ended: publish the keys (or the error) and wake everyone who waits for it. */
static void publish(issuer_t *iss, keyset_t *keys, int code, const char *msg)
{
    keyset_t *old = NULL;

    if (code != MD_OK)
        md_log_warn("federation: cannot fetch the keys of %s: %s", iss->issuer, msg);
    else
        md_log_info("federation: %zu key%s of %s, kept until +%llds", keys->jwks.n,
                    keys->jwks.n == 1 ? "" : "s", iss->issuer,
                    (long long)(keys->expires_at - keys->fetched_at));
    pthread_mutex_lock(&iss->mu);
    if (code == MD_OK) {
        old = iss->keys;
        iss->keys = keys;
        iss->last_error = MD_OK;
        iss->last_error_msg[0] = '\0';
    } else {
        iss->fetch_errors++;
        iss->last_error = code;
        snprintf(iss->last_error_msg, sizeof(iss->last_error_msg), "%s", msg);
    }
    iss->fetching = false;
    iss->generation++;
    notify_waiters(iss);
    pthread_mutex_unlock(&iss->mu);
    keyset_unref(old);
}

/* A job ended: publish, then unlink (when running) and free it.  Fetch thread, or the
 * caller's thread when the job could not be queued. */
static void job_end(fetch_job_t *job, keyset_t *keys, int code, const char *msg)
{
    md_oidc_registry_t *reg = job->reg;

    publish(job->iss, keys, code, msg);
    if (job->prev) job->prev->next = job->next;
    if (job->next) job->next->prev = job->prev;
    if (reg->running == job) reg->running = job->next;
    free(job);
}

static int64_t job_timeout(const fetch_job_t *job)
{
    int64_t left = job->deadline_ms - mono_ms();
    return left < 1 ? 1 : left;
}

static void job_got(void *arg, int rc, md_oidc_http_resp_t *resp, const md_err_t *err)
{
    fetch_job_t *job = arg;
    issuer_t *iss = job->iss;
    md_oidc_registry_t *reg = job->reg;
    char msg[600];

    job->req = NULL;
    if (rc != MD_OK) {
        job_end(job, NULL, rc, err ? err->msg : "fetch failed");
        return;
    }
    if (job->discovery) {
        json_error_t je;
        json_t *doc = json_loadb(resp->body, resp->len, JSON_REJECT_DUPLICATES, &je);
        const json_t *di = json_object_get(doc, "issuer"), *ju = json_object_get(doc, "jwks_uri");
        md_oidc_url_t u;
        md_err_t e = {0};
        int code = MD_OIDC_BAD_DOCUMENT;

        if (!json_is_object(doc)) {
            snprintf(msg, sizeof(msg), "the discovery document is not a JSON object");
        } else if (!json_is_string(di) || strcmp(json_string_value(di), iss->issuer) != 0 ||
                   json_string_length(di) != strlen(iss->issuer)) {
            snprintf(msg, sizeof(msg),
                     "the discovery document names another issuer (OIDC Discovery 1.0 section 4.3)");
        } else if (!json_is_string(ju)) {
            snprintf(msg, sizeof(msg), "the discovery document has no jwks_uri");
        } else if ((code = md_oidc_url_parse(json_string_value(ju), &u, msg, sizeof(msg))) != MD_OK) {
            char why[400];
            snprintf(why, sizeof(why), "%.390s", msg);
            snprintf(msg, sizeof(msg), "the discovery document's jwks_uri is refused: %s", why);
        } else {
            md_oidc_http_opts_t o = {iss->ssl_ctx, job_timeout(job), MD_OIDC_DOC_MAX};
            job->discovery = false;
            code = md_oidc_http_get(reg->fbase, &o, json_string_value(ju), job_got, job, &job->req, &e);
            snprintf(msg, sizeof(msg), "%.500s", e.msg);
        }
        json_decref(doc);
        if (code != MD_OK) job_end(job, NULL, code, msg);
        return;
    }
    /* the JWKS */
    keyset_t *k = calloc(1, sizeof(*k));
    md_err_t e = {0};
    size_t skipped = 0;
    if (k == NULL) {
        job_end(job, NULL, MD_ENOMEM, "out of memory");
        return;
    }
    atomic_init(&k->refs, 1);
    rc = md_jwks_parse((md_str_t){resp->body, resp->len}, &k->jwks, &skipped, &e);
    if (rc != MD_OK || k->jwks.n == 0) {
        snprintf(msg, sizeof(msg), "the JWKS is not usable: %.500s",
                 rc != MD_OK ? e.msg : "it has no key we can verify with");
        md_jwks_free(&k->jwks);
        free(k);
        job_end(job, NULL, rc == MD_ENOMEM ? MD_ENOMEM : MD_OIDC_BAD_DOCUMENT, msg);
        return;
    }
    int64_t ttl = resp->max_age >= 0 ? resp->max_age : DEFAULT_TTL_S;
    if (ttl < reg->cache_min_s) ttl = reg->cache_min_s;
    if (ttl > reg->cache_max_s) ttl = reg->cache_max_s;
    k->fetched_at = job->now;
    k->expires_at = job->now + ttl;
    job_end(job, k, MD_OK, "");
}

static void job_start(fetch_job_t *job)
{
    md_oidc_registry_t *reg = job->reg;
    issuer_t *iss = job->iss;
    md_oidc_http_opts_t o = {iss->ssl_ctx, reg->fetch_timeout_ms, MD_OIDC_DOC_MAX};
    md_err_t e = {0};
    char url[MD_OIDC_URL_MAX + 64];
    int rc;

    job->deadline_ms = mono_ms() + reg->fetch_timeout_ms;
    job->discovery = iss->source == SRC_DISCOVERY;
    snprintf(url, sizeof(url), "%s", iss->key_url);
    job->next = reg->running;
    if (reg->running) reg->running->prev = job;
    reg->running = job;
    rc = md_oidc_http_get(reg->fbase, &o, url, job_got, job, &job->req, &e);
    if (rc != MD_OK) job_end(job, NULL, rc, e.msg);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    md_oidc_registry_t *reg = arg;
    fetch_job_t *jobs;

    pthread_mutex_lock(&reg->fmu);
    jobs = reg->queue;
    reg->queue = NULL;
    pthread_mutex_unlock(&reg->fmu);
    while (jobs != NULL) {
        fetch_job_t *next = jobs->next;
        jobs->prev = jobs->next = NULL;
        job_start(jobs);
        jobs = next;
    }
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    md_oidc_registry_t *reg = arg;

    on_kick(fd, what, arg); /* queued jobs start and are cancelled below like the others */
    while (reg->running != NULL) {
        fetch_job_t *job = reg->running;
        if (job->req) md_oidc_http_cancel(job->req);
        job->req = NULL;
        job_end(job, NULL, MD_OIDC_FETCH_FAILED, "the registry is shutting down");
    }
    event_base_loopbreak(reg->fbase);
}

static void *fetch_thread(void *arg)
{
    md_oidc_registry_t *reg = arg;
    event_base_loop(reg->fbase, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

/* Under fmu. */
static int start_thread(md_oidc_registry_t *reg, md_err_t *err)
{
    sigset_t all, old;
    int e;

    if (reg->thread_started) return MD_OK;
    if (reg->fbase == NULL) {
        if ((reg->fbase = event_base_new()) == NULL)
            return md_err_set(err, MD_ENOMEM, "cannot create an event loop");
        reg->kick = event_new(reg->fbase, -1, 0, on_kick, reg);
        reg->stop = event_new(reg->fbase, -1, 0, on_stop, reg);
        if (reg->kick == NULL || reg->stop == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
    }
    /* the thread takes no signals: they belong to the daemon's main thread */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    e = pthread_create(&reg->thread, NULL, fetch_thread, reg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0) return md_err_set(err, MD_EIO, "cannot start the federation fetch thread: %s", strerror(e));
    reg->thread_started = true;
    return MD_OK;
}

/*
 * Start a fetch for iss, which the caller has marked fetching (under iss->mu,
 * released now).  On failure to queue, the fetch ends at once as failed, so
 * waiters are woken and nobody waits for a fetch that never runs.
 */
static void queue_fetch(md_oidc_registry_t *reg, issuer_t *iss, int64_t now)
{
    fetch_job_t *job = calloc(1, sizeof(*job));
    md_err_t e = {0};

    if (job == NULL) {
        publish(iss, NULL, MD_ENOMEM, "out of memory");
        return;
    }
    job->reg = reg;
    job->iss = iss;
    job->now = now;
    pthread_mutex_lock(&reg->fmu);
    if (start_thread(reg, &e) != MD_OK) {
        pthread_mutex_unlock(&reg->fmu);
        job_end(job, NULL, e.code, e.msg);
        return;
    }
    job->next = reg->queue;
    reg->queue = job;
    pthread_mutex_unlock(&reg->fmu);
    event_active(reg->kick, EV_TIMEOUT, 1);
}

/* ---------------------------------------------------------------- deciding: use, wait or refuse */

/* Under iss->mu. */
static bool rate_ok(const md_oidc_registry_t *reg, const issuer_t *iss, int64_t now)
{
    return iss->last_attempt == 0 || now < iss->last_attempt ||
           now - iss->last_attempt >= reg->min_interval_s;
}

/* Under iss->mu: mark a fetch as started (the caller queues it after unlocking). */
static void begin_fetch(issuer_t *iss, int64_t now)
{
    iss->fetching = true;
    iss->last_attempt = now;
    iss->fetches++;
}

/*
 * Under iss->mu: the refusal when new keys are needed but no fetch may start
 * (the rate limit, when may_fetch) or none helped (after the wait).
 */
static int refuse(const md_oidc_registry_t *reg, issuer_t *iss, int64_t now, bool want_refresh,
                  bool may_fetch, md_err_t *err)
{
    long long next = (long long)(iss->last_attempt + reg->min_interval_s - now);
    const char *why = iss->last_error_msg[0] ? iss->last_error_msg : "not fetched yet";

    if (next < 0) next = 0;
    if (may_fetch) iss->limited++;
    if (want_refresh && may_fetch)
        return md_err_set(
            err, MD_JOSE_UNKNOWN_KID,
            "no key of the issuer has the token's kid (its keys were fetched recently; the next "
            "refresh is allowed in %lld s)",
            next);
    if (want_refresh)
        return md_err_set(err, MD_JOSE_UNKNOWN_KID,
                          "no key of the issuer has the token's kid, even after refreshing its keys%s%s",
                          iss->last_error ? ": " : "", iss->last_error ? why : "");
    if (iss->fetching)
        return md_err_set(err, MD_OIDC_KEYS_UNAVAILABLE, "the issuer's keys are still being fetched");
    if (may_fetch)
        return md_err_set(err, MD_OIDC_KEYS_UNAVAILABLE,
                          "the issuer's keys are not available: %s (next attempt allowed in %lld s)", why,
                          next);
    return md_err_set(err, MD_OIDC_KEYS_UNAVAILABLE, "the issuer's keys are not available: %s", why);
}

/*
 * One attempt at verifying with what is cached.  Returns a final code, or
 * MD_OIDC_PENDING when a fetch must end first (*gen: the generation to wait
 * past).  may_fetch false: after a wait — never wait again, refuse instead.
 * err is written only for a final refusal.
 */
static int attempt(md_oidc_registry_t *reg, issuer_t *iss, md_str_t token, int64_t now, bool may_fetch,
                   uint64_t *gen, md_oidc_result_t *out, md_err_t *err)
{
    keyset_t *k = NULL, *tried = NULL;
    bool want_refresh = false;
    int rc = MD_EINVAL;

    for (int round = 0; round < 3; round++) {
        bool start = false, background = false;
        md_err_t e = {0};

        pthread_mutex_lock(&iss->mu);
        if (iss->source == SRC_FILE) {
            k = keyset_ref(iss->keys);
        } else if (want_refresh && iss->keys != tried) {
            k = keyset_ref(iss->keys); /* another thread refreshed meanwhile: try the new set */
        } else {
            keyset_t *cur = iss->keys;
            bool usable = cur != NULL && now < cur->fetched_at + reg->cache_max_s;
            if (!want_refresh && usable) {
                if (now >= cur->expires_at && !iss->fetching && rate_ok(reg, iss, now)) {
                    begin_fetch(iss, now); /* due: refresh in the background, serve what we have */
                    background = true;
                }
                k = keyset_ref(cur);
            } else if (may_fetch && (iss->fetching || rate_ok(reg, iss, now))) {
                if (!iss->fetching) {
                    begin_fetch(iss, now);
                    start = true;
                }
                *gen = iss->generation;
                pthread_mutex_unlock(&iss->mu);
                if (start) queue_fetch(reg, iss, now);
                rc = MD_OIDC_PENDING;
                goto out;
            } else {
                rc = refuse(reg, iss, now, want_refresh, may_fetch, err);
                pthread_mutex_unlock(&iss->mu);
                goto out;
            }
        }
        pthread_mutex_unlock(&iss->mu);
        if (background) queue_fetch(reg, iss, now);
        if (k == NULL) { /* a file issuer always has keys; defensive */
            rc = md_err_set(err, MD_OIDC_KEYS_UNAVAILABLE, "the issuer has no keys");
            goto out;
        }
        rc = verify_with(iss, k, token, now, out, &e);
        keyset_unref(tried);
        tried = k;
        k = NULL;
        if (rc == MD_JOSE_UNKNOWN_KID && iss->source != SRC_FILE) {
            want_refresh = true;
            continue;
        }
        if (rc != MD_OK) md_err_set(err, e.code, "%s", e.msg);
        goto out;
    }
    rc = md_err_set(err, MD_JOSE_UNKNOWN_KID, "no key of the issuer has the token's kid");
out:
    keyset_unref(k);
    keyset_unref(tried);
    return rc;
}

/* Wait (blocking) until iss's generation passes gen, or the fetch deadline and a margin pass. */
static void wait_fetch(md_oidc_registry_t *reg, issuer_t *iss, uint64_t gen)
{
    struct timespec ts;
    int64_t ms = reg->fetch_timeout_ms * 2 + WAIT_MARGIN_MS; /* discovery and JWKS, each bounded */

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&iss->mu);
    while (iss->generation == gen)
        if (pthread_cond_timedwait(&iss->cv, &iss->mu, &ts) == ETIMEDOUT) break;
    pthread_mutex_unlock(&iss->mu);
}

int md_oidc_verify(md_oidc_registry_t *reg, md_str_t token, int64_t now, md_oidc_result_t *out, md_err_t *err)
{
    issuer_t *iss;
    uint64_t gen = 0;
    int rc;

    if (now <= 0) return md_err_set(err, MD_EINVAL, "now must be > 0");
    if ((iss = pick_issuer(reg, token, &rc, err)) == NULL) return rc;
    rc = attempt(reg, iss, token, now, true, &gen, out, err);
    if (rc != MD_OIDC_PENDING) return rc;
    wait_fetch(reg, iss, gen);
    return attempt(reg, iss, token, now, false, &gen, out, err);
}

/* ---------------------------------------------------------------- async waiters */

static void wait_free(md_oidc_wait_t *w)
{
    if (w->ev) event_free(w->ev);
    free(w->token);
    md_oidc_registry_unref(w->reg);
    free(w);
}

static void on_waiter(evutil_socket_t fd, short what, void *arg)
{
    md_oidc_wait_t *w = arg;
    md_oidc_result_t r = {0};
    md_err_t e = {0};
    uint64_t gen = 0;
    int rc = attempt(w->reg, w->iss, (md_str_t){w->token, w->token_len}, w->now, false, &gen, &r, &e);

    w->done(w->arg, rc, rc == MD_OK ? &r : NULL, &e);
    md_oidc_result_free(&r);
    wait_free(w);
}

int md_oidc_verify_start(md_oidc_registry_t *reg, struct event_base *base, md_str_t token, int64_t now,
                         md_oidc_done_fn done, void *arg, md_oidc_wait_t **wait, md_oidc_result_t *out,
                         md_err_t *err)
{
    issuer_t *iss;
    md_oidc_wait_t *w = NULL;
    uint64_t gen = 0;
    int rc;

    *wait = NULL;
    if (now <= 0) return md_err_set(err, MD_EINVAL, "now must be > 0");
    if ((iss = pick_issuer(reg, token, &rc, err)) == NULL) return rc;
    rc = attempt(reg, iss, token, now, true, &gen, out, err);
    if (rc != MD_OIDC_PENDING) return rc;
    if ((w = calloc(1, sizeof(*w))) == NULL || (w->token = malloc(token.n + 1)) == NULL ||
        (w->ev = event_new(base, -1, 0, on_waiter, w)) == NULL) {
        if (w) {
            free(w->token);
            free(w);
        }
        return md_err_set(err, MD_ENOMEM, "out of memory");
    }
    memcpy(w->token, token.p, token.n);
    w->token[token.n] = '\0';
    w->token_len = token.n;
    w->now = now;
    w->done = done;
    w->arg = arg;
    w->iss = iss;
    w->reg = md_oidc_registry_ref(reg);
    pthread_mutex_lock(&iss->mu);
    if (iss->generation != gen) { /* the fetch ended meanwhile: decide now */
        pthread_mutex_unlock(&iss->mu);
        wait_free(w);
        return attempt(reg, iss, token, now, false, &gen, out, err);
    }
    w->next = iss->waiters;
    if (iss->waiters) iss->waiters->prev = w;
    iss->waiters = w;
    pthread_mutex_unlock(&iss->mu);
    *wait = w;
    return MD_OIDC_PENDING;
}

void md_oidc_wait_cancel(md_oidc_wait_t *w)
{
    issuer_t *iss;

    if (w == NULL) return;
    iss = w->iss;
    pthread_mutex_lock(&iss->mu);
    if (!w->notified) {
        if (w->prev) w->prev->next = w->next;
        if (w->next) w->next->prev = w->prev;
        if (iss->waiters == w) iss->waiters = w->next;
    }
    pthread_mutex_unlock(&iss->mu);
    wait_free(w); /* event_free also removes it from the active queue when it was notified */
}

/* ---------------------------------------------------------------- prefetch and stats */

int md_oidc_registry_prefetch(md_oidc_registry_t *reg, int64_t now, md_err_t *err)
{
    uint64_t *gens = calloc(reg->n ? reg->n : 1, sizeof(*gens));
    bool *waiting = calloc(reg->n ? reg->n : 1, sizeof(*waiting));
    int rc = MD_OK;

    if (gens == NULL || waiting == NULL) {
        free(gens);
        free(waiting);
        return md_err_set(err, MD_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < reg->n; i++) {
        issuer_t *iss = &reg->issuers[i];
        bool start = false;
        if (iss->source == SRC_FILE) continue;
        pthread_mutex_lock(&iss->mu);
        if (iss->keys == NULL || now >= iss->keys->expires_at || iss->fetching) {
            if (!iss->fetching) {
                begin_fetch(iss, now);
                start = true;
            }
            gens[i] = iss->generation;
            waiting[i] = true;
        }
        pthread_mutex_unlock(&iss->mu);
        if (start) queue_fetch(reg, iss, now);
    }
    for (size_t i = 0; i < reg->n; i++) {
        issuer_t *iss = &reg->issuers[i];
        if (!waiting[i]) continue;
        wait_fetch(reg, iss, gens[i]);
        pthread_mutex_lock(&iss->mu);
        if ((iss->keys == NULL || now >= iss->keys->fetched_at + reg->cache_max_s) && rc == MD_OK)
            rc = md_err_set(err, iss->last_error ? iss->last_error : MD_OIDC_KEYS_UNAVAILABLE, "%s: %s",
                            iss->issuer, iss->last_error_msg[0] ? iss->last_error_msg : "no keys");
        pthread_mutex_unlock(&iss->mu);
    }
    free(gens);
    free(waiting);
    return rc;
}

size_t md_oidc_registry_count(const md_oidc_registry_t *reg)
{
    return reg->n;
}

int md_oidc_registry_stats(md_oidc_registry_t *reg, size_t i, md_oidc_issuer_stats_t *out)
{
    issuer_t *iss;

    memset(out, 0, sizeof(*out));
    if (i >= reg->n) return MD_ENOENT;
    iss = &reg->issuers[i];
    out->issuer = iss->issuer;
    out->remote = iss->source != SRC_FILE;
    pthread_mutex_lock(&iss->mu);
    if (iss->keys) {
        out->keys = iss->keys->jwks.n;
        out->fetched_at = iss->keys->fetched_at;
        out->expires_at = iss->keys->expires_at;
    }
    out->fetches = iss->fetches;
    out->fetch_errors = iss->fetch_errors;
    out->refreshes_limited = iss->limited;
    out->last_error = iss->last_error;
    snprintf(out->last_error_msg, sizeof(out->last_error_msg), "%s", iss->last_error_msg);
    pthread_mutex_unlock(&iss->mu);
    return MD_OK;
}

/* ---------------------------------------------------------------- building and freeing */

md_oidc_registry_t *md_oidc_registry_ref(md_oidc_registry_t *reg)
{
    if (reg) atomic_fetch_add(&reg->refs, 1);
    return reg;
}

static void registry_free(md_oidc_registry_t *reg)
{
    if (reg->thread_started) {
        event_active(reg->stop, EV_TIMEOUT, 1);
        pthread_join(reg->thread, NULL);
    }
    if (reg->kick) event_free(reg->kick);
    if (reg->stop) event_free(reg->stop);
    if (reg->fbase) event_base_free(reg->fbase);
    for (size_t i = 0; i < reg->n; i++) {
        issuer_t *iss = &reg->issuers[i];
        keyset_unref(iss->keys);
        md_oidc_tmpl_free(iss->spiffe);
        md_oidc_tmpl_free(iss->owner);
        SSL_CTX_free(iss->ssl_ctx);
        if (iss->sync_ready) {
            pthread_mutex_destroy(&iss->mu);
            pthread_cond_destroy(&iss->cv);
        }
    }
    pthread_mutex_destroy(&reg->fmu);
    md_arena_free(&reg->arena);
    free(reg);
}

void md_oidc_registry_unref(md_oidc_registry_t *reg)
{
    if (reg == NULL || atomic_fetch_sub(&reg->refs, 1) != 1) return;
    registry_free(reg);
}

static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* On reload: keep the cached keys and the rate-limit state of an unchanged issuer. */
static void adopt(issuer_t *iss, md_oidc_registry_t *prev)
{
    for (size_t i = 0; prev != NULL && i < prev->n; i++) {
        issuer_t *old = &prev->issuers[i];
        if (old->source != iss->source || iss->source == SRC_FILE || strcmp(old->issuer, iss->issuer) != 0 ||
            !same_str(old->key_url, iss->key_url) || !same_str(old->ca_file, iss->ca_file))
            continue;
        pthread_mutex_lock(&old->mu);
        iss->keys = keyset_ref(old->keys);
        iss->last_attempt = old->last_attempt;
        iss->fetches = old->fetches;
        iss->fetch_errors = old->fetch_errors;
        iss->limited = old->limited;
        iss->last_error = old->last_error;
        memcpy(iss->last_error_msg, old->last_error_msg, sizeof(iss->last_error_msg));
        pthread_mutex_unlock(&old->mu);
        return;
    }
}

static int load_jwks_file(issuer_t *iss, md_err_t *err)
{
    char *text = NULL;
    size_t n = 0, skipped = 0;
    keyset_t *k;
    int rc;

    if ((rc = md_file_read(iss->jwks_file, MD_JWKS_MAX_LEN, &text, &n, err)) != MD_OK) return rc;
    if ((k = calloc(1, sizeof(*k))) == NULL) {
        free(text);
        return md_err_set(err, MD_ENOMEM, "out of memory");
    }
    atomic_init(&k->refs, 1);
    rc = md_jwks_parse((md_str_t){text, n}, &k->jwks, &skipped, err);
    free(text);
    if (rc == MD_OK && k->jwks.n == 0)
        rc = md_err_set(err, MD_JOSE_BAD_KEY, "it has no key we can verify with");
    if (rc != MD_OK) {
        md_jwks_free(&k->jwks);
        free(k);
        return rc;
    }
    k->fetched_at = 0;
    k->expires_at = INT64_MAX;
    iss->keys = k;
    return MD_OK;
}

/* Copy the required claims into the registry's arena. */
static int copy_required(md_arena_t *a, const md_conf_map_t *from, md_conf_map_t *to)
{
    to->n = 0;
    to->items = md_arena_zalloc(a, (from->n ? from->n : 1) * sizeof(*to->items));
    if (to->items == NULL) return MD_ENOMEM;
    for (size_t i = 0; i < from->n; i++) {
        md_conf_map_entry_t *e = &to->items[i];
        e->key = arena_strdup(a, from->items[i].key);
        e->line = from->items[i].line;
        e->values.items = md_arena_zalloc(a, (from->items[i].values.n ? from->items[i].values.n : 1) *
                                                 sizeof(*e->values.items));
        if (e->key == NULL || e->values.items == NULL) return MD_ENOMEM;
        for (size_t j = 0; j < from->items[i].values.n; j++)
            if ((e->values.items[j] = arena_strdup(a, from->items[i].values.items[j])) == NULL)
                return MD_ENOMEM;
        e->values.n = from->items[i].values.n;
    }
    to->n = from->n;
    return MD_OK;
}

static void iss_diag(md_conf_diag_t *diag, const md_config_t *cfg, size_t i, const char *key, const char *fmt,
                     ...) MD_PRINTF(5, 6);
static void iss_diag(md_conf_diag_t *diag, const md_config_t *cfg, size_t i, const char *key, const char *fmt,
                     ...)
{
    char name[96], msg[700];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(name, sizeof(name), "federation.issuers[%zu].%s", i, key);
    md_conf_diag_add(diag, cfg->file, md_config_fed_issuer_line(cfg, i, key), name, "%s", msg);
}

/* Build issuer i; errors go to diag.  Returns MD_ENOMEM only for out of memory. */
static int build_issuer(md_oidc_registry_t *reg, const md_config_t *cfg, size_t i, md_oidc_registry_t *prev,
                        md_conf_diag_t *diag)
{
    const md_config_oidc_issuer_t *c = md_config_fed_issuer(cfg, i);
    issuer_t *iss = &reg->issuers[i];
    md_arena_t *a = &reg->arena;
    char msg[400];
    md_oidc_url_t u;
    md_err_t e = {0};
    int rc;

    iss->index = i;
    iss->issuer = arena_strdup(a, c->issuer);
    iss->audience = arena_strdup(a, c->audience);
    iss->jwks_file = arena_strdup(a, c->jwks_file);
    iss->ca_file = arena_strdup(a, c->ca_file);
    iss->max_age_s = c->max_age / 1000;
    if (iss->issuer == NULL || iss->audience == NULL || (c->jwks_file && !iss->jwks_file) ||
        (c->ca_file && !iss->ca_file))
        return MD_ENOMEM;
    if (copy_required(a, &c->required_claims, &iss->required) != MD_OK) return MD_ENOMEM;

    /* algorithms */
    iss->algs = 0;
    for (size_t j = 0; j < c->algorithms.n; j++) {
        md_jose_alg_t alg;
        if (md_jose_alg_from_name(md_str_c(c->algorithms.items[j]), &alg) != MD_OK)
            iss_diag(diag, cfg, i, "algorithms", "`%s` is not supported", c->algorithms.items[j]);
        else
            iss->algs |= (unsigned)alg;
    }
    if (c->algorithms.n == 0) iss->algs = MD_JOSE_RS256 | MD_JOSE_ES256;

    /* templates */
    if (c->spiffe_id != NULL) {
        rc = md_oidc_tmpl_compile(c->spiffe_id, true, &iss->spiffe, msg, sizeof(msg));
        if (rc == MD_ENOMEM) return rc;
        if (rc != MD_OK) iss_diag(diag, cfg, i, "spiffe_id", "%s", msg);
    }
    if (c->owner != NULL) {
        rc = md_oidc_tmpl_compile(c->owner, false, &iss->owner, msg, sizeof(msg));
        if (rc == MD_ENOMEM) return rc;
        if (rc != MD_OK) iss_diag(diag, cfg, i, "owner", "%s", msg);
    }

    /* where the keys come from */
    if (c->jwks_file != NULL) {
        iss->source = SRC_FILE;
        if ((rc = load_jwks_file(iss, &e)) == MD_ENOMEM) return rc;
        if (rc != MD_OK) iss_diag(diag, cfg, i, "jwks_file", "%s: %s", c->jwks_file, e.msg);
        return MD_OK;
    }
    if (c->discovery) {
        size_t n = strlen(c->issuer);
        static const char wk[] = "/.well-known/openid-configuration";
        char *url = md_arena_alloc(a, n + sizeof(wk));
        if (url == NULL) return MD_ENOMEM;
        memcpy(url, c->issuer, n);
        if (n > 0 && url[n - 1] == '/') n--; /* OIDC Discovery 1.0 section 4: remove a trailing slash */
        memcpy(url + n, wk, sizeof(wk));
        iss->source = SRC_DISCOVERY;
        iss->key_url = url;
        if (md_oidc_url_parse(c->issuer, &u, msg, sizeof(msg)) != MD_OK ||
            md_oidc_url_parse(url, &u, msg, sizeof(msg)) != MD_OK)
            iss_diag(diag, cfg, i, "issuer", "discovery: %s", msg);
    } else {
        iss->source = SRC_URI;
        if ((iss->key_url = arena_strdup(a, c->jwks_uri)) == NULL) return MD_ENOMEM;
        if (md_oidc_url_parse(c->jwks_uri, &u, msg, sizeof(msg)) != MD_OK)
            iss_diag(diag, cfg, i, "jwks_uri", "%s", msg);
    }
    if ((rc = md_oidc_ssl_ctx_new(c->ca_file, &iss->ssl_ctx, &e)) == MD_ENOMEM) return rc;
    if (rc != MD_OK) iss_diag(diag, cfg, i, "ca_file", "%s", e.msg);
    adopt(iss, prev);
    return MD_OK;
}

int md_oidc_registry_new(const md_config_t *cfg, md_oidc_registry_t *prev, md_oidc_registry_t **out,
                         md_conf_diag_t *diag)
{
    md_oidc_registry_t *reg = NULL;
    int before = diag->count + diag->dropped, rc = MD_OK;

    *out = NULL;
    if (evthread_use_pthreads() != 0) {
        md_conf_diag_add(diag, cfg->file, 0, "federation", "libevent has no thread support");
        return MD_EIO;
    }
    if ((reg = calloc(1, sizeof(*reg))) == NULL) goto oom;
    atomic_init(&reg->refs, 1);
    md_arena_init(&reg->arena, 4096);
    pthread_mutex_init(&reg->fmu, NULL);
    reg->fetch_timeout_ms = cfg->fed_fetch_timeout > 0 ? cfg->fed_fetch_timeout : 10000;
    reg->cache_min_s = cfg->fed_cache_min / 1000;
    reg->cache_max_s = cfg->fed_cache_max / 1000;
    reg->min_interval_s = cfg->fed_min_refresh_interval / 1000;
    if (reg->cache_max_s < 1) reg->cache_max_s = 1;
    if (reg->cache_min_s > reg->cache_max_s) reg->cache_min_s = reg->cache_max_s;
    reg->n = cfg->fed_issuers.n;
    reg->issuers = md_arena_zalloc(&reg->arena, (reg->n ? reg->n : 1) * sizeof(*reg->issuers));
    if (reg->issuers == NULL) goto oom;
    for (size_t i = 0; i < reg->n; i++) {
        issuer_t *iss = &reg->issuers[i];
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_mutex_init(&iss->mu, NULL);
        pthread_cond_init(&iss->cv, &ca);
        pthread_condattr_destroy(&ca);
        iss->sync_ready = true;
    }
    for (size_t i = 0; i < reg->n; i++)
        if (build_issuer(reg, cfg, i, prev, diag) != MD_OK) goto oom;
    if (diag->count + diag->dropped > before) {
        rc = MD_EINVAL;
        goto out;
    }
    *out = reg;
    reg = NULL;
    goto out;
oom:
    md_conf_diag_add(diag, cfg->file, 0, "federation", "out of memory");
    rc = MD_ENOMEM;
out:
    if (reg) registry_free(reg);
    return rc;
}
