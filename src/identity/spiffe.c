/*
 * spiffe.c: SPIFFE ID parsing and validation (see spiffe.h for the rules).
 * A single left-to-right pass; no allocation.
 */
#include "identity/spiffe.h"

static bool td_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

static bool path_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

md_spiffe_error_t md_spiffe_parse(md_str_t s, md_spiffe_id_t *out)
{
    static const char scheme[] = "spiffe://";
    const size_t sl = sizeof(scheme) - 1;
    out->trust_domain = MD_STR_NULL;
    out->path = MD_STR_NULL;
    if (s.n == 0) return MD_SPIFFE_EMPTY;
    if (s.n > MD_SPIFFE_MAX_LEN) return MD_SPIFFE_TOO_LONG;
    if (s.n < sl || memcmp(s.p, scheme, sl) != 0) return MD_SPIFFE_BAD_SCHEME;
    size_t i = sl, td0 = sl;
    while (i < s.n && s.p[i] != '/') {
        unsigned char c = (unsigned char)s.p[i];
        if (c == ':' || c == '@') return MD_SPIFFE_PORT_OR_USERINFO;
        if (c == '?' || c == '#')
            return i == td0 ? MD_SPIFFE_MISSING_TRUST_DOMAIN : MD_SPIFFE_QUERY_OR_FRAGMENT;
        if (!td_char(c)) return MD_SPIFFE_BAD_TRUST_DOMAIN_CHAR;
        i++;
    }
    if (i == td0) return MD_SPIFFE_MISSING_TRUST_DOMAIN;
    if (i - td0 > MD_SPIFFE_MAX_TD_LEN) return MD_SPIFFE_TRUST_DOMAIN_TOO_LONG;
    out->trust_domain = (md_str_t){s.p + td0, i - td0};
    size_t p0 = i;
    while (i < s.n) {
        /* at a '/': one segment follows */
        size_t seg = ++i;
        while (i < s.n && s.p[i] != '/') {
            unsigned char c = (unsigned char)s.p[i];
            if (c == '?' || c == '#') return MD_SPIFFE_QUERY_OR_FRAGMENT;
            if (!path_char(c)) return MD_SPIFFE_BAD_PATH_CHAR;
            i++;
        }
        size_t len = i - seg;
        if (len == 0) return i == s.n ? MD_SPIFFE_TRAILING_SLASH : MD_SPIFFE_EMPTY_SEGMENT;
        if ((len == 1 && s.p[seg] == '.') || (len == 2 && s.p[seg] == '.' && s.p[seg + 1] == '.'))
            return MD_SPIFFE_DOT_SEGMENT;
    }
    out->path = (md_str_t){s.p + p0, s.n - p0};
    return MD_SPIFFE_OK;
}

const char *md_spiffe_strerror(md_spiffe_error_t e)
{
    switch (e) {
    case MD_SPIFFE_OK: return "ok";
    case MD_SPIFFE_EMPTY: return "SPIFFE ID is empty";
    case MD_SPIFFE_TOO_LONG: return "SPIFFE ID is longer than 2048 bytes";
    case MD_SPIFFE_BAD_SCHEME: return "scheme is missing or invalid (must be spiffe://)";
    case MD_SPIFFE_MISSING_TRUST_DOMAIN: return "trust domain is missing";
    case MD_SPIFFE_BAD_TRUST_DOMAIN_CHAR:
        return "trust domain characters are limited to lowercase letters, numbers, dots, dashes, and "
               "underscores";
    case MD_SPIFFE_TRUST_DOMAIN_TOO_LONG: return "trust domain is longer than 255 bytes";
    case MD_SPIFFE_PORT_OR_USERINFO: return "trust domain must not have a port or user info";
    case MD_SPIFFE_QUERY_OR_FRAGMENT: return "SPIFFE ID must not have a query or fragment";
    case MD_SPIFFE_EMPTY_SEGMENT: return "path cannot contain empty segments";
    case MD_SPIFFE_DOT_SEGMENT: return "path cannot contain dot segments";
    case MD_SPIFFE_BAD_PATH_CHAR:
        return "path segment characters are limited to letters, numbers, dots, dashes, and underscores";
    case MD_SPIFFE_TRAILING_SLASH: return "path cannot have a trailing slash";
    }
    return "invalid SPIFFE ID";
}

bool md_spiffe_in_trust_domain(const md_spiffe_id_t *id, md_str_t td)
{
    return md_str_eq(id->trust_domain, td);
}
