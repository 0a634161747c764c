/*
 * metrics.h: process-wide counters, rendered in the Prometheus text format
 * at GET /metrics.
 *
 * Every function is safe from any thread at any time (relaxed atomics) and
 * never allocates except md_metrics_render().  Modules bump the counters
 * that belong to them:
 *
 *   mandate_http_requests_total{route,code}        the server, per answer
 *   mandate_http_request_duration_seconds{route}   the server, histogram
 *   mandate_decisions_total{decision}              the gateway / decision API
 *   mandate_tokens_issued_total                    the task module (mandates, SVIDs)
 *   mandate_attestation_failures_total{reason}     the Workload API, per refused attestation
 *   mandate_http_connections_rejected_total        the server, over max_connections
 *   mandate_config_reloads_total{result}           the server, on SIGHUP
 */
#ifndef MD_SERVER_METRICS_H
#define MD_SERVER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define MD_METRICS_ROUTES_MAX 63

typedef enum md_decision {
    MD_DECISION_ALLOW = 0,
    MD_DECISION_DENY,
    MD_DECISION_APPROVAL_REQUIRED,
    MD_DECISION_ERROR,
    MD_DECISION_COUNT
} md_decision_t;

/*
 * Name the routes (their patterns; static strings) before any request is
 * counted.  Route index n (== count) is "unmatched".  Call once at start.
 */
void md_metrics_set_routes(const char *const *names, size_t n);

/* One answered HTTP request. */
void md_metrics_http(size_t route, int status, uint64_t duration_ns);
void md_metrics_decision(md_decision_t decision);
void md_metrics_token_issued(void);
/* code: an MD_ATTEST_E* code (anything else counts as reason "other") */
void md_metrics_attestation_failure(int code);
void md_metrics_connection_rejected(void);
void md_metrics_reload(int ok);

/* Append the exposition text to out (out->oom set when memory ran out). */
void md_metrics_render(md_buf_t *out);

#endif
