/*
 * workload.c: the Workload API, served on the Unix socket workload.socket
 * (default <data-dir>/agent.sock) and nowhere else (MD_ROUTE_WORKLOAD):
 *
 *   POST /v1/svid     {"audience": "a" | ["a", ...], "ttl": seconds?}
 *                     attests the calling process and answers a JWT-SVID for
 *                     the one registration entry it matches:
 *                     {"spiffe_id", "svid", "audience", "issued_at",
 *                      "expires_at", "kid"}
 *   GET  /v1/bundle   the JWKS that verifies our tokens (public, no attestation)
 *
 * Who calls is never taken from the request: the process at the other end of
 * the socket is attested (src/identity/attest.h) for every request, on the
 * attestation thread pool (hashing an executable blocks), and the result is
 * matched against the registration entries on the worker thread.  The
 * request names nothing but what it wants: audience and lifetime.
 *
 * Answers that refuse: 400 invalid_request (body), 403 attestation_failed
 * (the message names the reason when it concerns the caller's own process,
 * e.g. it is traced or its binary was replaced; when no single entry matches
 * it says only that, the same words for "none" and "several", so nothing is
 * learnt about other entries), 403 agent_quarantined, 503 when the
 * attestation queue is full or there is no signing key.  Every refusal is
 * logged with the attested pid, uid and executable, and counted in
 * mandate_attestation_failures_total{reason}.
 *
 * The SVID (JWT-SVID, SPIFFE spec): header {alg, kid, typ: "JWT"}; claims
 * iss (the snapshot's issuer), sub (the SPIFFE ID), aud (always an array),
 * iat, exp (now + min(ttl asked, the entry's svid_ttl)), jti (128 random
 * bits).  Lifetimes are clamped, never extended, and capped by
 * keys.max_token_lifetime.
 *
 * Entries are read through a per-worker cache, reloaded when the registry's
 * generation (bumped after every committed agent write, any worker) moved:
 * the generation is read before the store is, so a cache is never newer
 * than its tag and a write is always seen by the next request after commit.
 */
#include "server/server_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "core/log.h"
#include "identity/attest.h"
#include "identity/spiffe.h"
#include "server/jobs.h"
#include "server/metrics.h"
#include "token/token.h"

#define AUDIENCES_MAX 16
#define AUDIENCE_MAX 255
#define ATTEST_TIMEOUT_MS 30000

/* One attestation in flight: malloc'd, freed by attest_done() (the pool's done). */
typedef struct svid_job {
    md_http_req_t *req; /* NULL once the request is gone (md_http_defer's cancel) */
    int fd;             /* dup of the connection's socket: the pool never sees a closed or reused fd */
    int rc;             /* md_attest_peer()'s; MD_EIO until it ran */
    md_attestation_t att;
    md_err_t err;
    md_svid_params_t sp;
} svid_job_t;

/* ---- the entry cache ---- */

/* Make w's cache current.  MD_OK, or a store/parse error with err set. */
static int entries_current(md_worker_t *w, md_err_t *err)
{
    md_store_agent_t *rows = NULL;
    size_t n = 0;
    uint64_t gen = atomic_load(&w->srv->registry_gen);
    int rc;

    if (w->reg_loaded && w->reg_gen == gen) return MD_OK;
    md_arena_reset(&w->reg_arena);
    w->reg_loaded = false;
    w->reg_n = 0;
    w->reg_entries = NULL;
    rc = md_store_agent_list(w->store, &w->reg_arena, &rows, &n, err);
    if (rc != MD_OK) return rc;
    if (n > 0) {
        w->reg_entries = md_arena_alloc(&w->reg_arena, n * sizeof(*w->reg_entries));
        w->reg_ids = md_arena_alloc(&w->reg_arena, n * sizeof(*w->reg_ids));
        if (w->reg_entries == NULL || w->reg_ids == NULL)
            return md_err_set(err, MD_ENOMEM, "out of memory loading the registry");
    }
    for (size_t i = 0; i < n; i++) {
        w->reg_ids[i] = rows[i].id; /* in reg_arena, like the rows */
        rc = md_entry_parse(rows[i].entry, strlen(rows[i].entry), &w->reg_arena, &w->reg_entries[i], err);
        if (rc != MD_OK) {
            md_err_t e2 = *err;
            return md_err_set(err, rc, "agent %s: the stored entry does not parse: %s", rows[i].id, e2.msg);
        }
    }
    w->reg_n = n;
    w->reg_gen = gen;
    w->reg_loaded = true;
    return MD_OK;
}

