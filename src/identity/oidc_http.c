/*
 * oidc_http.c: the URL policy for what federation fetches, and a small
 * HTTP/1.1 GET client on libevent bufferevents (plain, or OpenSSL with
 * certificate and host name verification).
 *
 * Owns: one request at a time per md_oidc_http_req_t, start to end.
 * Invariants: a request ends exactly once — its callback runs once, or never
 * after md_oidc_http_cancel(); nothing is read past max_body; one deadline
 * covers the whole exchange (a server trickling bytes is cut off); redirects
 * are failures; plain HTTP goes to loopback IP literals only; a host name is
 * resolved asynchronously (evdns), never with a blocking getaddrinfo.
 * Why not evhttp: its timeouts restart on every byte, and we want exact
 * limits and messages (see docs/DEPENDENCIES.md for the server side).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "identity/oidc_int.h"

#define HTTP_MAX_LINE 8192
#define HTTP_MAX_HEADER_BYTES (32 * 1024)
#define HTTP_MAX_HEADERS 100

/* ---------------------------------------------------------------- URLs */

static bool loopback_ip(const md_oidc_url_t *u)
{
    if (u->addr.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&u->addr;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (u->addr.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&u->addr;
        return IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    }
    return false;
}

int md_oidc_url_parse(const char *url, md_oidc_url_t *out, char *msg, size_t msgsz)
{
    const char *p, *auth, *auth_end, *host, *host_end;
    size_t len = strlen(url);
    long port = 0;

    memset(out, 0, sizeof(*out));
    if (len > MD_OIDC_URL_MAX) {
        snprintf(msg, msgsz, "the URL is longer than %d bytes", MD_OIDC_URL_MAX);
        return MD_OIDC_URL_REFUSED;
    }
    for (p = url; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
            snprintf(msg, msgsz, "the URL contains a space, a control character or a non-ASCII byte");
            return MD_OIDC_URL_REFUSED;
        }
    if (strncmp(url, "https://", 8) == 0) {
        out->https = true;
        auth = url + 8;
    } else if (strncmp(url, "http://", 7) == 0) {
        auth = url + 7;
    } else {
        snprintf(msg, msgsz, "only https:// URLs are fetched (and http:// to a loopback address)");
        return MD_OIDC_URL_REFUSED;
    }
    if (strchr(url, '#') != NULL) {
        snprintf(msg, msgsz, "the URL has a fragment");
        return MD_OIDC_URL_REFUSED;
    }
    auth_end = auth + strcspn(auth, "/?");
    if (memchr(auth, '@', (size_t)(auth_end - auth)) != NULL) {
        snprintf(msg, msgsz, "the URL has user information (user@host)");
        return MD_OIDC_URL_REFUSED;
    }
    if ((size_t)(auth_end - auth) >= sizeof(out->authority)) goto badhost;
    memcpy(out->authority, auth, (size_t)(auth_end - auth));
    if (*auth == '[') {
        host = auth + 1;
        host_end = memchr(host, ']', (size_t)(auth_end - host));
        if (host_end == NULL) goto badhost;
        p = host_end + 1;
    } else {
        host = auth;
        host_end = memchr(auth, ':', (size_t)(auth_end - auth));
        if (host_end == NULL) host_end = auth_end;
        p = host_end;
    }
    if (host_end == host || (size_t)(host_end - host) >= sizeof(out->host)) goto badhost;
    memcpy(out->host, host, (size_t)(host_end - host));
    if (p < auth_end) {
        if (*p != ':' || p + 1 == auth_end) goto badhost;
        for (const char *q = p + 1; q < auth_end; q++) {
            if (*q < '0' || *q > '9' || port > 65535) goto badport;
            port = port * 10 + (*q - '0');
        }
        if (port < 1 || port > 65535) goto badport;
    } else {
        port = out->https ? 443 : 80;
    }
    out->port = (uint16_t)port;
    if (*auth == '[') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&out->addr;
        if (inet_pton(AF_INET6, out->host, &a6->sin6_addr) != 1) goto badhost;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(out->port);
        out->addr_len = sizeof(*a6);
        out->host_is_ip = true;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&out->addr;
        if (inet_pton(AF_INET, out->host, &a4->sin_addr) == 1) {
            a4->sin_family = AF_INET;
            a4->sin_port = htons(out->port);
            out->addr_len = sizeof(*a4);
            out->host_is_ip = true;
        } else {
            /* a DNS name: letters, digits, dots and hyphens */
            for (const char *q = out->host; *q; q++)
                if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
                      *q == '.' || *q == '-'))
                    goto badhost;
            bool digits_only = strspn(out->host, "0123456789.") == strlen(out->host);
            if (digits_only) goto badhost; /* 127.1, 0x7f.1 and friends: not a canonical IPv4 literal */
        }
    }
    if (!out->https && !(out->host_is_ip && loopback_ip(out))) {
        snprintf(
            msg, msgsz,
            "plain http:// is fetched only from a loopback IP address (127.0.0.0/8 or [::1]); use https://");
        return MD_OIDC_URL_REFUSED;
    }
    if (*auth_end == '\0') {
        strcpy(out->target, "/");
    } else if (*auth_end == '?') {
        snprintf(out->target, sizeof(out->target), "/%s", auth_end);
    } else {
        snprintf(out->target, sizeof(out->target), "%s", auth_end);
    }
    return MD_OK;
