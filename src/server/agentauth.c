/*
 * agentauth.c: who is calling, on the TCP API's agent endpoints.
 *
 * An agent authenticates with the JWT-SVID it got from the Workload API (or
 * from POST /v1/svid/federated) in `Authorization: Bearer <svid>`: issued by
 * this mandated (iss = the snapshot's issuer), for this mandated (its aud
 * contains the issuer), typ JWT, not expired (60 s skew), signed by one of
 * the published keys.  Its sub must name a registered, active agent: the
 * entry is what every decision is made on, never the token's other claims.
 * Verified SVIDs are cached per worker (src/token/tcache.h) until their exp,
 * so an agent calling often pays for one signature check.
 *
 * A refusal answers 401 invalid_token (with WWW-Authenticate: Bearer
 * error="invalid_token") naming the check that failed, or 403 when the
 * agent is unknown or quarantined.
 */
#include "server/server_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "core/log.h"
#include "identity/attest.h"
#include "token/tcache.h"

#define SVID_CACHE_SIZE 4096

static void unauthorized(md_http_req_t *req, const char *what, const char *detail)
{
    md_http_add_header(req, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
    md_http_error(req, 401, "invalid_token", "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
}

int md_agent_authenticate(md_http_req_t *req, md_agent_auth_t *out)
{
    md_worker_t *w = req->conn->w;
    md_str_t h = md_http_header(req, "Authorization");
    md_str_t tok;
    int64_t now = (int64_t)time(NULL);
    const md_jwt_t *jwt;
    md_jwt_t fresh;
    md_err_t err = {0};
    const char *sub;
    int rc;

    memset(out, 0, sizeof(*out));
    if (h.p == NULL || md_http_header_count(req, "Authorization") != 1) {
        unauthorized(req, "an agent's JWT-SVID is required: Authorization: Bearer <svid>", NULL);
        return -1;
    }
    if (h.n < 8 || strncasecmp(h.p, "Bearer ", 7) != 0) {
        unauthorized(req, "Authorization must be `Bearer <svid>`", NULL);
        return -1;
    }
    tok = (md_str_t){h.p + 7, h.n - 7};
    if (w->svid_cache == NULL && (w->svid_cache = md_tcache_new(SVID_CACHE_SIZE)) == NULL) {
        md_http_error_oom(req);
        return -1;
    }
    jwt = md_tcache_get(w->svid_cache, tok, now);
    if (jwt == NULL) {
        size_t nkeys = 0;
        const md_jwk_t *const *keys = md_keys_view_keys(req->keys, &nkeys);
        md_jwt_verify_opts_t o = {0};
        o.now = now;
        o.skew = 60;
        o.iss = req->snap->issuer;
        o.aud = req->snap->issuer;
        o.typ = "JWT";
        o.require_iat = true;
        memset(&fresh, 0, sizeof(fresh));
        rc = md_jwt_verify(keys, nkeys, tok, &o, &fresh, &err);
        if (rc != MD_OK) {
            md_log(MD_LOG_INFO, req->id, "agent authentication refused: %s", err.msg);
            unauthorized(req, "the SVID is not valid here", err.msg);
            return -1;
        }
        /* an SVID names a SPIFFE ID in sub and is not a mandate (those are typ at+jwt, refused above) */
        if (!json_is_string(json_object_get(fresh.claims, "sub"))) {
            md_jwt_free(&fresh);
            unauthorized(req, "the SVID has no sub", NULL);
            return -1;
        }
        md_jwt_t *keep = malloc(sizeof(*keep)); /* the cache takes it over */
        if (keep == NULL) {
            md_jwt_free(&fresh);
            md_http_error_oom(req);
            return -1;
        }
        *keep = fresh;
        if (md_tcache_put(w->svid_cache, tok, keep, now) == MD_ENOMEM) {
            md_http_error_oom(req);
            return -1;
        }
        jwt = md_tcache_get(w->svid_cache, tok, now);
        if (jwt == NULL) { /* expires within the second: verify again next time, refuse now */
            unauthorized(req, "the SVID has expired", NULL);
            return -1;
        }
    }
    sub = json_string_value(json_object_get(jwt->claims, "sub"));
    rc = md_workload_entry_find(w, sub, &out->entry, &err);
    if (rc == MD_ENOENT) {
        md_http_error(req, 403, "access_denied", "%.300s is not a registered agent", sub);
        return -1;
    }
    if (rc != MD_OK) {
        md_log(MD_LOG_ERROR, req->id, "agent authentication: cannot read the registry: %s", err.msg);
        md_http_error(req, 503, "service_unavailable",
                      "the registry cannot be read; see the log (request %s)", req->id);
        return -1;
    }
    if (out->entry->state != MD_ENTRY_ACTIVE) {
        md_http_error(req, 403, "agent_quarantined", "this agent is quarantined");
        return -1;
    }
    out->svid_exp = jwt->exp;
    out->spiffe_id = out->entry->spiffe_id;
    return 0;
}