void md_workload_worker_free(md_worker_t *w)
{
    md_arena_free(&w->reg_arena);
    w->reg_entries = NULL;
    w->reg_n = 0;
    w->reg_loaded = false;
}

/* ---- POST /v1/svid ---- */

bool md_svid_params_parse(md_http_req_t *req, const json_t *body, const char *extra, md_svid_params_t *job)
{
    json_t *aud, *ttl;
    const char *key;
    json_t *v;
    bool ok = false;

    memset(job, 0, sizeof(*job));
    json_object_foreach((json_t *)body, key, v)
    {
        if (strcmp(key, "audience") != 0 && strcmp(key, "ttl") != 0 &&
            (extra == NULL || strcmp(key, extra) != 0)) {
            md_http_error(req, 400, "invalid_request",
                          "unknown member `%.64s`: the body takes %s%saudience and ttl", key,
                          extra ? extra : "", extra ? ", " : "");
            goto out;
        }
    }
    aud = json_object_get(body, "audience");
    if (aud == NULL) {
        md_http_error(req, 400, "invalid_request", "`audience` is required: whom the SVID is for");
        goto out;
    }
    size_t n = json_is_array(aud) ? json_array_size(aud) : 1;
    if (!json_is_string(aud) && !json_is_array(aud)) {
        md_http_error(req, 400, "invalid_request", "`audience` must be a string or an array of strings");
        goto out;
    }
    if (n == 0 || n > AUDIENCES_MAX) {
        md_http_error(req, 400, "invalid_request", "`audience` must name 1 to %d audiences", AUDIENCES_MAX);
        goto out;
    }
    job->aud = md_arena_alloc(req->arena, n * sizeof(*job->aud));
    if (job->aud == NULL) {
        md_http_error_oom(req);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_is_array(aud) ? json_array_get(aud, i) : aud;
        const char *s = json_is_string(a) ? json_string_value(a) : NULL;
        size_t len = s ? json_string_length(a) : 0;
        if (s == NULL || len == 0 || len > AUDIENCE_MAX || strlen(s) != len) {
            md_http_error(req, 400, "invalid_request",
                          "`audience`[%zu]: each audience is a non-empty string of at most %d bytes", i,
                          AUDIENCE_MAX);
            goto out;
        }
        for (size_t k = 0; k < len; k++) {
            unsigned char c = (unsigned char)s[k];
            if (c < 0x20 || c == 0x7f) {
                md_http_error(req, 400, "invalid_request",
                              "`audience`[%zu]: control characters are not allowed", i);
                goto out;
            }
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(job->aud[k], s) == 0) {
                md_http_error(req, 400, "invalid_request", "`audience`[%zu] repeats `audience`[%zu]", i, k);
                goto out;
            }
        job->aud[i] = md_arena_memdup(req->arena, s, len);
        if (job->aud[i] == NULL) {
            md_http_error_oom(req);
            goto out;
        }
    }
    job->naud = n;
    ttl = json_object_get(body, "ttl");
    if (ttl != NULL) {
        if (!json_is_integer(ttl) || json_integer_value(ttl) < MD_ENTRY_TTL_MIN ||
            json_integer_value(ttl) > MD_ENTRY_TTL_MAX) {
            md_http_error(req, 400, "invalid_request", "`ttl` must be an integer number of seconds, %d to %d",
                          MD_ENTRY_TTL_MIN, MD_ENTRY_TTL_MAX);
            goto out;
        }
        job->ttl = (int64_t)json_integer_value(ttl);
    }
    ok = true;
out:
    return ok;
}

/* What the caller is told when attestation refused it (see the top of the file). */
static const char *refusal_text(int code)
{
    switch (code) {
    case MD_ATTEST_ENO_MATCH:
    case MD_ATTEST_EAMBIGUOUS: return "no registration entry matches this workload";
    case MD_ATTEST_EQUARANTINED: return "this agent is quarantined";
    case MD_ATTEST_EPEER_GONE:
    case MD_ATTEST_EPID_REUSED: return "the process that connected is gone";
    case MD_ATTEST_ETRACED: return "the process is being traced";
    case MD_ATTEST_EUID_MISMATCH:
    case MD_ATTEST_EGID_MISMATCH: return "the process's user or group ids are not consistent";
    case MD_ATTEST_EOVERFLOW_ID: return "the process's user or group id is not mapped in this namespace";
    case MD_ATTEST_EEXE_DELETED: return "the process's executable was removed or replaced on disk";
    case MD_ATTEST_EEXE_CHANGED: return "the process's executable changed while it was being read";
    case MD_ATTEST_EEXE_UNREADABLE: return "the process's executable cannot be read";
    case MD_ATTEST_ENOT_PEER: return "the caller's credentials are not available";
    default: return "the workload could not be attested";
    }
}

