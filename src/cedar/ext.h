/*
 * ext.h: Cedar's extension types as plain C values: decimal, ipaddr,
 * datetime and duration.  Pure functions, no allocation, no I/O.
 *
 * Semantics follow the Lean specification (cedar-spec
 * cedar-lean/Cedar/Spec/Ext/{Decimal,IPAddr,Datetime}.lean) and the Rust
 * implementation (cedar-policy-core/src/extensions/).  Every parser accepts
 * exactly the strings the reference accepts and rejects all others.
 */
#ifndef MD_CEDAR_EXT_H
#define MD_CEDAR_EXT_H

#include "core/core.h"

/* ---- decimal: an int64 scaled by 10^4 ---- */

/* Parse "-?[0-9]+\.[0-9]{1,4}"; MD_OK or MD_EINVAL (also on overflow). */
int md_decimal_parse(md_str_t s, int64_t *out) MD_WUR;
/* Write the canonical text form (as Cedar prints it) into buf; returns length. */
size_t md_decimal_format(int64_t d, char *buf, size_t cap);

/* ---- ipaddr: an IPv4 or IPv6 address with a prefix length ---- */
typedef struct md_ipaddr {
    uint8_t v6;       /* 0 for IPv4, 1 for IPv6 */
    uint8_t prefix;   /* 0..32 or 0..128; the full width when no /prefix was given */
    uint8_t addr[16]; /* IPv4 uses addr[0..3]; the rest is zero */
} md_ipaddr_t;

int md_ip_parse(md_str_t s, md_ipaddr_t *out) MD_WUR;
size_t md_ip_format(const md_ipaddr_t *ip, char *buf, size_t cap);
/* Equality as Cedar defines it (structural on the parsed value). */
bool md_ip_eq(const md_ipaddr_t *a, const md_ipaddr_t *b);
/* A total order consistent with md_ip_eq (for sorting sets). */
int md_ip_cmp(const md_ipaddr_t *a, const md_ipaddr_t *b);
bool md_ip_is_loopback(const md_ipaddr_t *ip);
bool md_ip_is_multicast(const md_ipaddr_t *ip);
/* a.isInRange(b): a's range is contained in b's range (same family). */
bool md_ip_in_range(const md_ipaddr_t *a, const md_ipaddr_t *b);

/* ---- datetime (ms since the Unix epoch) and duration (ms) ---- */

/* Formats "YYYY-MM-DD", "YYYY-MM-DDThh:mm:ssZ", "YYYY-MM-DDThh:mm:ss.SSSZ",
 * "YYYY-MM-DDThh:mm:ss(+|-)hhmm", "YYYY-MM-DDThh:mm:ss.SSS(+|-)hhmm". */
int md_datetime_parse(md_str_t s, int64_t *ms) MD_WUR;
/* "1d2h3m4s5ms" and friends, optionally with a leading '-'. */
int md_duration_parse(md_str_t s, int64_t *ms) MD_WUR;
size_t md_datetime_format(int64_t ms, char *buf, size_t cap);
size_t md_duration_format(int64_t ms, char *buf, size_t cap);

/* datetime.toDate(): MD_OK or MD_EINVAL on overflow (the spec's error case). */
int md_datetime_to_date(int64_t ms, int64_t *out) MD_WUR;
/* datetime.toTime(): the milliseconds since the start of that day (never errors). */
int64_t md_datetime_to_time(int64_t ms);

#endif
