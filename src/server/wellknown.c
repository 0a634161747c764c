/*
 * wellknown.c: what anyone may read about our keys — GET
 * /.well-known/jwks.json (RFC 7517) and GET
 * /.well-known/oauth-authorization-server (RFC 8414) — and the admin view of
 * the key schedule, GET /v1/admin/keys.
 *
 * Everything here reads the request's key view (req->keys, immutable, held
 * by the worker) and the request's snapshot: no lock, no store access.
 *
 * The metadata lists only endpoints that exist.  When a module adds one that
 * RFC 8414 names (token, introspection, revocation, ...), it adds a row to
 * `endpoints` below.
 */
#include "server/server_int.h"

#include <stdio.h>

static const struct {
    const char *member; /* RFC 8414 metadata member */
    const char *path;   /* our endpoint, appended to the issuer */
} endpoints[] = {
    {"jwks_uri", "/.well-known/jwks.json"},
};

/* "public, max-age=N" in the request's arena; NULL on OOM. */
static const char *cache_control(md_http_req_t *req, int64_t max_age)
{
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "public, max-age=%lld", (long long)max_age);
    return n < 0 ? NULL : md_arena_memdup(req->arena, buf, (size_t)n);
}

void md_wellknown_jwks(md_http_req_t *req)
{
    md_str_t jwks = md_keys_view_jwks(req->keys);
    const char *cc = cache_control(req, md_keys_view_max_age(req->keys));
    if (cc == NULL) {
        md_http_error_oom(req);
        return;
    }
    md_http_add_header(req, "Cache-Control", cc);
    md_http_reply(req, 200, "application/jwk-set+json", jwks.p, jwks.n);
}

void md_wellknown_oauth_metadata(md_http_req_t *req)
{
    const char *issuer = req->snap->issuer;
    json_t *doc = json_object(), *none = json_array();
    bool ok = doc != NULL && none != NULL && json_object_set_new(doc, "issuer", json_string(issuer)) == 0;
    for (size_t i = 0; ok && i < sizeof(endpoints) / sizeof(endpoints[0]); i++) {
        md_buf_t url;
        md_buf_init(&url);
        md_buf_printf(&url, "%s%s", issuer, endpoints[i].path);
        ok = !url.oom && json_object_set_new(doc, endpoints[i].member, json_string(url.p)) == 0;
        md_buf_free(&url);
    }
    /* REQUIRED by RFC 8414; empty because there is no authorization endpoint */
    ok = ok && json_object_set(doc, "response_types_supported", none) == 0;
    json_decref(none);
    if (!ok) {
        json_decref(doc);
        md_http_error_oom(req);
        return;
    }
    md_http_add_header(req, "Cache-Control", "public, max-age=300");
    md_http_reply_json(req, 200, doc);
    json_decref(doc);
}

static const char *state_name(md_key_state_t s)
{
    return s == MD_KEY_NEXT ? "next" : s == MD_KEY_ACTIVE ? "active" : "retired";
}

/* GET /v1/admin/keys: the schedule of every published key (never key material). */
void md_admin_keys(md_http_req_t *req)
{
    const md_keys_view_t *v = req->keys;
    const md_keyset_policy_t *p = md_keys_view_policy(v);
    const char *signer = md_keys_view_signer_kid(v);
    json_t *arr = json_array(), *doc = NULL;
    bool ok = arr != NULL;

    for (size_t i = 0; ok && i < md_keys_view_count(v); i++) {
        md_keyset_entry_t e = md_keys_view_entry(v, i);
        json_t *k =
            json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "kid", md_jwk_kid(e.key), "alg",
                      md_jose_alg_name((md_jose_alg_t)md_jwk_algs(e.key)), "state", state_name(e.state),
                      "published", (json_int_t)e.published, "activated", (json_int_t)e.activated, "retired",
                      (json_int_t)e.retired, "remove_at", (json_int_t)e.remove_at);
        ok = k != NULL && json_array_append_new(arr, k) == 0;
    }
    if (ok)
        doc =
            json_pack("{s:I, s:s?, s:{s:s, s:I, s:I, s:I}, s:I, s:O}", "generation",
                      (json_int_t)md_keys_view_generation(v), "signer", signer, "policy", "algorithm",
                      md_jose_alg_name(p->alg), "rotation_period", (json_int_t)p->rotation_period, "overlap",
                      (json_int_t)p->overlap, "max_token_lifetime", (json_int_t)p->max_token_lifetime,
                      "jwks_max_age", (json_int_t)md_keys_view_max_age(v), "keys", arr);
    json_decref(arr);
    if (doc == NULL) {
        md_http_error_oom(req);
        return;
    }
    md_http_reply_json(req, 200, doc);
    json_decref(doc);
}