static void refuse(md_http_req_t *req, const svid_job_t *job, int code, const char *detail)
{
    const md_attestation_t *a = &job->att;
    md_metrics_attestation_failure(code);
    if (a->ok)
        md_log(MD_LOG_WARN, req->id, "svid refused: %s (%s): pid=%ld uid=%u gid=%u exe=%s sha256=%s",
               md_attest_code_name(code), detail, (long)a->pid, (unsigned)a->uid, (unsigned)a->gid,
               a->exe_path, a->exe_sha256);
    else
        md_log(MD_LOG_WARN, req->id, "svid refused: %s: %s", md_attest_code_name(code), detail);
    md_http_error(req, 403, code == MD_ATTEST_EQUARANTINED ? "agent_quarantined" : "attestation_failed", "%s",
                  refusal_text(code));
}

void md_svid_issue(md_http_req_t *req, const md_svid_params_t *job, const char *spiffe_id, int64_t ttl,
                   int64_t exp_cap, const char *who)
{
    int64_t now = (int64_t)time(NULL), max = req->snap->config->keys_max_token_lifetime / 1000;
    unsigned char jti_raw[16];
    md_buf_t jti, token;
    md_err_t err = {0};
    json_t *claims = NULL, *aud = json_array(), *out = NULL;
    const char *kid = md_keys_view_signer_kid(req->keys);

    md_buf_init(&jti);
    md_buf_init(&token);
    if (job->ttl > 0 && job->ttl < ttl) ttl = job->ttl;
    if (ttl > max) ttl = max;
    if (exp_cap > 0 && now + ttl > exp_cap) ttl = exp_cap - now;
    if (ttl < 1) {
        md_http_error(req, 401, "invalid_token",
                      "the credential presented expires too soon to issue anything");
        return;
    }
    if (RAND_bytes(jti_raw, sizeof(jti_raw)) != 1) {
        md_http_error(req, 500, "internal_error", "no randomness available");
        goto out;
    }
    md_b64url_encode(&jti, jti_raw, sizeof(jti_raw));
    for (size_t i = 0; aud != NULL && i < job->naud; i++)
        if (json_array_append_new(aud, json_string(job->aud[i])) != 0) goto oom;
    if (aud == NULL || jti.oom) goto oom;
    claims = json_pack("{s:s, s:s, s:O, s:I, s:I, s:s#}", "iss", req->snap->issuer, "sub", spiffe_id, "aud",
                       aud, "iat", (json_int_t)now, "exp", (json_int_t)(now + ttl), "jti", jti.p, jti.n);
    if (claims == NULL) goto oom;
    int rc = md_keys_sign_jwt(req->keys, now, "JWT", claims, &token, &err);
    if (rc == MD_ENOENT) {
        md_log(MD_LOG_ERROR, req->id, "svid: no active signing key");
        md_http_error(req, 503, "service_unavailable", "no signing key is active yet; retry");
        goto out;
    }
    if (rc == MD_ENOMEM) goto oom;
    if (rc != MD_OK) {
        md_log(MD_LOG_ERROR, req->id, "svid: signing failed: %s", err.msg);
        md_http_error(req, 500, "internal_error", "signing failed; see the log (request %s)", req->id);
        goto out;
    }
    out = json_pack("{s:s, s:s#, s:O, s:I, s:I, s:s?}", "spiffe_id", spiffe_id, "svid", token.p, token.n,
                    "audience", aud, "issued_at", (json_int_t)now, "expires_at", (json_int_t)(now + ttl),
                    "kid", kid);
    if (out == NULL) goto oom;
    md_log(MD_LOG_INFO, req->id, "svid issued: %s to %s jti=%s ttl=%llds", spiffe_id, who, jti.p,
           (long long)ttl);
    md_http_reply_json(req, 200, out);
    goto out;
oom:
    md_http_error_oom(req);
out:
    json_decref(out);
    json_decref(claims);
    json_decref(aud);
    md_buf_free(&jti);
    md_buf_free(&token);
}

