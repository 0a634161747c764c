/*
 * http.c: HTTP/1.1 connections on libevent bufferevents (plain or TLS).
 *
 * Owns each connection's life: accepting within limits.max_connections,
 * reading and strictly parsing the request head and body, deadlines,
 * dispatching to the router, writing the answer, keep-alive and pipelining,
 * lingering close after an early error, and graceful stop.
 *
 * Why not evhttp: libevent 2.1's evhttp answers malformed requests, bodies
 * over the limit and unknown methods itself, with HTML bodies (no error
 * callback before 2.2); its timeouts are inactivity timeouts (a client
 * trickling one byte per interval is never cut off); and it has no hook to
 * count connections.  Each of those is a requirement here, so the framing is
 * ours, on the same bufferevents evhttp would use.
 *
 * Parsing is strict (RFC 9112): CRLF line ends only, no obs-fold, no space
 * before a header's colon, no control characters in values, origin-form
 * targets only, exactly one Host (HTTP/1.1), Content-Length digits only and
 * at most once, Transfer-Encoding "chunked" only and never together with
 * Content-Length; chunk lines as RFC 9112 §7.1 spells them and trailer
 * fields under the rules of header fields.  Anything else is answered
 * 4xx/5xx with a JSON body and the connection closed: the framing can no
 * longer be trusted.
 *
 * A request is routed, method-checked and (admin routes) authenticated on
 * its head alone, before any of its body is read or 100 Continue is sent.
 *
 * Invariants:
 * - a connection is touched only by its worker thread;
 * - a connection always has a deadline: header_timeout while idle or reading
 *   the head, body_timeout while reading the body and again while writing
 *   the answer, MD_HTTP_LINGER_MS while lingering (BUSY, the handler's
 *   synchronous run, ends in an answer and so in WRITE);
 * - only libevent callbacks (read, write, event, timer) free a connection;
 *   the functions they call never do, so no code runs on a freed one;
 * - every request holds a reference to the snapshot it started under until
 *   its answer has been written;
 * - the request head and body are wiped before the arena is reused.
 */
#include "server/server_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/crypto.h>

#include "core/json.h"

#if LIBEVENT_VERSION_NUMBER < 0x02010000
#error "libevent 2.1 or later: md_http_accept relies on how it frees an SSL when a bufferevent cannot be made"
#endif
#include "core/log.h"
#include "server/metrics.h"

#define BUSY_BODY "{\"error\":\"service_unavailable\",\"message\":\"too many connections\"}"
#define BUSY_RESPONSE                                                                                        \
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"            \
    "Retry-After: 1\r\nContent-Length: 64\r\n\r\n" BUSY_BODY
_Static_assert(sizeof(BUSY_BODY) - 1 == 64, "Content-Length of BUSY_RESPONSE");

static const char oom_body[] = "{\"error\":\"service_unavailable\",\"message\":\"out of memory\"}";

uint64_t md_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const char *reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

/* RFC 9110 token characters */
static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool str_caseeq(md_str_t a, const char *b)
{
    size_t n = strlen(b);
    return a.n == n && strncasecmp(a.p, b, n) == 0;
}

/* ---- request accessors ---- */

md_str_t md_http_header(const md_http_req_t *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (str_caseeq(req->headers[i].name, name)) return req->headers[i].value;
    return MD_STR_NULL;
}

size_t md_http_header_count(const md_http_req_t *req, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < req->nheaders; i++)
        if (str_caseeq(req->headers[i].name, name)) n++;
    return n;
}

md_str_t md_http_param(const md_http_req_t *req, const char *name)
{
    for (size_t i = 0; i < req->nparams; i++)
        if (md_str_eqc(req->params[i].name, name)) return req->params[i].value;
    return MD_STR_NULL;
}

int md_http_add_header(md_http_req_t *req, const char *name, const char *value)
{
    if (req->nresp_headers == MD_HTTP_RESP_HEADERS_MAX) return -1;
    req->resp_headers[req->nresp_headers][0] = name;
    req->resp_headers[req->nresp_headers][1] = value;
    req->nresp_headers++;
    return 0;
}

/* ---- deadlines and connection state ---- */

static void set_deadline(md_conn_t *c, int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    if (evtimer_add(c->timer, &tv) != 0) {
        /* without a deadline the connection could be held forever: drop it */
        c->state = MD_CONN_CLOSING;
        event_active(c->timer, EV_TIMEOUT, 0);
    }
}

/* Have the loop free the connection soon (from a callback, never here). */
static void conn_abort(md_conn_t *c)
{
    c->state = MD_CONN_CLOSING;
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    event_active(c->timer, EV_TIMEOUT, 0);
}

