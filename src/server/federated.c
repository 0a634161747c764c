/*
 * federated.c: POST /v1/svid/federated, exchanging a platform's OIDC token
 * (a CI job's, a cloud workload's) for our JWT-SVID.
 *
 *   request   {"token": "<JWT from a federation.issuers issuer>",
 *              "audience": "a" | ["a", ...], "ttl": seconds?}
 *   answer    as POST /v1/svid, plus "owner" and "issuer" (the platform's)
 *
 * The token is verified and mapped by src/identity/oidc.h with the
 * snapshot's registry: when the issuer's keys are cached this happens at
 * once on the worker thread; otherwise the request waits (md_http_defer)
 * for the fetch, which never blocks the loop.  Then:
 *   - the mapped SPIFFE ID must be in `trust_domain` when one is configured;
 *   - when a registration entry has the same SPIFFE ID, it must be active
 *     (a quarantined agent cannot come back through federation);
 *   - the SVID lives min(ttl asked, 300 s, keys.max_token_lifetime) and
 *     never past the platform token's own exp.
 *
 * Answers that refuse: 400 invalid_request (body); 401 invalid_token (not
 * a token we accept: unknown issuer, signature, audience, expired, ...: the
 * message says which, as the OIDC module words it, with its code);
 * 403 access_denied (a valid token whose claims the configuration does not
 * admit, or a SPIFFE ID outside the trust domain, or quarantined);
 * 503 temporarily_unavailable (the issuer's keys cannot be fetched now).
 */
#include "server/server_int.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "identity/oidc.h"
#include "identity/spiffe.h"

#define FEDERATED_TOKEN_MAX (16 * 1024)

typedef struct fed_job {
    md_http_req_t *req;
    md_oidc_wait_t *wait;
    md_svid_params_t sp;
} fed_job_t;

/* Decide and answer from a finished verification. */
static void finish(md_http_req_t *req, const md_svid_params_t *sp, int rc, const md_oidc_result_t *res,
                   const md_err_t *err)
{
    const md_config_t *cfg = req->snap->config;
    const md_entry_t *entry = NULL;
    md_err_t e2 = {0};
    md_spiffe_id_t id;

    switch (rc) {
    case MD_OK: break;
    case MD_OIDC_KEYS_UNAVAILABLE:
    case MD_OIDC_FETCH_FAILED:
    case MD_OIDC_BAD_DOCUMENT:
        md_log(MD_LOG_WARN, req->id, "federated svid: %s: %s", md_oidc_err_name(rc), err->msg);
        md_http_add_header(req, "Retry-After", "5");
        md_http_error(req, 503, "temporarily_unavailable", "the issuer's keys are not available now: %s",
                      err->msg);
        return;
    case MD_OIDC_TOO_OLD:
    case MD_OIDC_CLAIM_MISSING:
    case MD_OIDC_CLAIM_MISMATCH:
    case MD_OIDC_UNSAFE_CLAIM:
    case MD_OIDC_BAD_SPIFFE_ID:
        md_log(MD_LOG_WARN, req->id, "federated svid refused: %s: %s", md_oidc_err_name(rc), err->msg);
        md_http_error(req, 403, "access_denied", "%s (%s)", err->msg, md_oidc_err_name(rc));
        return;
    case MD_ENOMEM: md_http_error_oom(req); return;
    default:
        md_log(MD_LOG_WARN, req->id, "federated svid refused: %s: %s", md_oidc_err_name(rc), err->msg);
        md_http_error(req, 401, "invalid_token", "%s (%s)", err->msg, md_oidc_err_name(rc));
        return;
    }
    if (md_spiffe_parse(md_str_c(res->spiffe_id), &id) != MD_SPIFFE_OK ||
        (cfg->trust_domain != NULL && !md_spiffe_in_trust_domain(&id, md_str_c(cfg->trust_domain)))) {
        md_log(MD_LOG_WARN, req->id, "federated svid refused: %s (from %s) is outside trust domain %s",
               res->spiffe_id, res->issuer, cfg->trust_domain ? cfg->trust_domain : "-");
        md_http_error(req, 403, "access_denied", "the token maps to %s, outside this trust domain",
                      res->spiffe_id);
        return;
    }
    rc = md_workload_entry_find(req->conn->w, res->spiffe_id, &entry, &e2);
    if (rc != MD_OK && rc != MD_ENOENT) {
        md_log(MD_LOG_ERROR, req->id, "federated svid: cannot read the registry: %s", e2.msg);
        md_http_error(req, 503, "temporarily_unavailable",
                      "the registry cannot be read; see the log (request %s)", req->id);
        return;
    }
    if (entry != NULL && entry->state != MD_ENTRY_ACTIVE) {
        md_log(MD_LOG_WARN, req->id, "federated svid refused: %s is quarantined", res->spiffe_id);
        md_http_error(req, 403, "agent_quarantined", "this agent is quarantined");
        return;
    }
    char who[512];
    snprintf(who, sizeof(who), "issuer=%.200s sub=%.200s owner=%.80s", res->issuer,
             res->subject ? res->subject : "-", res->owner);
    md_svid_issue(req, sp, res->spiffe_id, entry ? entry->svid_ttl : MD_ENTRY_TTL_DEFAULT, res->exp, who);
    /* the platform's issuer and the owner the mapping gave, for the caller's records */
    if (req->status == 200) md_log(MD_LOG_INFO, req->id, "federated: owner %s", res->owner);
}