/* On an attestation thread. */
static void attest_work(void *arg)
{
    svid_job_t *job = arg;
    md_err_clear(&job->err); /* the placeholder is for a job that never ran */
    job->rc = md_attest_peer(job->fd, &job->att, &job->err);
}

/*
 * The one active agent whose registered executable path this process runs
 * while its hash or its user no longer match: the binary at that path was
 * replaced, or it now runs as someone else.  NULL when there is not exactly
 * one (an agent without a unix:path selector is never attributed this way).
 */
static const md_entry_t *changed_agent(const md_worker_t *w, const md_attestation_t *att)
{
    const md_entry_t *found = NULL;
    size_t count = 0;
    for (size_t i = 0; i < w->reg_n; i++) {
        const md_entry_t *e = &w->reg_entries[i];
        bool has_path = false, path_ok = true, others_ok = true, drift = false;
        if (e->state != MD_ENTRY_ACTIVE) continue;
        for (size_t k = 0; k < e->n_selectors; k++) {
            const md_selector_t *sel = &e->selectors[k];
            bool m = md_selector_match(sel, att);
            switch (sel->type) {
            case MD_SEL_UNIX_PATH:
                has_path = true;
                path_ok = path_ok && m;
                break;
            case MD_SEL_UNIX_SHA256:
            case MD_SEL_UNIX_UID:
            case MD_SEL_UNIX_USER: drift = drift || !m; break;
            default: others_ok = others_ok && m; break;
            }
        }
        if (has_path && path_ok && others_ok && drift) {
            found = e;
            count++;
        }
    }
    return count == 1 ? found : NULL;
}

/* A registered agent's binary or user changed under it: quarantine it and revoke its tasks. */
static void attestation_changed(md_http_req_t *req, const svid_job_t *job)
{
    const md_entry_t *e = changed_agent(req->conn->w, &job->att);
    md_store_agent_t agent;
    md_err_t err = {0};
    size_t revoked = 0;
    char reason[PATH_MAX + 256], spiffe_id[2100];

    if (e == NULL) return;
    snprintf(spiffe_id, sizeof(spiffe_id), "%s", e->spiffe_id); /* e lives in the cache quarantine reloads */
    snprintf(reason, sizeof(reason),
             "attestation changed: %s now runs with sha256 %s as uid %u, which its entry does not allow",
             job->att.exe_path, job->att.exe_sha256, (unsigned)job->att.uid);
    if (md_agent_quarantine(req, spiffe_id, reason, &agent, &revoked, &err) != MD_OK) {
        md_log(MD_LOG_ERROR, req->id, "attestation change of %s: the quarantine failed: %s", spiffe_id,
               err.msg);
        return;
    }
    md_metrics_attestation_failure(MD_ATTEST_EQUARANTINED);
    md_log(MD_LOG_WARN, req->id, "agent %s quarantined (%zu tasks revoked): %s", spiffe_id, revoked, reason);
}

/* Back on the worker thread (or on the main thread at shutdown, always with job->req NULL then). */
static void attest_done(void *arg)
{
    svid_job_t *job = arg;
    md_http_req_t *req = job->req;
    const md_entry_t *match = NULL;
    md_err_t err = {0};
    int rc;

    close(job->fd);
    if (req == NULL) goto out; /* the connection went away, or the answer timed out */
    if (job->rc != MD_OK) {
        refuse(req, job, job->rc, job->err.msg);
        goto out;
    }
    rc = entries_current(req->conn->w, &err);
    if (rc != MD_OK) {
        md_log(MD_LOG_ERROR, req->id, "svid: cannot read the registry: %s", err.msg);
        if (rc == MD_ENOMEM)
            md_http_error_oom(req);
        else
            md_http_error(req, 503, "service_unavailable",
                          "the registry cannot be read; see the log (request %s)", req->id);
        goto out;
    }
    rc = md_attest_match(req->conn->w->reg_entries, req->conn->w->reg_n, &job->att, &match, &err);
    if (rc == MD_ATTEST_ENO_MATCH) attestation_changed(req, job);
    if (rc != MD_OK) {
        char detail[sizeof(err.msg) + 2100];
        snprintf(detail, sizeof(detail), "%s%s%s", err.msg, match ? ": " : "", match ? match->spiffe_id : "");
        refuse(req, job, rc, detail);
        goto out;
    }
    if (req->snap->config->trust_domain != NULL &&
        !md_spiffe_in_trust_domain(&match->id, md_str_c(req->snap->config->trust_domain))) {
        md_metrics_attestation_failure(0); /* counted as "other" */
        md_log(MD_LOG_ERROR, req->id,
               "svid refused: %s is outside trust_domain %s (registered before it was set?): pid=%ld uid=%u "
               "exe=%s sha256=%s",
               match->spiffe_id, req->snap->config->trust_domain, (long)job->att.pid, (unsigned)job->att.uid,
               job->att.exe_path, job->att.exe_sha256);
        md_http_error(req, 403, "attestation_failed", "this agent's SPIFFE ID is outside this trust domain");
        goto out;
    }
    {
        char who[PATH_MAX + 64];
        snprintf(who, sizeof(who), "pid=%ld uid=%u exe=%s", (long)job->att.pid, (unsigned)job->att.uid,
                 job->att.exe_path);
        md_svid_issue(req, &job->sp, match->spiffe_id, match->svid_ttl, 0, who);
    }
out:
    free(job);
}