static const char *worker_date(md_worker_t *w)
{
    time_t now = time(NULL);
    if (now != w->date_at) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(w->date, sizeof(w->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        w->date_at = now;
    }
    return w->date;
}

/* Start a request on its first byte: reference the worker's snapshot, name it. */
static void req_begin(md_conn_t *c)
{
    md_worker_t *w = c->w;
    md_http_req_t *r = &c->req;

    memset(r, 0, sizeof(*r));
    r->arena = &c->arena;
    r->snap = md_snapshot_ref(w->snap);
    r->store = w->store;
    r->srv = w->srv;
    r->conn = c;
    r->peer = c->peer;
    r->workload = c->workload;
    r->peer_fd = bufferevent_getfd(c->bev);
    r->route_index = md_nroutes; /* "unmatched" until routed */
    r->started_ns = md_now_ns();
    r->body = (md_str_t){"", 0};
    snprintf(r->id, sizeof(r->id), "%08x%08x", w->rid_prefix, ++w->rid_seq);
    c->max_body = r->snap->config->max_body;
}

/* Forget the request: wipe what the client sent, release the snapshot and the arena. */
static void req_end(md_conn_t *c)
{
    if (c->head != NULL) OPENSSL_cleanse(c->head, c->head_len);
    if (c->body != NULL) OPENSSL_cleanse(c->body, c->body_len);
    md_snapshot_unref(c->req.snap);
    if (c->req.keys_held) md_keys_view_unref(c->req.keys);
    memset(&c->req, 0, sizeof(c->req));
    c->head = NULL;
    c->head_len = 0;
    c->body = NULL;
    c->body_len = c->body_cap = 0;
    c->body_mode = MD_BODY_NONE;
    c->chunk_state = MD_CHUNK_SIZE;
    c->body_left = 0;
    c->trailer_bytes = 0;
    c->scan = 0;
    c->expect_continue = false;
    md_arena_reset(&c->arena);
}

void md_http_conn_free(md_conn_t *c)
{
    md_worker_t *w;
    if (c == NULL) return;
    w = c->w;
    if (c->req.deferred) { /* the handler's callback must never find this request */
        md_http_cancel_fn cancel = c->req.cancel;
        c->req.deferred = false;
        cancel(c->req.cancel_arg);
    }
    req_end(c);
    if (c->timer) event_free(c->timer);
    if (c->bev) bufferevent_free(c->bev);
    md_arena_free(&c->arena);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    w->nconns--;
    atomic_fetch_sub(&w->srv->nconns, 1);
    free(c);
    if (w->stopping && w->nconns == 0) event_base_loopexit(w->base, NULL);
}

/* ---- answers ---- */

static void access_log(md_http_req_t *r)
{
    double ms = (double)(md_now_ns() - r->started_ns) / 1e6;
    md_log(MD_LOG_INFO, r->id, "request method=%.*s path=%.*s status=%d bytes=%zu duration_ms=%.3f peer=%s",
           r->method.n ? (int)r->method.n : 1, r->method.n ? r->method.p : "-",
           r->path.n ? (int)(r->path.n > 512 ? 512 : r->path.n) : 1, r->path.n ? r->path.p : "-", r->status,
           r->resp_bytes, ms, r->peer ? r->peer : "-");
}

/* Queue one answer.  After this the connection is in WRITE (or CLOSING when memory ran out). */
static void send_answer(md_conn_t *c, int status, const char *ctype, const void *body, size_t n)
{
    md_http_req_t *r = &c->req;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    bool ok = true, nobody = status < 200 || status == 204 || status == 304;

    if (r->replied) {
        md_log(MD_LOG_ERROR, r->id, "a second answer (%d) to one request was dropped", status);
        return;
    }
    r->replied = true;
    r->deferred = false;
    r->status = status;
    r->resp_bytes = nobody ? 0 : n;
    if (c->w->stopping) c->close_after = true;

    ok = evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status, reason(status),
                             worker_date(c->w)) >= 0;
    if (ok && ctype != NULL && !nobody) ok = evbuffer_add_printf(out, "Content-Type: %s\r\n", ctype) >= 0;
    if (ok && !nobody) ok = evbuffer_add_printf(out, "Content-Length: %zu\r\n", n) >= 0;
    /* no-store unless the handler chose its own caching (public keys, metadata) */
    bool own_cache = false;
    for (size_t i = 0; i < r->nresp_headers; i++)
        if (strcasecmp(r->resp_headers[i][0], "Cache-Control") == 0) own_cache = true;
    if (ok)
        ok = evbuffer_add_printf(out, "X-Request-Id: %s\r\n%sX-Content-Type-Options: nosniff\r\n", r->id,
                                 own_cache ? "" : "Cache-Control: no-store\r\n") >= 0;
    for (size_t i = 0; ok && i < r->nresp_headers; i++)
        ok = evbuffer_add_printf(out, "%s: %s\r\n", r->resp_headers[i][0], r->resp_headers[i][1]) >= 0;
    if (ok && c->close_after) ok = evbuffer_add(out, "Connection: close\r\n", 19) == 0;
    if (ok) ok = evbuffer_add(out, "\r\n", 2) == 0;
    if (ok && !nobody && !r->head_only && n > 0) ok = evbuffer_add(out, body, n) == 0;

    md_metrics_http(r->route_index, status, md_now_ns() - r->started_ns);
    access_log(r);
    if (!ok) {
        md_log(MD_LOG_WARN, r->id, "out of memory queueing the answer; closing the connection");
        conn_abort(c);
        return;
    }
    c->state = MD_CONN_WRITE;
    bufferevent_disable(c->bev, EV_READ);
    bufferevent_enable(c->bev, EV_WRITE);
    /*
     * The answer must be written within body_timeout, whatever the peer does:
     * one that stops reading, or a TLS peer that closed (libevent's OpenSSL
     * bufferevent stops writing after EOF, so the write would never finish),
     * must not hold the connection.  Replaces the head or body deadline.
     */
    set_deadline(c, (r->snap ? r->snap : c->w->snap)->config->body_timeout);
}

void md_http_reply(md_http_req_t *req, int status, const char *ctype, const void *body, size_t n)
{
    send_answer(req->conn, status, ctype, body, n);
}

void md_http_error_oom(md_http_req_t *req)
{
    send_answer(req->conn, 503, "application/json", oom_body, sizeof(oom_body) - 1);
}

