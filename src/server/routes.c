/*
 * routes.c: the daemon's route table, and the endpoints that belong to the
 * server itself (/healthz, /metrics).  A module adds its endpoints here;
 * MD_ROUTE_ADMIN routes are reachable only with the admin token.
 */
#include "server/server_int.h"

#include <stdio.h>

#include "server/metrics.h"

static void healthz(md_http_req_t *req)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    md_http_reply(req, 200, "application/json", ok, sizeof(ok) - 1);
}

static void metrics(md_http_req_t *req)
{
    md_server_t *srv = req->srv;
    md_buf_t out;

    md_buf_init(&out);
    md_metrics_render(&out);
    md_buf_printf(&out,
                  "# HELP mandate_http_connections Open client connections.\n"
                  "# TYPE mandate_http_connections gauge\n"
                  "mandate_http_connections %ld\n"
                  "# HELP mandate_config_generation Generation of the running configuration (1 at start).\n"
                  "# TYPE mandate_config_generation gauge\n"
                  "mandate_config_generation %llu\n"
                  "# HELP mandate_build_info Build of the running mandated.\n"
                  "# TYPE mandate_build_info gauge\n"
                  "mandate_build_info{version=\"%s\"} 1\n",
                  (long)atomic_load(&srv->nconns), (unsigned long long)req->snap->generation, MD_VERSION);
    if (out.oom)
        md_http_error_oom(req);
    else
        md_http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", out.p, out.n);
    md_buf_free(&out);
}

const md_route_t md_routes[] = {
    {"GET", "/healthz", healthz, 0},
    {"GET", "/metrics", metrics, 0},
    {"GET", "/v1/admin/status", md_admin_status, MD_ROUTE_ADMIN},
    {"POST", "/v1/admin/settings", md_admin_settings_put, MD_ROUTE_ADMIN},
    {"GET", "/v1/admin/settings/{key}", md_admin_settings_get, MD_ROUTE_ADMIN},
    {"DELETE", "/v1/admin/settings/{key}", md_admin_settings_delete, MD_ROUTE_ADMIN},
    /* public keys and metadata (src/server/wellknown.c) */
    {"GET", "/.well-known/jwks.json", md_wellknown_jwks, 0},
    {"GET", "/.well-known/oauth-authorization-server", md_wellknown_oauth_metadata, 0},
    {"GET", "/v1/admin/keys", md_admin_keys, MD_ROUTE_ADMIN},
    /* the agent registry (src/server/agents.c) */
    {"POST", "/v1/admin/agents", md_admin_agents_create, MD_ROUTE_ADMIN},
    {"GET", "/v1/admin/agents", md_admin_agents_list, MD_ROUTE_ADMIN},
    {"GET", "/v1/admin/agents/{id}", md_admin_agents_get, MD_ROUTE_ADMIN},
    {"PATCH", "/v1/admin/agents/{id}", md_admin_agents_update, MD_ROUTE_ADMIN},
    {"DELETE", "/v1/admin/agents/{id}", md_admin_agents_delete, MD_ROUTE_ADMIN},
    /* tasks and mandates (src/server/tasks.c) */
    {"POST", "/v1/tasks", md_tasks_start, 0},
    {"POST", "/v1/tasks/{id}/end", md_tasks_end, 0},
    {"GET", "/v1/admin/tasks", md_admin_tasks_list, MD_ROUTE_ADMIN},
    {"GET", "/v1/admin/tasks/{id}", md_admin_tasks_get, MD_ROUTE_ADMIN},
    {"GET", "/v1/admin/tasks/{id}/tree", md_admin_tasks_tree, MD_ROUTE_ADMIN},
    {"POST", "/v1/admin/tasks/{id}/revoke", md_admin_tasks_revoke, MD_ROUTE_ADMIN},
    {"POST", "/v1/admin/agents/{id}/quarantine", md_admin_agents_quarantine, MD_ROUTE_ADMIN},
    {"POST", "/oauth/introspect", md_oauth_introspect, 0},
    {"POST", "/oauth/revoke", md_oauth_revoke, 0},
    {"POST", "/oauth/token", md_oauth_token, 0},
    /* a platform's OIDC token exchanged for an SVID (src/server/federated.c) */
    {"POST", "/v1/svid/federated", md_federated_svid, 0},
    /* the Workload API, on the Unix socket only (src/server/workload.c) */
    {"POST", "/v1/svid", md_workload_svid, MD_ROUTE_WORKLOAD},
    {"GET", "/v1/bundle", md_workload_bundle, MD_ROUTE_WORKLOAD},
};
const size_t md_nroutes = sizeof(md_routes) / sizeof(md_routes[0]);
