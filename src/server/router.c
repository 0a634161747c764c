/*
 * router.c: route table compilation and matching (see router.h).
 *
 * Matching is a linear scan over the compiled segments: the table is small
 * and fixed, and a scan keeps "which methods would have matched" (for 405's
 * Allow header) trivial.
 */
#include "server/router.h"

#include <stdio.h>

int md_router_init(md_router_t *r, const md_route_t *routes, size_t n, md_err_t *err)
{
    memset(r, 0, sizeof(*r));
    if (n > MD_ROUTES_MAX) return md_err_set(err, MD_EINVAL, "router: more than %d routes", MD_ROUTES_MAX);
    for (size_t i = 0; i < n; i++) {
        const char *p = routes[i].pattern;
        size_t ns = 0;
        if (p == NULL || p[0] != '/' || routes[i].handler == NULL || routes[i].method == NULL)
            return md_err_set(err, MD_EINVAL, "router: route %zu is malformed", i);
        while (*p == '/') {
            const char *s = p + 1, *e = s;
            while (*e && *e != '/')
                e++;
            if (ns == MD_ROUTE_SEGMENTS_MAX)
                return md_err_set(err, MD_EINVAL, "router: %s has too many segments", routes[i].pattern);
            md_route_seg_t *seg = &r->segs[i][ns++];
            if (e - s >= 3 && s[0] == '{' && e[-1] == '}') {
                seg->param = true;
                seg->text = (md_str_t){s + 1, (size_t)(e - s - 2)};
            } else {
                if (memchr(s, '{', (size_t)(e - s)) || memchr(s, '}', (size_t)(e - s)))
                    return md_err_set(err, MD_EINVAL, "router: %s: a parameter must be a whole segment",
                                      routes[i].pattern);
                seg->text = (md_str_t){s, (size_t)(e - s)};
            }
            p = e;
        }
        r->nsegs[i] = ns;
    }
    r->routes = routes;
    r->n = n;
    return MD_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decode s into the arena; -1 on a bad escape or a NUL, -2 on OOM. */
static int decode(md_arena_t *a, md_str_t s, md_str_t *out)
{
    char *d = md_arena_alloc(a, s.n + 1);
    size_t n = 0;
    if (d == NULL) return -2;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] == '%') {
            int hi, lo;
            if (i + 2 >= s.n) return -1;
            hi = hexval(s.p[i + 1]);
            lo = hexval(s.p[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            char c = (char)(hi * 16 + lo);
            if (c == '\0') return -1;
            d[n++] = c;
            i += 2;
        } else {
            d[n++] = s.p[i];
        }
    }
    d[n] = '\0';
    *out = (md_str_t){d, n};
    return 0;
}

/* Split path into segments (views into it).  Returns the count, or -1 when there are too many. */
static int split(md_str_t path, md_str_t *segs)
{
    int n = 0;
    size_t i = 0;
    while (i < path.n && path.p[i] == '/') {
        size_t s = i + 1, e = s;
        while (e < path.n && path.p[e] != '/')
            e++;
        if (n == MD_ROUTE_SEGMENTS_MAX) return -1;
        segs[n++] = (md_str_t){path.p + s, e - s};
        i = e;
    }
    return n;
}

int md_router_match(const md_router_t *r, md_http_req_t *req, size_t *index, char *allow, size_t allowsz)
{
    md_str_t segs[MD_ROUTE_SEGMENTS_MAX];
    int nseg = split(req->path, segs);
    bool path_matched = false;
    size_t alen = 0;
    bool is_head = md_str_eqc(req->method, "HEAD");

    if (allowsz) allow[0] = '\0';
    if (nseg < 0) return MD_ROUTER_NOT_FOUND;
    for (size_t i = 0; i < r->n; i++) {
        if (r->nsegs[i] != (size_t)nseg) continue;
        /* each listener sees its own routes only: the Workload API socket, or the TCP API */
        if (((r->routes[i].flags & MD_ROUTE_WORKLOAD) != 0) != req->workload) continue;
        bool ok = true;
        for (int k = 0; k < nseg && ok; k++) {
            const md_route_seg_t *seg = &r->segs[i][k];
            ok = seg->param ? segs[k].n > 0 : md_str_eq(seg->text, segs[k]);
        }
        if (!ok) continue;
        path_matched = true;
        const char *m = r->routes[i].method;
        if (!(md_str_eqc(req->method, m) || (is_head && strcmp(m, "GET") == 0))) {
            /* remember it for Allow (once per method) */
            char look[24];
            snprintf(look, sizeof(look), "%s", m);
            if (strstr(allow, look) == NULL && alen + strlen(m) + 3 < allowsz) {
                alen += (size_t)snprintf(allow + alen, allowsz - alen, "%s%s", alen ? ", " : "", m);
                if (strcmp(m, "GET") == 0 && alen + 7 < allowsz)
                    alen += (size_t)snprintf(allow + alen, allowsz - alen, ", HEAD");
            }
            continue;
        }
        req->nparams = 0;
        for (int k = 0; k < nseg; k++) {
            const md_route_seg_t *seg = &r->segs[i][k];
            if (!seg->param || req->nparams == MD_HTTP_PARAMS_MAX) continue;
            md_http_param_t *p = &req->params[req->nparams++];
            p->name = seg->text;
            int d = decode(req->arena, segs[k], &p->value);
            if (d == -2) return MD_ROUTER_NOMEM;
            if (d < 0) return MD_ROUTER_BAD_PARAM;
        }
        *index = i;
        return MD_ROUTER_FOUND;
    }
    return path_matched ? MD_ROUTER_BAD_METHOD : MD_ROUTER_NOT_FOUND;
}