static void verror(md_http_req_t *req, int status, const char *code, const char *fmt, va_list ap)
{
    char msg[512];
    md_buf_t b;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    /* messages may quote client input, and truncation may split a character: keep it valid UTF-8 */
    for (size_t i = 0, n = strlen(msg); i < n;) {
        size_t at = i;
        if (md_utf8_next(msg, n, &i) < 0) {
            msg[at] = '?';
            i = at + 1;
        }
    }
    md_buf_init(&b);
    md_buf_adds(&b, "{\"error\":");
    md_buf_add_json_str(&b, md_str_c(code));
    md_buf_adds(&b, ",\"message\":");
    md_buf_add_json_str(&b, md_str_c(msg));
    md_buf_addc(&b, '}');
    if (b.oom)
        md_http_error_oom(req);
    else
        send_answer(req->conn, status, "application/json", b.p, b.n);
    md_buf_free(&b);
}

void md_http_error(md_http_req_t *req, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(req, status, code, fmt, ap);
    va_end(ap);
}

void md_http_reply_json(md_http_req_t *req, int status, const json_t *doc)
{
    size_t n = json_dumpb(doc, NULL, 0, JSON_COMPACT);
    char *buf = n ? md_arena_alloc(req->arena, n) : NULL;
    if (buf == NULL || json_dumpb(doc, buf, n, JSON_COMPACT) != n) {
        md_http_error_oom(req);
        return;
    }
    send_answer(req->conn, status, "application/json", buf, n);
}

/* "application/json", optionally with parameters ("; charset=utf-8"). */
static bool is_json_media_type(md_str_t v)
{
    size_t n = 0;
    while (n < v.n && v.p[n] != ';' && v.p[n] != ' ' && v.p[n] != '\t')
        n++;
    return str_caseeq((md_str_t){v.p, n}, "application/json");
}

json_t *md_http_json_body(md_http_req_t *req)
{
    json_error_t je;
    json_t *doc;
    md_str_t ct = md_http_header(req, "content-type");

    if (ct.p == NULL || !is_json_media_type(ct)) {
        md_http_error(req, 415, "unsupported_media_type", "send the body as Content-Type: application/json");
        return NULL;
    }
    if (req->body.n == 0) {
        md_http_error(req, 400, "bad_request", "the request body must be a JSON object");
        return NULL;
    }
    doc = md_json_loadb(req->body.p, req->body.n, &je);
    if (doc == NULL) {
        if (json_error_code(&je) == json_error_out_of_memory)
            md_http_error_oom(req);
        else
            md_http_error(req, 400, "bad_request", "malformed JSON at line %d, column %d: %s", je.line,
                          je.column, je.text);
        return NULL;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        md_http_error(req, 400, "bad_request", "the request body must be a JSON object");
        return NULL;
    }
    return doc;
}

/* An error found while reading the request: answer it and close, since the framing is lost. */
static void fail(md_conn_t *c, int status, const char *code, const char *fmt, ...) MD_PRINTF(4, 5);
static void fail(md_conn_t *c, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    if (c->req.snap == NULL) req_begin(c);
    c->close_after = true;
    c->linger = true;
    va_start(ap, fmt);
    verror(&c->req, status, code, fmt, ap);
    va_end(ap);
}

/* ---- routing and dispatch ---- */

/*
 * Route the request as soon as its head is parsed, before any of its body
 * is read or 100 Continue is sent: an unknown route (404), a method the
 * route does not take (405) or an admin route without the admin token (401)
 * is answered at once, so nobody can make the server buffer a body (up to
 * limits.max_body, on every connection) for a request it will refuse.  When
 * a body was announced, the answer closes the connection (the unread body
 * would be taken for the next request) after a bounded linger.  Returns
 * true when the request may go on; false after answering.
 */
static bool route(md_conn_t *c)
{
    md_http_req_t *r = &c->req;
    md_server_t *srv = c->w->srv;
    size_t idx = 0;
    char allow[128];
    bool close_after = c->close_after, linger = c->linger;

    if (c->body_mode != MD_BODY_NONE) {
        c->close_after = true;
        c->linger = true;
    }
    r->head_only = md_str_eqc(r->method, "HEAD");
    switch (md_router_match(&srv->router, r, &idx, allow, sizeof(allow))) {
    case MD_ROUTER_NOT_FOUND: md_http_error(r, 404, "not_found", "no such endpoint"); return false;
    case MD_ROUTER_BAD_METHOD: {
        char *a = md_arena_memdup(r->arena, allow, strlen(allow));
        if (a == NULL) {
            md_http_error_oom(r);
            return false;
        }
        md_http_add_header(r, "Allow", a);
        md_http_error(r, 405, "method_not_allowed", "this endpoint allows %s", a);
        return false;
    }
    case MD_ROUTER_BAD_PARAM:
        md_http_error(r, 400, "bad_request", "a path segment is badly percent-encoded");
        return false;
    case MD_ROUTER_NOMEM: md_http_error_oom(r); return false;
    default: break;
    }
    r->route_index = idx;
    r->route = md_routes[idx].pattern;
    if ((md_routes[idx].flags & MD_ROUTE_ADMIN) && !md_admin_authorized(r)) return false; /* answered 401 */
    c->close_after = close_after;
    c->linger = linger;
    return true;
}

/* Run the routed request's handler once its body is complete. */
static void dispatch(md_conn_t *c)
{
    md_http_req_t *r = &c->req;

    c->state = MD_CONN_BUSY;
    evtimer_del(c->timer);
    bufferevent_disable(c->bev, EV_READ);
    if (c->body != NULL) r->body = (md_str_t){c->body, c->body_len};
    /* the worker's current view, taken only now: it may have been swapped while the body arrived */
    r->keys = c->w->keys;
    md_routes[r->route_index].handler(r);
    if (r->deferred && !r->replied) return; /* md_http_defer() set the deadline */
    if (!r->replied) {
        md_log(MD_LOG_ERROR, r->id, "handler for %s returned without answering", r->route);
        md_http_error(r, 500, "internal_error", "the handler did not answer");
    }
}

