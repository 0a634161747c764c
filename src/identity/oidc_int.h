/*
 * oidc_int.h: internals of OIDC federation shared by src/identity/oidc*.c
 * and the unit tests.  Not a contract for other modules: use oidc.h.
 *
 *   oidc_map.c   claim templates (SPIFFE ID, owner) and required claims: pure
 *   oidc_http.c  URL policy and a small HTTP/1.1 GET client on bufferevents
 *   oidc.c       the registry, key cache, fetch thread, verification
 */
#ifndef MD_IDENTITY_OIDC_INT_H
#define MD_IDENTITY_OIDC_INT_H

#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

#include "identity/oidc.h"

struct event_base;

/* ---------------------------------------------------------------- templates (oidc_map.c) */

/*
 * A template is literal text with placeholders `{claims.NAME}` (NAME: 1..128
 * of [A-Za-z0-9_.:-], a top-level claim).  A SPIFFE template must start
 * with "spiffe://", keep placeholders out of the trust domain, put at most
 * one placeholder in a path segment (so the mapping is injective), and turn
 * into a valid SPIFFE ID when each placeholder is replaced by "x".  An owner
 * template is any printable text, with or without placeholders.
 */
typedef struct md_oidc_tmpl md_oidc_tmpl_t;

int md_oidc_tmpl_compile(const char *src, bool spiffe, md_oidc_tmpl_t **out, char *msg, size_t msgsz) MD_WUR;
void md_oidc_tmpl_free(md_oidc_tmpl_t *t);
/* Render against claims (a JSON object); appends to out.  Codes: MD_OIDC_CLAIM_MISSING,
 * MD_OIDC_UNSAFE_CLAIM, MD_OIDC_BAD_SPIFFE_ID, MD_ENOMEM.  Messages name the claim, never its value. */
int md_oidc_tmpl_render(const md_oidc_tmpl_t *t, const json_t *claims, md_buf_t *out, md_err_t *err) MD_WUR;

/* Required claims: each named claim must be present and equal one of its values (a string claim
 * compared bytewise; true/false and integers by their JSON text).  MD_OIDC_CLAIM_MISSING,
 * MD_OIDC_CLAIM_MISMATCH. */
int md_oidc_claims_check(const md_conf_map_t *required, const json_t *claims, md_err_t *err) MD_WUR;

/* ---------------------------------------------------------------- URLs and HTTP (oidc_http.c) */

#define MD_OIDC_URL_MAX 1024
#define MD_OIDC_DOC_MAX (256u * 1024u) /* discovery document or JWKS */

typedef struct md_oidc_url {
    bool https;
    bool host_is_ip;
    char host[256];               /* without brackets */
    uint16_t port;                /* explicit or 443 / 80 */
    char target[MD_OIDC_URL_MAX]; /* path and query: "/jwks?x=1"; "/" when empty */
    char authority[300];          /* for Host: as written (with brackets and port when given) */
    struct sockaddr_storage addr; /* when host_is_ip */
    socklen_t addr_len;
} md_oidc_url_t;

/*
 * Parse url and apply the fetch policy: https:// to any host, or http:// to a
 * loopback IP literal (127.0.0.0/8, [::1]) only; no userinfo, no fragment,
 * printable ASCII only, at most MD_OIDC_URL_MAX bytes.  MD_OIDC_URL_REFUSED
 * (and msg) otherwise.
 */
int md_oidc_url_parse(const char *url, md_oidc_url_t *out, char *msg, size_t msgsz) MD_WUR;

typedef struct md_oidc_http_resp {
    int status; /* always 200 when the callback gets MD_OK */
    char *body; /* owned (malloc), NUL-terminated */
    size_t len;
    int64_t max_age; /* seconds from Cache-Control max-age; 0 for no-store/no-cache; -1: none */
} md_oidc_http_resp_t;

void md_oidc_http_resp_free(md_oidc_http_resp_t *r);

typedef struct md_oidc_http_opts {
    SSL_CTX *ssl_ctx;   /* borrowed: for https (verification set up by md_oidc_ssl_ctx_new) */
    int64_t timeout_ms; /* the whole request: DNS, connect, TLS, request, response */
    size_t max_body;    /* 0: MD_OIDC_DOC_MAX */
} md_oidc_http_opts_t;

typedef struct md_oidc_http_req md_oidc_http_req_t;
/* Called once, on the base's thread.  On MD_OK resp is filled (the callee takes its body: set
 * resp->body NULL to keep it, else it is freed after the call). */
typedef void (*md_oidc_http_cb)(void *arg, int rc, md_oidc_http_resp_t *resp, const md_err_t *err);

/*
 * GET url on base.  Any status but 200 is a failure (redirects are not
 * followed).  Bodies: Content-Length, chunked, or until close; at most
 * max_body.  Returns MD_OK with *out set (cb will be called), or a failure
 * at once (MD_OIDC_URL_REFUSED, MD_OIDC_FETCH_FAILED, MD_ENOMEM; cb not called).
 */
int md_oidc_http_get(struct event_base *base, const md_oidc_http_opts_t *opts, const char *url,
                     md_oidc_http_cb cb, void *arg, md_oidc_http_req_t **out, md_err_t *err) MD_WUR;
/* Abandon a request: its callback is not called.  Not from inside its own callback. */
void md_oidc_http_cancel(md_oidc_http_req_t *r);
/* The same, blocking, on a private event_base.  *resp must be zeroed; filled on MD_OK. */
int md_oidc_http_get_blocking(const md_oidc_http_opts_t *opts, const char *url, md_oidc_http_resp_t *resp,
                              md_err_t *err) MD_WUR;

/* A TLS client context: TLS 1.2+, peer verification against ca_file (PEM) or, when NULL, the
 * system store.  MD_EIO with a message when ca_file cannot be loaded. */
int md_oidc_ssl_ctx_new(const char *ca_file, SSL_CTX **out, md_err_t *err) MD_WUR;

/* Cache-Control value → max-age seconds (0 for no-store/no-cache), -1 when it says nothing. */
int64_t md_oidc_cache_control_max_age(const char *value, size_t len);

#endif