static void on_verified(void *arg, int rc, md_oidc_result_t *res, const md_err_t *err)
{
    fed_job_t *job = arg; /* a cancelled wait is never called back: job->req is alive */
    md_http_req_t *req = job->req;

    finish(req, &job->sp, rc, res, err);
    if (!req->replied)
        md_http_error(req, 500, "internal_error", "no answer was made"); /* never: cancel frees job */
    free(job);
}

static void on_cancel(void *arg)
{
    fed_job_t *job = arg;
    md_oidc_wait_cancel(job->wait);
    free(job);
}

void md_federated_svid(md_http_req_t *req)
{
    json_t *body = md_http_json_body(req), *tok;
    md_svid_params_t sp;
    md_oidc_result_t res;
    md_err_t err = {0};
    fed_job_t *job = NULL;
    int rc;

    memset(&res, 0, sizeof(res));
    if (body == NULL) return;
    if (!md_svid_params_parse(req, body, "token", &sp)) goto out;
    tok = json_object_get(body, "token");
    if (!json_is_string(tok) || json_string_length(tok) == 0) {
        md_http_error(req, 400, "invalid_request", "`token` is required: the platform's OIDC token (a JWT)");
        goto out;
    }
    if (json_string_length(tok) > FEDERATED_TOKEN_MAX) {
        md_http_error(req, 400, "invalid_request", "`token` is longer than %d bytes", FEDERATED_TOKEN_MAX);
        goto out;
    }
    if (md_oidc_registry_count(req->snap->oidc) == 0) {
        md_http_error(req, 401, "invalid_token", "no federated issuers are configured");
        goto out;
    }
    job = calloc(1, sizeof(*job));
    if (job == NULL) {
        md_http_error_oom(req);
        goto out;
    }
    job->req = req;
    job->sp = sp;
    rc = md_oidc_verify_start(req->snap->oidc, req->conn->w->base,
                              (md_str_t){json_string_value(tok), json_string_length(tok)},
                              (int64_t)time(NULL), on_verified, job, &job->wait, &res, &err);
    if (rc == MD_OIDC_PENDING) {
        int64_t ms = req->snap->config->fed_fetch_timeout + 5000;
        md_http_defer(req, ms, on_cancel, job);
        job = NULL;
        goto out;
    }
    finish(req, &sp, rc, &res, &err);
out:
    free(job);
    md_oidc_result_free(&res);
    json_decref(body);
}