void md_http_defer(md_http_req_t *req, int64_t timeout_ms, md_http_cancel_fn cancel, void *arg)
{
    md_conn_t *c = req->conn;
    req->deferred = true;
    req->keys_held = true; /* the worker may swap its view before the answer */
    md_keys_view_ref(req->keys);
    req->cancel = cancel;
    req->cancel_arg = arg;
    set_deadline(c, timeout_ms);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

int md_http_form_value(md_http_req_t *req, const char *name, md_str_t *out)
{
    md_str_t ct = md_http_header(req, "Content-Type"), b = req->body;
    size_t nl = strlen(name), ml = strlen("application/x-www-form-urlencoded");
    const char *found = NULL;
    size_t flen = 0;

    if (ct.p == NULL || ct.n < ml || strncasecmp(ct.p, "application/x-www-form-urlencoded", ml) != 0 ||
        (ct.n > ml && ct.p[ml] != ';' && ct.p[ml] != ' ')) {
        md_http_error(req, 415, "unsupported_media_type",
                      "the body must be application/x-www-form-urlencoded");
        return -1;
    }
    for (size_t i = 0; i < b.n;) {
        size_t e = i;
        while (e < b.n && b.p[e] != '&')
            e++;
        if (e - i >= nl + 1 && memcmp(b.p + i, name, nl) == 0 && b.p[i + nl] == '=') {
            if (found != NULL) {
                md_http_error(req, 400, "invalid_request", "`%s` is given more than once", name);
                return -1;
            }
            found = b.p + i + nl + 1;
            flen = e - i - nl - 1;
        }
        i = e + 1;
    }
    if (found == NULL || flen == 0) {
        md_http_error(req, 400, "invalid_request", "`%s` is required", name);
        return -1;
    }
    char *v = md_arena_alloc(req->arena, flen + 1);
    size_t k = 0;
    if (v == NULL) {
        md_http_error_oom(req);
        return -1;
    }
    for (size_t i = 0; i < flen; i++) {
        char c = found[i];
        if (c == '+')
            c = ' ';
        else if (c == '%') {
            int hi = i + 2 < flen ? hexval(found[i + 1]) : -1;
            int lo = i + 2 < flen ? hexval(found[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                md_http_error(req, 400, "invalid_request", "`%s` is badly percent-encoded", name);
                return -1;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        v[k++] = c;
    }
    v[k] = '\0';
    *out = (md_str_t){v, k};
    return 0;
}

/* ---- reading the request ---- */

/* Parse the head in c->head.  Returns 0 when the request may go on, -1 after answering. */
static int parse_request(md_conn_t *c)
{
    md_http_req_t *r = &c->req;
    char *h = c->head;
    size_t n = c->head_len, i = 0, s, lines = 0;
    size_t nhost = 0, ncl = 0, nte = 0, nexpect = 0;
    md_str_t cl = MD_STR_NULL, te = MD_STR_NULL, expect = MD_STR_NULL, target;

    /* request-line = method SP request-target SP HTTP-version CRLF */
    while (is_tchar((unsigned char)h[i]))
        i++;
    if (i == 0 || i > 32 || h[i] != ' ') goto bad_line;
    r->method = (md_str_t){h, i};
    s = ++i;
    while ((unsigned char)h[i] > 0x20 && (unsigned char)h[i] < 0x7f)
        i++;
    if (i == s || h[i] != ' ') goto bad_line;
    target = (md_str_t){h + s, i - s};
    i++;
    if (n - i >= 10 && memcmp(h + i, "HTTP/", 5) == 0 && h[i + 5] >= '0' && h[i + 5] <= '9' &&
        h[i + 6] == '.' && h[i + 7] >= '0' && h[i + 7] <= '9' && h[i + 8] == '\r') {
        if (h[i + 5] != '1') {
            fail(c, 505, "http_version_not_supported", "only HTTP/1.1 (and 1.0) is spoken here");
            return -1;
        }
        r->version_minor = h[i + 7] - '0' > 1 ? 1 : h[i + 7] - '0';
        i += 10;
    } else {
        goto bad_line;
    }
    if (target.p[0] != '/') {
        fail(c, 400, "bad_request", "the request target must be an absolute path");
        return -1;
    }
    if (memchr(target.p, '#', target.n) != NULL) {
        fail(c, 400, "bad_request", "the request target must not contain a fragment");
        return -1;
    }
    {
        const char *q = memchr(target.p, '?', target.n);
        r->path = (md_str_t){target.p, q ? (size_t)(q - target.p) : target.n};
        r->query = q ? (md_str_t){q + 1, target.n - r->path.n - 1} : (md_str_t){"", 0};
    }

    /* header fields: the scan guaranteed CRLF line ends and a final empty line */
    for (size_t k = i; k + 1 < n; k++)
        if (h[k] == '\r') lines++;
    if (lines > MD_HTTP_HEADERS_MAX + 1) {
        fail(c, 431, "request_header_fields_too_large", "more than %d header fields", MD_HTTP_HEADERS_MAX);
        return -1;
    }
    r->headers = md_arena_alloc(&c->arena, (lines ? lines : 1) * sizeof(*r->headers));
    if (r->headers == NULL) {
        fail(c, 503, "service_unavailable", "out of memory");
        return -1;
    }
    for (;;) {
        md_str_t name, value;
        size_t e;
        if (h[i] == '\r') { /* the empty line */
            i += 2;
            break;
        }
        if (h[i] == ' ' || h[i] == '\t') {
            fail(c, 400, "bad_request", "obsolete line folding in header fields is not accepted");
            return -1;
        }
        s = i;
        while (is_tchar((unsigned char)h[i]))
            i++;
        if (i == s || h[i] != ':') {
            fail(c, 400, "bad_request", "malformed header field (line %zu of the head)", r->nheaders + 2);
            return -1;
        }
        name = (md_str_t){h + s, i - s};
        i++;
        while (h[i] == ' ' || h[i] == '\t')
            i++;
        s = i;
        while (h[i] != '\r') {
            unsigned char ch = (unsigned char)h[i];
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
                fail(c, 400, "bad_request", "a header value contains a control character");
                return -1;
            }
            i++;
        }
        e = i;
        while (e > s && (h[e - 1] == ' ' || h[e - 1] == '\t'))
            e--;
        value = (md_str_t){h + s, e - s};
        i += 2;
        if (r->nheaders == lines) break; /* cannot happen: counted above */
        r->headers[r->nheaders].name = name;
        r->headers[r->nheaders].value = value;
        r->nheaders++;

        if (str_caseeq(name, "host"))
            nhost++;
        else if (str_caseeq(name, "content-length")) {
            ncl++;
            cl = value;
        } else if (str_caseeq(name, "transfer-encoding")) {
            nte++;
            te = value;
        } else if (str_caseeq(name, "expect")) {
            nexpect++;
            expect = value;
        } else if (str_caseeq(name, "connection")) {
            /* a comma-separated list of tokens */
            size_t a = 0;
            while (a < value.n) {
                while (a < value.n && (value.p[a] == ' ' || value.p[a] == '\t' || value.p[a] == ','))
                    a++;
                size_t b = a;
                while (b < value.n && value.p[b] != ',' && value.p[b] != ' ' && value.p[b] != '\t')
                    b++;
                if (str_caseeq((md_str_t){value.p + a, b - a}, "close")) c->close_after = true;
                a = b;
            }
        }
    }

    if (r->version_minor == 0) c->close_after = true;
    if (nhost > 1 || (r->version_minor >= 1 && nhost == 0)) {
        fail(c, 400, "bad_request", "exactly one Host header field is required");
        return -1;
    }
    if (nte > 0 && ncl > 0) {
        fail(c, 400, "bad_request", "Content-Length and Transfer-Encoding must not both be present");
        return -1;
    }
    if (nte > 1 || (nte > 0 && r->version_minor == 0)) {
        fail(c, 400, "bad_request", "malformed Transfer-Encoding");
        return -1;
    }
    if (nte == 1) {
        if (!str_caseeq(te, "chunked")) {
            fail(c, 501, "not_implemented", "only the chunked transfer coding is supported");
            return -1;
        }
        c->body_mode = MD_BODY_CHUNKED;
    }
    if (ncl > 1) {
        fail(c, 400, "bad_request", "more than one Content-Length");
        return -1;
    }
    if (ncl == 1) {
        uint64_t v = 0;
        if (cl.n == 0 || cl.n > 18) goto bad_cl;
        for (size_t k = 0; k < cl.n; k++) {
            if (cl.p[k] < '0' || cl.p[k] > '9') goto bad_cl;
            v = v * 10 + (uint64_t)(cl.p[k] - '0');
        }
        if (v > (uint64_t)c->max_body) {
            fail(c, 413, "payload_too_large", "the body is larger than the limit of %lld bytes",
                 (long long)c->max_body);
            return -1;
        }
        if (v > 0) {
            c->body_mode = MD_BODY_LENGTH;
            c->body_left = v;
        }
    }
    if (nexpect > 1 || (nexpect == 1 && !str_caseeq(expect, "100-continue"))) {
        fail(c, 417, "expectation_failed", "only Expect: 100-continue is supported");
        return -1;
    }
    c->expect_continue = nexpect == 1 && r->version_minor >= 1;
    return 0;

bad_line:
    fail(c, 400, "bad_request", "malformed request line");
    return -1;
bad_cl:
    fail(c, 400, "bad_request", "malformed Content-Length");
    return -1;
}

/* Returns 1 when a head was parsed, 0 when more input is needed, -1 after answering. */
static int read_head(md_conn_t *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t len = evbuffer_get_length(in), n, end = 0;
    unsigned char *p;

    if (c->state == MD_CONN_IDLE) {
        /* empty lines before a request are ignored (RFC 9112 §2.2) */
        unsigned char two[2];
        while (len >= 2 && evbuffer_copyout(in, two, 2) == 2 && two[0] == '\r' && two[1] == '\n') {
            evbuffer_drain(in, 2);
            len -= 2;
        }
        if (len == 0 || (len == 1 && evbuffer_copyout(in, two, 1) == 1 && two[0] == '\r')) return 0;
        req_begin(c);
        c->state = MD_CONN_HEAD;
        set_deadline(c, c->req.snap->config->header_timeout);
    }
    n = len > MD_HTTP_HEAD_MAX ? MD_HTTP_HEAD_MAX : len;
    p = evbuffer_pullup(in, (ev_ssize_t)n);
    if (p == NULL) {
        fail(c, 503, "service_unavailable", "out of memory");
        return -1;
    }
    for (size_t i = c->scan; i < n; i++) {
        if (p[i] == '\n') {
            if (i == 0 || p[i - 1] != '\r') {
                fail(c, 400, "bad_request", "a line of the request head ends in LF without CR");
                return -1;
            }
            if (i >= 3 && p[i - 2] == '\n') {
                end = i + 1;
                break;
            }
        } else if (i > 0 && p[i - 1] == '\r') {
            fail(c, 400, "bad_request", "a CR in the request head is not followed by LF");
            return -1;
        }
    }
    if (end == 0) {
        c->scan = n;
        if (n >= MD_HTTP_HEAD_MAX) {
            fail(c, 431, "request_header_fields_too_large", "the request head is larger than %d bytes",
                 MD_HTTP_HEAD_MAX);
            return -1;
        }
        return 0;
    }
    c->head = md_arena_memdup(&c->arena, p, end);
    if (c->head == NULL) {
        fail(c, 503, "service_unavailable", "out of memory");
        return -1;
    }
    c->head_len = end;
    evbuffer_drain(in, end);
    c->scan = 0;
    return parse_request(c) == 0 ? 1 : -1;
}

/*
 * Make room for need more body bytes (+ the NUL), the whole body never
 * exceeding limit bytes.  The buffer grows (doubling) as bytes arrive, so a
 * client that announces a large body but sends little costs little.
 * -1 on OOM.
 */
static int body_reserve(md_conn_t *c, size_t need, size_t limit)
{
    size_t want = c->body_len + need + 1, cap;
    char *nb;
    if (want <= c->body_cap) return 0;
    cap = c->body_cap ? c->body_cap * 2 : 4096;
    if (cap < want) cap = want;
    if (cap > limit + 1 && want <= limit + 1) cap = limit + 1;
    nb = md_arena_alloc(&c->arena, cap);
    if (nb == NULL) return -1;
    if (c->body_len) memcpy(nb, c->body, c->body_len);
    if (c->body) OPENSSL_cleanse(c->body, c->body_len);
    c->body = nb;
    c->body_cap = cap;
    return 0;
}

/* Move up to want bytes of body from the input.  Returns the count moved, or -1 on OOM. */
static int64_t take_body(md_conn_t *c, struct evbuffer *in, uint64_t want, size_t limit)
{
    size_t avail = evbuffer_get_length(in);
    size_t take = avail < want ? avail : (size_t)want;
    int got;
    if (take == 0) return 0;
    if (body_reserve(c, take, limit) != 0) return -1;
    got = evbuffer_remove(in, c->body + c->body_len, take);
    if (got < 0) return -1;
    c->body_len += (size_t)got;
    c->body[c->body_len] = '\0';
    return got;
}

/* RFC 9110 field-value characters: anything but a control character, HTAB aside. */
static bool is_field_vchar(unsigned char ch)
{
    return (ch >= 0x20 || ch == '\t') && ch != 0x7f;
}

/* A trailer line (without its CRLF): field-name ":" OWS field-value OWS, as in the head. */
static bool field_line_ok(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i == n || p[i] != ':') return false; /* also refuses obs-fold: a leading SP or HTAB */
    for (i++; i < n; i++)
        if (!is_field_vchar((unsigned char)p[i])) return false;
    return true;
}

static size_t skip_bws(const char *p, size_t n, size_t i)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    return i;
}

static size_t skip_token(const char *p, size_t n, size_t i)
{
    while (i < n && is_tchar((unsigned char)p[i]))
        i++;
    return i;
}

/*
 * What follows the chunk-size on its line (RFC 9112 §7.1.1):
 *   *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )
 * Whitespace after the size is allowed only before a ";": "1 " alone is refused.
 */
static bool chunk_ext_ok(const char *p, size_t n)
{
    size_t i = 0, s;
    while (i < n) {
        i = skip_bws(p, n, i);
        if (i == n || p[i] != ';') return false;
        s = skip_bws(p, n, i + 1);
        i = skip_token(p, n, s);
        if (i == s) return false; /* no name */
        s = skip_bws(p, n, i);
        if (s == n || p[s] != '=') continue; /* no value */
        s = skip_bws(p, n, s + 1);
        if (s < n && p[s] == '"') {
            for (i = s + 1; i < n && p[i] != '"'; i++) {
                if (p[i] == '\\' && ++i == n) return false; /* quoted-pair */
                if (!is_field_vchar((unsigned char)p[i])) return false;
            }
            if (i == n) return false; /* unterminated */
            i++;
        } else {
            i = skip_token(p, n, s);
            if (i == s) return false; /* "=" without a value */
        }
    }
    return true;
}

/* Read one CRLF-terminated line of at most MD_HTTP_LINE_MAX bytes.  1 got it, 0 need more, -1 too long. */
static int read_line(struct evbuffer *in, char *line, size_t *len)
{
    size_t eol_len = 0;
    struct evbuffer_ptr pos = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF_STRICT);
    if (pos.pos < 0) return evbuffer_get_length(in) > MD_HTTP_LINE_MAX ? -1 : 0;
    if ((size_t)pos.pos > MD_HTTP_LINE_MAX) return -1;
    evbuffer_remove(in, line, (size_t)pos.pos);
    line[pos.pos] = '\0';
    evbuffer_drain(in, eol_len);
    *len = (size_t)pos.pos;
    return 1;
}

