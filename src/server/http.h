/*
 * http.h: what a request handler sees and how it answers.
 *
 * The server parses each HTTP/1.1 request completely (head and body, within
 * the configured limits) before it calls the handler, on the worker thread
 * that owns the connection.  The route, the method and, on admin routes, the
 * admin token are checked on the head alone, before the body is read.  A
 * handler must answer exactly once, before it returns, with md_http_reply*()
 * or md_http_error(); a handler that returns without answering gets a 500 on
 * its behalf.  Every 4xx/5xx answer carries a JSON body {"error": "<code>",
 * "message": "<text>"}.
 *
 * Memory: every string in md_http_req_t lives in the request's arena and is
 * valid until the handler returns.  Handlers allocate from req->arena too;
 * when it runs out they answer 503 (md_http_error_oom), never abort.
 */
#ifndef MD_SERVER_HTTP_H
#define MD_SERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/core.h"

#define MD_HTTP_PARAMS_MAX 8
#define MD_HTTP_RESP_HEADERS_MAX 8

typedef struct md_server md_server_t;
typedef struct md_snapshot md_snapshot_t;
typedef struct md_store md_store_t;
typedef struct md_conn md_conn_t;
typedef struct md_keys_view md_keys_view_t;

typedef void (*md_http_cancel_fn)(void *arg);

typedef struct md_http_header {
    md_str_t name;  /* as sent; compare with md_http_header() */
    md_str_t value; /* surrounding whitespace removed */
} md_http_header_t;

typedef struct md_http_param {
    md_str_t name;  /* from the route pattern: "{key}" gives "key" */
    md_str_t value; /* percent-decoded, NUL-terminated, never contains NUL */
} md_http_param_t;

typedef struct md_http_req {
    /* the request */
    md_str_t method;           /* "GET", "POST", … */
    md_str_t path;             /* raw (still percent-encoded), always starts with '/' */
    md_str_t query;            /* after '?', raw; empty when none */
    int version_minor;         /* HTTP/1.<minor> */
    md_http_header_t *headers; /* arena */
    size_t nheaders;
    md_http_param_t params[MD_HTTP_PARAMS_MAX];
    size_t nparams;
    md_str_t body;     /* NUL-terminated after body.n bytes; empty when none */
    const char *route; /* the matched route's pattern, NULL before routing */
    char id[24];       /* request id: also in the X-Request-Id header and on every log line */
    const char *peer;  /* "address:port", or "unix" on the Workload API socket */
    bool workload;     /* arrived on the Workload API socket */
    int peer_fd;       /* the connection's socket (Workload API: for attestation; never close it) */

    /* what the handler may use */
    md_arena_t *arena;    /* per request, released after the reply */
    md_snapshot_t *snap;  /* the configuration this request runs under (a reference held by the server) */
    md_store_t *store;    /* the worker thread's store connection */
    md_keys_view_t *keys; /* the published signing keys (borrowed; valid until the handler returns) */
    md_server_t *srv;     /* borrowed */

    /* private to the server */
    md_conn_t *conn;
    bool replied;
    bool head_only; /* HEAD: send the headers of the GET answer only */
    bool deferred;  /* md_http_defer() called and not answered yet */
    bool keys_held; /* req->keys is a reference of the request's own (deferred) */
    md_http_cancel_fn cancel;
    void *cancel_arg;
    int status;
    size_t route_index;
    uint64_t started_ns;
    size_t resp_bytes;
    size_t nresp_headers;
    const char *resp_headers[MD_HTTP_RESP_HEADERS_MAX][2];
} md_http_req_t;

typedef void (*md_http_handler_fn)(md_http_req_t *req);

/*
 * Answer later.  A handler that must wait (blocking work on a thread pool, a
 * fetch) calls md_http_defer() and returns without answering; it answers
 * afterwards with md_http_reply*() / md_http_error() from a callback on the
 * same worker thread.  While deferred nothing more is read from the
 * connection and the request keeps its snapshot and arena.  When no answer
 * has come after timeout_ms, or the connection goes away first, cancel(arg)
 * is called on the worker thread; from that moment the request is gone and
 * must never be touched again (on a timeout the server answers 503 itself).
 * cancel is never called once the request was answered.
 */
void md_http_defer(md_http_req_t *req, int64_t timeout_ms, md_http_cancel_fn cancel, void *arg);

/* The value of the first header named name (case-insensitive); p == NULL when absent. */
md_str_t md_http_header(const md_http_req_t *req, const char *name);
/* How many headers named name were sent. */
size_t md_http_header_count(const md_http_req_t *req, const char *name);
/* A route parameter by name; p == NULL when absent. */
md_str_t md_http_param(const md_http_req_t *req, const char *name);

/* Add a response header (both strings must outlive the reply: literals or arena).  -1 when full. */
int md_http_add_header(md_http_req_t *req, const char *name, const char *value);

/* Answer with a body of content type ctype (NULL: no Content-Type). */
void md_http_reply(md_http_req_t *req, int status, const char *ctype, const void *body, size_t n);
/* Answer with doc serialised compactly as application/json (doc is borrowed). */
void md_http_reply_json(md_http_req_t *req, int status, const json_t *doc);
/* Answer with the JSON error body; code is a short snake_case word, the message is printf. */
void md_http_error(md_http_req_t *req, int status, const char *code, const char *fmt, ...) MD_PRINTF(4, 5);
/* Answer 503: the request ran out of memory. */
void md_http_error_oom(md_http_req_t *req);

/*
 * Parse the body as a JSON object.  Requires Content-Type application/json
 * (415 otherwise); answers 400 on an empty body, malformed JSON, duplicate
 * keys or a non-object.  Returns the document (json_decref it), or NULL
 * after answering.
 */
json_t *md_http_json_body(md_http_req_t *req);

/*
 * The value of field `name` of an application/x-www-form-urlencoded body
 * (OAuth endpoints), percent-decoded ('+' is a space) into the arena.
 * Returns 0 with *out set, or -1 after answering: 415 for another content
 * type, 400 when the field is missing, repeated, badly encoded or decodes to
 * a NUL.
 */
int md_http_form_value(md_http_req_t *req, const char *name, md_str_t *out);

#endif
