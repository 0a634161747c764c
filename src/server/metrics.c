/*
 * metrics.c: the counter registry behind GET /metrics (see metrics.h).
 *
 * Invariant: counters only grow; all storage is static (no allocation when
 * counting); HTTP codes are counted per route in a dense [100, 600) table
 * so no code can be lost or alias another.
 */
#include "server/metrics.h"

#include "identity/attest.h"

#include <stdatomic.h>
#include <stdio.h>

#define CODE_MIN 100
#define CODE_SPAN 500

static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

static const char *route_names[MD_METRICS_ROUTES_MAX + 1];
static size_t nroutes;

static atomic_uint_fast64_t http_total[MD_METRICS_ROUTES_MAX + 1][CODE_SPAN];
static atomic_uint_fast64_t http_bucket[MD_METRICS_ROUTES_MAX + 1][NBUCKETS + 1]; /* last: +Inf only */
static atomic_uint_fast64_t http_sum_ns[MD_METRICS_ROUTES_MAX + 1];
static atomic_uint_fast64_t http_count[MD_METRICS_ROUTES_MAX + 1];
static atomic_uint_fast64_t decisions[MD_DECISION_COUNT];
static atomic_uint_fast64_t tokens_issued, conn_rejected;
/* by MD_ATTEST_E* code: index -(code - MD_ATTEST_ENOT_PEER); the last slot is any other code */
#define ATTEST_CODES (-(MD_ATTEST_EOVERFLOW_ID - MD_ATTEST_ENOT_PEER) + 1)
static atomic_uint_fast64_t attestation_failures[ATTEST_CODES + 1];
static atomic_uint_fast64_t reloads[2];

static const char *const decision_names[MD_DECISION_COUNT] = {"allow", "deny", "approval_required", "error"};

static inline void bump(atomic_uint_fast64_t *c, uint64_t by)
{
    atomic_fetch_add_explicit(c, by, memory_order_relaxed);
}

static inline uint64_t get(atomic_uint_fast64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

void md_metrics_set_routes(const char *const *names, size_t n)
{
    if (n > MD_METRICS_ROUTES_MAX) n = MD_METRICS_ROUTES_MAX;
    for (size_t i = 0; i < n; i++)
        route_names[i] = names[i];
    nroutes = n;
    route_names[n] = "unmatched";
}

void md_metrics_http(size_t route, int status, uint64_t duration_ns)
{
    if (route > nroutes) route = nroutes;
    if (status < CODE_MIN || status >= CODE_MIN + CODE_SPAN) status = 500;
    bump(&http_total[route][status - CODE_MIN], 1);
    double s = (double)duration_ns / 1e9;
    size_t b = 0;
    while (b < NBUCKETS && s > buckets[b])
        b++;
    bump(&http_bucket[route][b], 1);
    bump(&http_sum_ns[route], duration_ns);
    bump(&http_count[route], 1);
}

void md_metrics_decision(md_decision_t decision)
{
    if ((unsigned)decision >= MD_DECISION_COUNT) decision = MD_DECISION_ERROR;
    bump(&decisions[decision], 1);
}

void md_metrics_token_issued(void)
{
    bump(&tokens_issued, 1);
}

void md_metrics_attestation_failure(int code)
{
    int i = MD_ATTEST_ENOT_PEER - code;
    bump(&attestation_failures[i >= 0 && i < ATTEST_CODES ? i : ATTEST_CODES], 1);
}

void md_metrics_connection_rejected(void)
{
    bump(&conn_rejected, 1);
}

void md_metrics_reload(int ok)
{
    bump(&reloads[ok ? 1 : 0], 1);
}

static void family(md_buf_t *out, const char *name, const char *type, const char *help)
{
    md_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void md_metrics_render(md_buf_t *out)
{
    family(out, "mandate_http_requests_total", "counter",
           "HTTP requests answered, by route and status code.");
    for (size_t r = 0; r <= nroutes; r++)
        for (int c = 0; c < CODE_SPAN; c++) {
            uint64_t v = get(&http_total[r][c]);
            if (v)
                md_buf_printf(out, "mandate_http_requests_total{route=\"%s\",code=\"%d\"} %llu\n",
                              route_names[r], c + CODE_MIN, (unsigned long long)v);
        }

    family(out, "mandate_http_request_duration_seconds", "histogram",
           "Time from the first byte of a request to its answer being queued.");
    for (size_t r = 0; r <= nroutes; r++) {
        uint64_t count = get(&http_count[r]), cum = 0;
        if (count == 0) continue;
        for (size_t b = 0; b < NBUCKETS; b++) {
            cum += get(&http_bucket[r][b]);
            md_buf_printf(out, "mandate_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                          route_names[r], buckets[b], (unsigned long long)cum);
        }
        cum += get(&http_bucket[r][NBUCKETS]);
        md_buf_printf(out, "mandate_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
                      route_names[r], (unsigned long long)cum);
        md_buf_printf(out, "mandate_http_request_duration_seconds_sum{route=\"%s\"} %.9f\n", route_names[r],
                      (double)get(&http_sum_ns[r]) / 1e9);
        md_buf_printf(out, "mandate_http_request_duration_seconds_count{route=\"%s\"} %llu\n", route_names[r],
                      (unsigned long long)count);
    }

    family(out, "mandate_decisions_total", "counter", "Authorization decisions, by outcome.");
    for (int d = 0; d < MD_DECISION_COUNT; d++)
        md_buf_printf(out, "mandate_decisions_total{decision=\"%s\"} %llu\n", decision_names[d],
                      (unsigned long long)get(&decisions[d]));
    family(out, "mandate_tokens_issued_total", "counter", "Mandates and SVIDs issued.");
    md_buf_printf(out, "mandate_tokens_issued_total %llu\n", (unsigned long long)get(&tokens_issued));
    family(out, "mandate_attestation_failures_total", "counter",
           "Workload API requests refused by attestation, by reason.");
    for (int i = 0; i <= ATTEST_CODES; i++) {
        /* "MD_ATTEST_ENO_MATCH" -> "no_match" */
        const char *name =
            i < ATTEST_CODES ? md_attest_code_name(MD_ATTEST_ENOT_PEER - i) : "MD_ATTEST_EOTHER";
        char reason[40];
        size_t k = 0;
        for (const char *p = name + strlen("MD_ATTEST_E"); *p && k + 1 < sizeof(reason); p++)
            reason[k++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
        reason[k] = '\0';
        md_buf_printf(out, "mandate_attestation_failures_total{reason=\"%s\"} %llu\n", reason,
                      (unsigned long long)get(&attestation_failures[i]));
    }
    family(out, "mandate_http_connections_rejected_total", "counter",
           "Connections closed at once because limits.max_connections was reached.");
    md_buf_printf(out, "mandate_http_connections_rejected_total %llu\n",
                  (unsigned long long)get(&conn_rejected));
    family(out, "mandate_config_reloads_total", "counter", "Configuration reloads (SIGHUP), by result.");
    md_buf_printf(out, "mandate_config_reloads_total{result=\"ok\"} %llu\n",
                  (unsigned long long)get(&reloads[1]));
    md_buf_printf(out, "mandate_config_reloads_total{result=\"error\"} %llu\n",
                  (unsigned long long)get(&reloads[0]));
}