badport:
    snprintf(msg, msgsz, "the URL's port is not a number in 1..65535");
    return MD_OIDC_URL_REFUSED;
badhost:
    snprintf(msg, msgsz, "the URL's host is not a DNS name or an IP address");
    return MD_OIDC_URL_REFUSED;
}

/* ---------------------------------------------------------------- TLS */

int md_oidc_ssl_ctx_new(const char *ca_file, SSL_CTX **out, md_err_t *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    int rc = MD_EIO;

    *out = NULL;
    if (ctx == NULL) {
        rc = md_err_set(err, MD_ENOMEM, "cannot create a TLS context");
        goto out;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        md_err_set(err, MD_EIO, "cannot set the TLS version");
        goto out;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (ca_file != NULL) {
        if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
            unsigned long e = ERR_peek_last_error();
            md_err_set(err, MD_EIO, "%s: cannot load CA certificates: %s", ca_file,
                       e ? ERR_reason_error_string(e) : "no certificate found");
            goto out;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        md_err_set(err, MD_EIO, "cannot load the system's CA certificates");
        goto out;
    }
    *out = ctx;
    ctx = NULL;
    rc = MD_OK;
out:
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

/* ---------------------------------------------------------------- Cache-Control */

int64_t md_oidc_cache_control_max_age(const char *v, size_t len)
{
    int64_t max_age = -1;
    size_t i = 0;

    while (i < len) {
        size_t start, nlen;
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        start = i;
        while (i < len && v[i] != '=' && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            i++;
        nlen = i - start;
        if ((nlen == 8 && strncasecmp(v + start, "no-store", 8) == 0) ||
            (nlen == 8 && strncasecmp(v + start, "no-cache", 8) == 0))
            return 0;
        if (i < len && v[i] == '=') {
            size_t vs = ++i;
            bool quoted = i < len && v[i] == '"';
            if (quoted) i++;
            while (i < len && v[i] != ',' && v[i] != '"' && v[i] != ' ')
                i++;
            if (nlen == 7 && strncasecmp(v + start, "max-age", 7) == 0 && max_age < 0) {
                int64_t n = 0;
                size_t ds = vs + (quoted ? 1 : 0);
                bool ok = ds < i;
                for (size_t j = ds; j < i && ok; j++) {
                    if (v[j] < '0' || v[j] > '9')
                        ok = false;
                    else if ((n = n * 10 + (v[j] - '0')) >
                             100000000000LL) /* saturate: far beyond any bound */
                        n = 100000000000LL;
                }
                if (ok) max_age = n;
            }
            if (quoted && i < len && v[i] == '"') i++;
        }
        while (i < len && v[i] != ',')
            i++;
    }
    return max_age;
}

/* ---------------------------------------------------------------- the client */

typedef enum http_state {
    ST_STATUS,
    ST_HEADERS,
    ST_BODY_LENGTH,
    ST_BODY_CLOSE,
    ST_CHUNK_SIZE,
    ST_CHUNK_DATA,
    ST_CHUNK_CRLF,
    ST_TRAILERS,
} http_state_t;

struct md_oidc_http_req {
    struct event_base *base; /* borrowed */
    struct bufferevent *bev; /* owned (and, through it, the SSL) */
    struct evdns_base *dns;  /* owned when the host is a name */
    struct event *timer;     /* owned: the deadline */
    SSL *ssl;                /* owned by bev */
    md_oidc_url_t url;
    md_oidc_http_cb cb;
    void *arg;
    size_t max_body;
    http_state_t state;
    int status;
    int64_t content_length; /* -1: none */
    bool chunked;
    int64_t max_age;
    size_t header_bytes;
    int headers;
    uint64_t chunk_left;
    md_buf_t body;
};

void md_oidc_http_resp_free(md_oidc_http_resp_t *r)
{
    if (r == NULL) return;
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

static void req_free(md_oidc_http_req_t *r)
{
    if (r == NULL) return;
    if (r->timer) event_free(r->timer);
    if (r->bev) bufferevent_free(r->bev); /* callbacks are cleared first: none runs after this */
    if (r->dns) evdns_base_free(r->dns, 1);
    md_buf_free(&r->body);
    free(r);
    ERR_clear_error();
}

void md_oidc_http_cancel(md_oidc_http_req_t *r)
{
    req_free(r);
}

static void finish(md_oidc_http_req_t *r, int rc, const md_err_t *err)
{
    md_oidc_http_resp_t resp = {0};
    md_oidc_http_cb cb = r->cb;
    void *arg = r->arg;

    if (rc == MD_OK) {
        resp.status = r->status;
        resp.max_age = r->max_age;
        resp.len = r->body.n;
        resp.body = r->body.p ? r->body.p : strdup("");
        r->body.p = NULL;
        r->body.n = r->body.cap = 0;
        if (resp.body == NULL) {
            md_err_t e = {0};
            md_err_set(&e, MD_ENOMEM, "out of memory");
            req_free(r);
            cb(arg, MD_ENOMEM, NULL, &e);
            return;
        }
    }
    req_free(r);
    cb(arg, rc, rc == MD_OK ? &resp : NULL, err);
    md_oidc_http_resp_free(&resp);
}

static void fail(md_oidc_http_req_t *r, int code, const char *fmt, ...) MD_PRINTF(3, 4);
static void fail(md_oidc_http_req_t *r, int code, const char *fmt, ...)
{
    md_err_t e = {0};
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    md_err_set(&e, code, "%s %s://%s%s: %s", "GET", r->url.https ? "https" : "http", r->url.authority,
               r->url.target, msg);
    finish(r, code, &e);
}

/* Trim optional whitespace around a header value. */
static void trim(const char **v, size_t *n)
{
    while (*n > 0 && (**v == ' ' || **v == '\t')) {
        (*v)++;
        (*n)--;
    }
    while (*n > 0 && ((*v)[*n - 1] == ' ' || (*v)[*n - 1] == '\t'))
        (*n)--;
}

/* One header line; returns false after failing the request. */
static bool header(md_oidc_http_req_t *r, const char *line, size_t n)
{
    const char *colon = memchr(line, ':', n), *v;
    size_t nlen, vlen;

    if (line[0] == ' ' || line[0] == '\t') {
        fail(r, MD_OIDC_FETCH_FAILED, "the response folds a header line (obsolete, refused)");
        return false;
    }
    if (colon == NULL || colon == line) {
        fail(r, MD_OIDC_FETCH_FAILED, "malformed response header");
        return false;
    }
    nlen = (size_t)(colon - line);
    for (size_t i = 0; i < nlen; i++)
        if (line[i] == ' ' || line[i] == '\t') {
            fail(r, MD_OIDC_FETCH_FAILED, "malformed response header name");
            return false;
        }
    v = colon + 1;
    vlen = n - nlen - 1;
    trim(&v, &vlen);
    if (nlen == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
        int64_t cl = 0;
        if (vlen == 0 || vlen > 18) goto badlen;
        for (size_t i = 0; i < vlen; i++) {
            if (v[i] < '0' || v[i] > '9') goto badlen;
            cl = cl * 10 + (v[i] - '0');
        }
        if (r->content_length >= 0 && r->content_length != cl) goto badlen;
        r->content_length = cl;
    } else if (nlen == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
        if (vlen != 7 || strncasecmp(v, "chunked", 7) != 0 || r->chunked) {
            fail(r, MD_OIDC_FETCH_FAILED, "unsupported Transfer-Encoding");
            return false;
        }
        r->chunked = true;
    } else if (nlen == 16 && strncasecmp(line, "Content-Encoding", 16) == 0) {
        if (!(vlen == 8 && strncasecmp(v, "identity", 8) == 0)) {
            fail(r, MD_OIDC_FETCH_FAILED,
                 "the response is compressed (Content-Encoding), which was not asked for");
            return false;
        }
    } else if (nlen == 13 && strncasecmp(line, "Cache-Control", 13) == 0) {
        int64_t ma = md_oidc_cache_control_max_age(v, vlen);
        if (ma >= 0 && (r->max_age < 0 || ma < r->max_age)) r->max_age = ma;
    }
    return true;
badlen:
    fail(r, MD_OIDC_FETCH_FAILED, "bad Content-Length");
    return false;
}

/* The response head is complete: decide how the body is framed. */
static bool head_done(md_oidc_http_req_t *r)
{
    if (r->status != 200) {
        if (r->status >= 300 && r->status < 400)
            fail(r, MD_OIDC_FETCH_FAILED, "HTTP %d: redirects are not followed", r->status);
        else
            fail(r, MD_OIDC_FETCH_FAILED, "HTTP %d", r->status);
        return false;
    }
    if (r->chunked && r->content_length >= 0) {
        fail(r, MD_OIDC_FETCH_FAILED, "both Content-Length and Transfer-Encoding (refused)");
        return false;
    }
    if (r->content_length >= 0 && (uint64_t)r->content_length > r->max_body) {
        fail(r, MD_OIDC_FETCH_FAILED, "the document is larger than %zu bytes", r->max_body);
        return false;
    }
    r->state = r->chunked ? ST_CHUNK_SIZE : r->content_length >= 0 ? ST_BODY_LENGTH : ST_BODY_CLOSE;
    return true;
}

/* Read a CRLF line into buf (NUL-terminated).  1: got one; 0: need more; -1: failed the request. */
static int read_line(md_oidc_http_req_t *r, struct evbuffer *in, char *buf, size_t bufsz, size_t *n)
{
    size_t len;
    char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF_STRICT);
    if (line == NULL) {
        if (evbuffer_get_length(in) > HTTP_MAX_LINE) {
            fail(r, MD_OIDC_FETCH_FAILED, "a response line is longer than %d bytes", HTTP_MAX_LINE);
            return -1;
        }
        return 0;
    }
    if (len >= bufsz || memchr(line, '\0', len) != NULL) {
        free(line);
        fail(r, MD_OIDC_FETCH_FAILED, "a response line is too long or holds a NUL byte");
        return -1;
    }
    memcpy(buf, line, len + 1);
    free(line);
    *n = len;
    r->header_bytes += len + 2;
    return 1;
}

static bool body_add(md_oidc_http_req_t *r, struct evbuffer *in, size_t n)
{
    if (r->body.n + n > r->max_body) {
        fail(r, MD_OIDC_FETCH_FAILED, "the document is larger than %zu bytes", r->max_body);
        return false;
    }
    size_t old = r->body.n;
    /* grow, then copy straight from the evbuffer */
    if (r->body.cap < old + n + 1) {
        size_t cap = r->body.cap ? r->body.cap : 256;
        while (cap < old + n + 1)
            cap *= 2;
        char *p = realloc(r->body.p, cap);
        if (p == NULL) goto oom;
        r->body.p = p;
        r->body.cap = cap;
    }
    if (evbuffer_remove(in, r->body.p + old, n) != (int)n) {
        fail(r, MD_OIDC_FETCH_FAILED, "read error");
        return false;
    }
    r->body.n = old + n;
    r->body.p[r->body.n] = '\0';
    return true;
oom:
    fail(r, MD_ENOMEM, "out of memory");
    return false;
}

/* Consume what is in the input buffer.  Returns false once the request has ended (done or failed). */
static bool process(md_oidc_http_req_t *r)
{
    struct evbuffer *in = bufferevent_get_input(r->bev);
    char line[HTTP_MAX_LINE + 1];
    size_t n = 0;
    int got;

    for (;;) {
        switch (r->state) {
        case ST_STATUS:
            if ((got = read_line(r, in, line, sizeof(line), &n)) <= 0) return got == 0;
            if (n < 12 || strncmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') ||
                line[8] != ' ' || line[9] < '1' || line[9] > '5' || line[10] < '0' || line[10] > '9' ||
                line[11] < '0' || line[11] > '9' || (n > 12 && line[12] != ' ')) {
                fail(r, MD_OIDC_FETCH_FAILED, "not an HTTP/1.x response");
                return false;
            }
            r->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
            r->state = ST_HEADERS;
            break;
        case ST_HEADERS:
            if ((got = read_line(r, in, line, sizeof(line), &n)) <= 0) return got == 0;
            if (r->header_bytes > HTTP_MAX_HEADER_BYTES || ++r->headers > HTTP_MAX_HEADERS) {
                fail(r, MD_OIDC_FETCH_FAILED, "the response head is too large");
                return false;
            }
            if (n == 0) {
                if (!head_done(r)) return false;
                break;
            }
            if (!header(r, line, n)) return false;
            break;
        case ST_BODY_LENGTH: {
            size_t want = (size_t)r->content_length - r->body.n, have = evbuffer_get_length(in);
            size_t take = have < want ? have : want;
            if (take > 0 && !body_add(r, in, take)) return false;
            if (r->body.n == (size_t)r->content_length) {
                finish(r, MD_OK, NULL);
                return false;
            }
            return true;
        }
        case ST_BODY_CLOSE: {
            size_t have = evbuffer_get_length(in);
            if (have > 0 && !body_add(r, in, have)) return false;
            return true; /* ends at EOF */
        }
        case ST_CHUNK_SIZE: {
            uint64_t size = 0;
            size_t i = 0;
            if ((got = read_line(r, in, line, sizeof(line), &n)) <= 0) return got == 0;
            for (; i < n && i < 16; i++) {
                char c = line[i];
                int d = c >= '0' && c <= '9'   ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                               : -1;
                if (d < 0) break;
                size = size * 16 + (uint64_t)d;
            }
            if (i == 0 || (i < n && line[i] != ';' && line[i] != ' ' && line[i] != '\t') || i >= 16) {
                fail(r, MD_OIDC_FETCH_FAILED, "bad chunk size");
                return false;
            }
            if (size > r->max_body || r->body.n + size > r->max_body) {
                fail(r, MD_OIDC_FETCH_FAILED, "the document is larger than %zu bytes", r->max_body);
                return false;
            }
            r->chunk_left = size;
            r->state = size == 0 ? ST_TRAILERS : ST_CHUNK_DATA;
            if (size == 0)
                r->header_bytes = 0; /* trailers get their own budget; chunk lines are not headers */
            break;
        }
        case ST_CHUNK_DATA: {
            size_t have = evbuffer_get_length(in);
            size_t take = have < r->chunk_left ? have : (size_t)r->chunk_left;
            if (take > 0 && !body_add(r, in, take)) return false;
            r->chunk_left -= take;
            if (r->chunk_left > 0) return true;
            r->state = ST_CHUNK_CRLF;
            break;
        }
        case ST_CHUNK_CRLF:
            if ((got = read_line(r, in, line, sizeof(line), &n)) <= 0) return got == 0;
            if (n != 0) {
                fail(r, MD_OIDC_FETCH_FAILED, "a chunk does not end with CRLF");
                return false;
            }
            r->state = ST_CHUNK_SIZE;
            break;
        case ST_TRAILERS:
            if ((got = read_line(r, in, line, sizeof(line), &n)) <= 0) return got == 0;
            if (r->header_bytes > HTTP_MAX_HEADER_BYTES) {
                fail(r, MD_OIDC_FETCH_FAILED, "the response trailers are too large");
                return false;
            }
            if (n == 0) {
                finish(r, MD_OK, NULL);
                return false;
            }
            break;
        }
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    (void)process(arg);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    md_oidc_http_req_t *r = arg;

    if (what & BEV_EVENT_CONNECTED) return;
    if (what & BEV_EVENT_EOF) {
        if (!process(r)) return;
        if (r->state == ST_BODY_CLOSE) {
            finish(r, MD_OK, NULL);
            return;
        }
        fail(r, MD_OIDC_FETCH_FAILED, "the connection closed before the response was complete");
        return;
    }
    if (what & BEV_EVENT_ERROR) {
        int dns_err = bufferevent_socket_get_dns_error(bev);
        unsigned long ssl_err = r->ssl ? bufferevent_get_openssl_error(bev) : 0;
        int sock_err = EVUTIL_SOCKET_ERROR();
        if (dns_err != 0) {
            fail(r, MD_OIDC_FETCH_FAILED, "cannot resolve %s: %s", r->url.host, evutil_gai_strerror(dns_err));
        } else if (r->ssl != NULL && SSL_get_verify_result(r->ssl) != X509_V_OK) {
            fail(r, MD_OIDC_FETCH_FAILED, "TLS: the server's certificate is not trusted: %s",
                 X509_verify_cert_error_string(SSL_get_verify_result(r->ssl)));
        } else if (ssl_err != 0) {
            char buf[256];
            ERR_error_string_n(ssl_err, buf, sizeof(buf));
            fail(r, MD_OIDC_FETCH_FAILED, "TLS: %s", buf);
        } else {
            fail(r, MD_OIDC_FETCH_FAILED, "%s",
                 sock_err ? evutil_socket_error_to_string(sock_err) : "I/O error");
        }
    }
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    md_oidc_http_req_t *r = arg;
    fail(r, MD_OIDC_FETCH_FAILED, "no complete answer within the deadline");
}

int md_oidc_http_get(struct event_base *base, const md_oidc_http_opts_t *opts, const char *url,
                     md_oidc_http_cb cb, void *arg, md_oidc_http_req_t **out, md_err_t *err)
{
    md_oidc_http_req_t *r = NULL;
    char msg[300];
    int rc;
    struct timeval tv;
    const int bev_opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;

    *out = NULL;
    if ((r = calloc(1, sizeof(*r))) == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
    md_buf_init(&r->body);
    r->base = base;
    r->cb = cb;
    r->arg = arg;
    r->max_body = opts->max_body ? opts->max_body : MD_OIDC_DOC_MAX;
    r->content_length = -1;
    r->max_age = -1;
    if ((rc = md_oidc_url_parse(url, &r->url, msg, sizeof(msg))) != MD_OK) {
        md_err_set(err, rc, "%s", msg);
        goto fail;
    }
    if (r->url.https) {
        if (opts->ssl_ctx == NULL) {
            rc = md_err_set(err, MD_OIDC_FETCH_FAILED, "no TLS context for an https:// URL");
            goto fail;
        }
        if ((r->ssl = SSL_new(opts->ssl_ctx)) == NULL) goto oom;
        X509_VERIFY_PARAM *vp = SSL_get0_param(r->ssl);
        X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (r->url.host_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, r->url.host) != 1
                              : (X509_VERIFY_PARAM_set1_host(vp, r->url.host, 0) != 1 ||
                                 SSL_set_tlsext_host_name(r->ssl, r->url.host) != 1)) {
            SSL_free(r->ssl);
            r->ssl = NULL;
            rc = md_err_set(err, MD_OIDC_FETCH_FAILED, "cannot set up TLS host verification for %s",
                            r->url.host);
            goto fail;
        }
        r->bev = bufferevent_openssl_socket_new(base, -1, r->ssl, BUFFEREVENT_SSL_CONNECTING, bev_opts);
        if (r->bev == NULL) {
            SSL_free(r->ssl);
            r->ssl = NULL;
            goto oom;
        }
        bufferevent_openssl_set_allow_dirty_shutdown(r->bev,
                                                     1); /* bodies are length-checked or parsed whole */
    } else {
        r->bev = bufferevent_socket_new(base, -1, bev_opts);
        if (r->bev == NULL) goto oom;
    }
    bufferevent_setcb(r->bev, on_read, NULL, on_event, r);
    bufferevent_setwatermark(r->bev, EV_READ, 0, 64 * 1024);
    if (bufferevent_enable(r->bev, EV_READ | EV_WRITE) != 0) goto oom;
    if (evbuffer_add_printf(
            bufferevent_get_output(r->bev),
            "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json, application/jwk-set+json\r\n"
            "User-Agent: mandate-oidc/1\r\nConnection: close\r\n\r\n",
            r->url.target, r->url.authority) < 0)
        goto oom;
    if ((r->timer = evtimer_new(base, on_deadline, r)) == NULL) goto oom;
    tv.tv_sec = (time_t)(opts->timeout_ms / 1000);
    tv.tv_usec = (suseconds_t)((opts->timeout_ms % 1000) * 1000);
    if (evtimer_add(r->timer, &tv) != 0) goto oom;
    if (r->url.host_is_ip) {
        if (bufferevent_socket_connect(r->bev, (struct sockaddr *)&r->url.addr, (int)r->url.addr_len) != 0) {
            rc = md_err_set(err, MD_OIDC_FETCH_FAILED, "cannot connect to %s: %s", r->url.authority,
                            evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
            goto fail;
        }
    } else {
        r->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
        if (r->dns == NULL) {
            rc = md_err_set(err, MD_OIDC_FETCH_FAILED, "no DNS resolver (read /etc/resolv.conf)");
            goto fail;
        }
        if (bufferevent_socket_connect_hostname(r->bev, r->dns, AF_UNSPEC, r->url.host, r->url.port) != 0) {
            rc = md_err_set(err, MD_OIDC_FETCH_FAILED, "cannot resolve or connect to %s", r->url.authority);
            goto fail;
        }
    }
    *out = r;
    return MD_OK;
oom:
    rc = md_err_set(err, MD_ENOMEM, "out of memory");
fail:
    req_free(r);
    return rc;
}

typedef struct blocking_get {
    bool done;
    int rc;
    md_oidc_http_resp_t *resp;
    md_err_t *err;
} blocking_get_t;

static void blocking_done(void *arg, int rc, md_oidc_http_resp_t *resp, const md_err_t *err)
{
    blocking_get_t *b = arg;
    b->done = true;
    b->rc = rc;
    if (rc == MD_OK) {
        *b->resp = *resp;
        resp->body = NULL;
    } else if (err != NULL) {
        md_err_set(b->err, err->code, "%s", err->msg);
    }
}

int md_oidc_http_get_blocking(const md_oidc_http_opts_t *opts, const char *url, md_oidc_http_resp_t *resp,
                              md_err_t *err)
{
    struct event_base *base = event_base_new();
    blocking_get_t b = {false, MD_OIDC_FETCH_FAILED, resp, err};
    md_oidc_http_req_t *r = NULL;
    int rc;

    if (base == NULL) return md_err_set(err, MD_ENOMEM, "cannot create an event loop");
    rc = md_oidc_http_get(base, opts, url, blocking_done, &b, &r, err);
    if (rc == MD_OK) {
        while (!b.done && event_base_loop(base, EVLOOP_ONCE) == 0) {}
        if (!b.done) { /* the loop failed: cannot happen while the request has its timer */
            md_oidc_http_cancel(r);
            md_err_set(err, MD_OIDC_FETCH_FAILED, "event loop error");
        }
        rc = b.done ? b.rc : MD_OIDC_FETCH_FAILED;
    }
    event_base_free(base);
    return rc;
}