/* Returns 1 when the body is complete, 0 when more input is needed, -1 after answering. */
static int read_body(md_conn_t *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);

    if (c->body_mode == MD_BODY_LENGTH) {
        int64_t moved = take_body(c, in, c->body_left, c->body_len + (size_t)c->body_left);
        if (moved < 0) goto oom;
        c->body_left -= (uint64_t)moved;
        return c->body_left == 0 ? 1 : 0;
    }
    for (;;) {
        char line[MD_HTTP_LINE_MAX + 1];
        size_t len = 0;
        int got;
        switch (c->chunk_state) {
        case MD_CHUNK_SIZE: {
            uint64_t v = 0;
            size_t k = 0;
            got = read_line(in, line, &len);
            if (got == 0) return 0;
            if (got < 0) goto bad_chunk;
            for (; k < len; k++) {
                int d = line[k] >= '0' && line[k] <= '9'   ? line[k] - '0'
                        : line[k] >= 'a' && line[k] <= 'f' ? line[k] - 'a' + 10
                        : line[k] >= 'A' && line[k] <= 'F' ? line[k] - 'A' + 10
                                                           : -1;
                if (d < 0) break;
                if (v > ((uint64_t)1 << 40)) goto too_large;
                v = v * 16 + (uint64_t)d;
            }
            /* chunk-size [ chunk-ext ] CRLF: whitespace only before a ";" (extensions are ignored) */
            if (k == 0 || !chunk_ext_ok(line + k, len - k)) goto bad_chunk;
            if (v > (uint64_t)c->max_body - c->body_len) goto too_large;
            if (v == 0) {
                c->chunk_state = MD_CHUNK_TRAILER;
                break;
            }
            c->body_left = v;
            c->chunk_state = MD_CHUNK_DATA;
            break;
        }
        case MD_CHUNK_DATA: {
            int64_t moved = take_body(c, in, c->body_left, (size_t)c->max_body);
            if (moved < 0) goto oom;
            c->body_left -= (uint64_t)moved;
            if (c->body_left > 0) return 0;
            c->chunk_state = MD_CHUNK_CRLF;
            break;
        }
        case MD_CHUNK_CRLF: {
            unsigned char two[2];
            if (evbuffer_get_length(in) < 2) return 0;
            evbuffer_copyout(in, two, 2);
            if (two[0] != '\r' || two[1] != '\n') goto bad_chunk;
            evbuffer_drain(in, 2);
            c->chunk_state = MD_CHUNK_SIZE;
            break;
        }
        case MD_CHUNK_TRAILER:
            got = read_line(in, line, &len);
            if (got == 0) return 0;
            if (got < 0) goto bad_chunk;
            if (len == 0) {
                if (c->body == NULL && body_reserve(c, 0, (size_t)c->max_body) != 0) goto oom;
                return 1; /* trailer fields are read and ignored */
            }
            /* ignored, but held to the rules of header fields: a line a front end would split
             * (a bare CR or LF) must not be read as one field here, swallowing what follows */
            if (!field_line_ok(line, len)) {
                fail(c, 400, "bad_request", "malformed trailer field in the chunked body");
                return -1;
            }
            c->trailer_bytes += len + 2;
            if (c->trailer_bytes > MD_HTTP_HEAD_MAX) {
                fail(c, 431, "request_header_fields_too_large", "the trailer section is too large");
                return -1;
            }
            break;
        }
    }