static void attest_cancel(void *arg)
{
    ((svid_job_t *)arg)->req = NULL;
}

void md_workload_svid(md_http_req_t *req)
{
    md_server_t *srv = req->srv;
    svid_job_t *job = calloc(1, sizeof(*job));
    int rc;

    if (job == NULL) {
        md_http_error_oom(req);
        return;
    }
    job->fd = -1;
    job->rc = MD_EIO;
    md_err_set(&job->err, MD_EIO, "the attestation did not run (shutting down)");
    json_t *body = md_http_json_body(req);
    bool ok = body != NULL && md_svid_params_parse(req, body, NULL, &job->sp);
    json_decref(body);
    if (!ok) {
        free(job);
        return;
    }
    job->fd = fcntl(req->peer_fd, F_DUPFD_CLOEXEC, 3);
    if (job->fd < 0) {
        md_log(MD_LOG_ERROR, req->id, "svid: dup: %s", strerror(errno));
        free(job);
        md_http_error(req, 503, "service_unavailable", "out of file descriptors; retry");
        return;
    }
    job->req = req;
    rc = md_jobs_submit(srv->attest_jobs, req->conn->w->base, (size_t)req->snap->config->workload_max_pending,
                        attest_work, attest_done, job);
    if (rc != MD_OK) {
        close(job->fd);
        free(job);
        md_log(MD_LOG_WARN, req->id, "svid: %s",
               rc == MD_ELIMIT ? "attestation queue full" : "out of memory");
        md_http_add_header(req, "Retry-After", "1");
        md_http_error(req, 503, "service_unavailable", "too many attestations in progress; retry");
        return;
    }
    md_http_defer(req, ATTEST_TIMEOUT_MS, attest_cancel, job);
}

/* ---- GET /v1/bundle ---- */

void md_workload_bundle(md_http_req_t *req)
{
    md_str_t jwks = md_keys_view_jwks(req->keys);
    md_http_reply(req, 200, "application/json", jwks.p, jwks.n);
}

int md_workload_entry_find(md_worker_t *w, const char *spiffe_id, const md_entry_t **out, md_err_t *err)
{
    int rc = entries_current(w, err);
    *out = NULL;
    if (rc != MD_OK) return rc;
    for (size_t i = 0; i < w->reg_n; i++)
        if (strcmp(w->reg_entries[i].spiffe_id, spiffe_id) == 0) {
            *out = &w->reg_entries[i];
            return MD_OK;
        }
    return MD_ENOENT;
}

const char *md_workload_entry_id(const md_worker_t *w, const md_entry_t *e)
{
    if (e < w->reg_entries || e >= w->reg_entries + w->reg_n) return NULL;
    return w->reg_ids[e - w->reg_entries];
}

int md_workload_entry_lookup(const md_worker_t *w, const char *spiffe_id, const md_entry_t **out)
{
    *out = NULL;
    if (!w->reg_loaded) return MD_ENOENT;
    for (size_t i = 0; i < w->reg_n; i++)
        if (strcmp(w->reg_entries[i].spiffe_id, spiffe_id) == 0) {
            *out = &w->reg_entries[i];
            return MD_OK;
        }
    return MD_ENOENT;
}
