/*
 * spiffe.h: SPIFFE IDs (spiffe://trust-domain/path), parsed and validated as
 * the SPIFFE ID standard and its reference implementations (go-spiffe's
 * spiffeid package) define them:
 *   - scheme exactly "spiffe://" (lower case);
 *   - trust domain: 1..255 bytes of [a-z0-9._-]; no userinfo, no port;
 *   - path: empty, or "/"-separated segments of [a-zA-Z0-9._-], none empty,
 *     none "." or "..", no trailing "/";
 *   - no query, no fragment, no percent-encoding; whole ID at most 2048 bytes.
 */
#ifndef MD_IDENTITY_SPIFFE_H
#define MD_IDENTITY_SPIFFE_H

#include "core/core.h"

#define MD_SPIFFE_MAX_LEN 2048
#define MD_SPIFFE_MAX_TD_LEN 255

typedef enum md_spiffe_error {
    MD_SPIFFE_OK = 0,
    MD_SPIFFE_EMPTY,
    MD_SPIFFE_TOO_LONG,
    MD_SPIFFE_BAD_SCHEME,
    MD_SPIFFE_MISSING_TRUST_DOMAIN,
    MD_SPIFFE_BAD_TRUST_DOMAIN_CHAR,
    MD_SPIFFE_TRUST_DOMAIN_TOO_LONG,
    MD_SPIFFE_PORT_OR_USERINFO,
    MD_SPIFFE_QUERY_OR_FRAGMENT,
    MD_SPIFFE_EMPTY_SEGMENT,
    MD_SPIFFE_DOT_SEGMENT,
    MD_SPIFFE_BAD_PATH_CHAR,
    MD_SPIFFE_TRAILING_SLASH,
} md_spiffe_error_t;

/* A parsed ID: views into the caller's string (not owned). */
typedef struct md_spiffe_id {
    md_str_t trust_domain;
    md_str_t path; /* "" or "/a/b" */
} md_spiffe_id_t;

/* Validate and split `s`.  Returns MD_SPIFFE_OK or the first problem found. */
md_spiffe_error_t md_spiffe_parse(md_str_t s, md_spiffe_id_t *out) MD_WUR;
const char *md_spiffe_strerror(md_spiffe_error_t e);
/* Is `id` a member of trust domain `td` (same trust domain, exact bytes)? */
bool md_spiffe_in_trust_domain(const md_spiffe_id_t *id, md_str_t td);

#endif