bad_chunk:
    fail(c, 400, "bad_request", "malformed chunked body");
    return -1;
too_large:
    fail(c, 413, "payload_too_large", "the body is larger than the limit of %lld bytes",
         (long long)c->max_body);
    return -1;
oom:
    fail(c, 503, "service_unavailable", "out of memory");
    return -1;
}

/* Move the connection forward with whatever input is buffered. */
static void process(md_conn_t *c)
{
    for (;;) {
        switch (c->state) {
        case MD_CONN_IDLE:
        case MD_CONN_HEAD: {
            int r = read_head(c);
            if (r <= 0) return;
            if (!route(c)) return; /* answered before any of the body was read */
            if (c->body_mode == MD_BODY_NONE) {
                dispatch(c);
                return;
            }
            /* only now, routed and authorised, is the client asked for the body */
            if (c->expect_continue &&
                evbuffer_add(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n", 25) != 0) {
                conn_abort(c);
                return;
            }
            c->state = MD_CONN_BODY;
            set_deadline(c, c->req.snap->config->body_timeout);
            break;
        }
        case MD_CONN_BODY: {
            int r = read_body(c);
            if (r == 1) dispatch(c);
            return;
        }
        case MD_CONN_LINGER: {
            struct evbuffer *in = bufferevent_get_input(c->bev);
            size_t n = evbuffer_get_length(in);
            c->lingered += n;
            evbuffer_drain(in, n);
            if (c->lingered > MD_HTTP_LINGER_BYTES) conn_abort(c);
            return;
        }
        default: return;
        }
    }
}

/* Wait for the next request on a kept-alive connection. */
static void conn_idle(md_conn_t *c)
{
    c->state = MD_CONN_IDLE;
    c->linger = false;
    set_deadline(c, c->w->snap->config->header_timeout);
    if (c->state != MD_CONN_IDLE) return;
    bufferevent_enable(c->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) process(c);
}

static void begin_linger(md_conn_t *c)
{
    c->state = MD_CONN_LINGER;
    if (bufferevent_openssl_get_ssl(c->bev) == NULL) {
        evutil_socket_t fd = bufferevent_getfd(c->bev);
        if (fd >= 0) shutdown(fd, SHUT_WR);
    }
    bufferevent_enable(c->bev, EV_READ);
    set_deadline(c, MD_HTTP_LINGER_MS);
    process(c);
}

/* ---- libevent callbacks: the only places a connection is freed ---- */

static void on_read(struct bufferevent *bev, void *arg)
{
    process(arg);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    md_conn_t *c = arg;
    if (c->state != MD_CONN_WRITE) return; /* e.g. a 100 Continue went out */
    req_end(c);
    if (!c->close_after) {
        conn_idle(c);
        return;
    }
    if (c->linger && !c->w->stopping) {
        begin_linger(c);
        return;
    }
    md_http_conn_free(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    md_conn_t *c = arg;
    if ((what & BEV_EVENT_CONNECTED) && !(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
        return; /* the TLS handshake finished */
    /*
     * A plain TCP peer that half-closed still reads: finish writing the
     * answer (within its deadline), then close.  Over TLS, libevent stops
     * both reading and writing once it sees EOF, so nothing more can be
     * written: free the connection now rather than wait for nothing.
     */
    if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) && c->state == MD_CONN_WRITE &&
        evbuffer_get_length(bufferevent_get_output(bev)) > 0 && bufferevent_openssl_get_ssl(bev) == NULL) {
        c->close_after = true;
        c->linger = false;
        return;
    }
    md_http_conn_free(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    md_conn_t *c = arg;
    switch (c->state) {
    case MD_CONN_HEAD:
        md_log(MD_LOG_INFO, c->req.id, "request head not received within header_timeout; closing (peer %s)",
               c->peer);
        c->close_after = true;
        c->linger = false;
        md_http_error(&c->req, 408, "request_timeout", "the request head did not arrive in time");
        return;
    case MD_CONN_BODY:
        md_log(MD_LOG_INFO, c->req.id, "request body not received within body_timeout; closing (peer %s)",
               c->peer);
        c->close_after = true;
        c->linger = false;
        md_http_error(&c->req, 408, "request_timeout", "the request body did not arrive in time");
        return;
    case MD_CONN_BUSY:
        if (c->req.deferred) {
            md_http_cancel_fn cancel = c->req.cancel;
            c->req.deferred = false;
            cancel(c->req.cancel_arg);
            md_log(MD_LOG_WARN, c->req.id, "%s: no answer within its deadline; answering 503", c->req.route);
            c->close_after = true;
            md_http_error(&c->req, 503, "service_unavailable", "the request could not be completed in time");
            return;
        }
        md_http_conn_free(c);
        return;
    default: md_http_conn_free(c); return;
    }
}

/* ---- accepting and stopping ---- */

void md_http_accept(md_worker_t *w, evutil_socket_t fd, const struct sockaddr *sa, int salen, bool workload)
{
    md_server_t *srv = w->srv;
    md_conn_t *c = NULL;
    SSL *ssl = NULL;
    long limit = (long)w->snap->config->max_connections;
    int one = 1;
    char addr[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    static _Thread_local time_t last_reject_log;

    if (w->stopping) {
        evutil_closesocket(fd);
        return;
    }
    if (atomic_fetch_add(&srv->nconns, 1) >= limit) {
        atomic_fetch_sub(&srv->nconns, 1);
        md_metrics_connection_rejected();
        if (!srv->tls || workload)
            (void)send(fd, BUSY_RESPONSE, sizeof(BUSY_RESPONSE) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        evutil_closesocket(fd);
        if (time(NULL) != last_reject_log) {
            last_reject_log = time(NULL);
            md_log_warn("limits.max_connections (%ld) reached: refusing connections", limit);
        }
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) goto fail;
    c->w = w;
    c->workload = workload;
    md_arena_init(&c->arena, 8192);
    if (workload) {
        snprintf(c->peer, sizeof(c->peer), "unix");
    } else if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &a->sin_addr, addr, sizeof(addr));
        port = ntohs(a->sin_port);
        snprintf(c->peer, sizeof(c->peer), "%s:%d", addr, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &a->sin6_addr, addr, sizeof(addr));
        port = ntohs(a->sin6_port);
        snprintf(c->peer, sizeof(c->peer), "[%s]:%d", addr, port);
    }
    if (!workload) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->timer = evtimer_new(w->base, on_timer, c);
    if (c->timer == NULL) goto fail;
    if (srv->tls && !workload) {
        ssl = SSL_new(w->snap->tls);
        if (ssl == NULL) goto fail;
        c->bev = bufferevent_openssl_socket_new(w->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
        /*
         * On failure libevent 2.1 has already freed ssl (it does so on every
         * error path when BEV_OPT_CLOSE_ON_FREE is given) but not fd; on
         * success both belong to the bufferevent.
         */
        ssl = NULL;
        if (c->bev == NULL) goto fail;
        fd = -1;
        bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    } else {
        c->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
        if (c->bev == NULL) goto fail;
        fd = -1;
    }
    {
        int64_t wt = w->snap->config->body_timeout;
        struct timeval tv = {(time_t)(wt / 1000), (suseconds_t)((wt % 1000) * 1000)};
        bufferevent_set_timeouts(c->bev, NULL, &tv);
    }
    bufferevent_setwatermark(c->bev, EV_READ, 0, MD_HTTP_READ_HWM);
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    c->next = w->conns;
    if (w->conns) w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    conn_idle(c);
    return;
fail:
    md_log_warn("out of memory accepting a connection; closing it");
    if (ssl) SSL_free(ssl);
    if (c) {
        if (c->bev) bufferevent_free(c->bev);
        if (c->timer) event_free(c->timer);
        md_arena_free(&c->arena);
        free(c);
    }
    if (fd >= 0) evutil_closesocket(fd);
    atomic_fetch_sub(&srv->nconns, 1);
}

void md_http_worker_stop(md_worker_t *w)
{
    md_conn_t *c = w->conns, *next;
    while (c != NULL) {
        next = c->next;
        if (c->state == MD_CONN_IDLE || c->state == MD_CONN_LINGER || c->state == MD_CONN_CLOSING)
            md_http_conn_free(c);
        else
            c->close_after = true;
        c = next;
    }
}
