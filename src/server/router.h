/*
 * router.h: method + path → handler, with path parameters.
 *
 * A pattern is an absolute path whose segments are literals or "{name}"
 * (one whole, non-empty segment, percent-decoded into a parameter).  A path
 * matches a pattern segment by segment, literally (no decoding, no
 * normalisation: "/a/../b" and "/a//b" match only what they spell).  HEAD
 * is answered by a GET route.  The router is built once and read-only after.
 */
#ifndef MD_SERVER_ROUTER_H
#define MD_SERVER_ROUTER_H

#include <stddef.h>

#include "core/core.h"
#include "server/http.h"

#define MD_ROUTES_MAX 63
#define MD_ROUTE_SEGMENTS_MAX 16

enum {
    MD_ROUTE_ADMIN = 1 << 0,    /* requires the admin bearer token; checked before the handler runs */
    MD_ROUTE_WORKLOAD = 1 << 1, /* served on the Workload API socket only (and TCP routes never there) */
};

typedef struct md_route {
    const char *method;  /* "GET", "POST", … */
    const char *pattern; /* "/v1/admin/settings/{key}" */
    md_http_handler_fn handler;
    unsigned flags; /* MD_ROUTE_* */
} md_route_t;

typedef struct md_route_seg {
    md_str_t text; /* literal, or the parameter name */
    bool param;
} md_route_seg_t;

typedef struct md_router {
    const md_route_t *routes; /* borrowed: static table */
    size_t n;
    md_route_seg_t segs[MD_ROUTES_MAX][MD_ROUTE_SEGMENTS_MAX];
    size_t nsegs[MD_ROUTES_MAX];
} md_router_t;

/* Check and compile the table.  Returns MD_OK or MD_EINVAL with err set. */
int md_router_init(md_router_t *r, const md_route_t *routes, size_t n, md_err_t *err) MD_WUR;

enum {
    MD_ROUTER_FOUND = 0,
    MD_ROUTER_NOT_FOUND = 1,  /* no pattern matches the path */
    MD_ROUTER_BAD_METHOD = 2, /* a pattern matches, not with this method; allow lists those that do */
    MD_ROUTER_BAD_PARAM = 3,  /* a parameter is badly percent-encoded or decodes to a NUL */
    MD_ROUTER_NOMEM = 4,
};

/*
 * Match req->method and req->path; on MD_ROUTER_FOUND sets *index and fills
 * req->params (decoded into req->arena).  allow receives "GET, POST" for
 * MD_ROUTER_BAD_METHOD.
 */
int md_router_match(const md_router_t *r, md_http_req_t *req, size_t *index, char *allow, size_t allowsz);

#endif
