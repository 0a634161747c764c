/*
 * agents.c: the agent registry's admin endpoints (all MD_ROUTE_ADMIN):
 *
 *   POST   /v1/admin/agents        register: 201 + the agent, Location: its URL
 *   GET    /v1/admin/agents        list: {"agents": [...]}, ordered by SPIFFE ID
 *   GET    /v1/admin/agents/{id}   show one
 *   PATCH  /v1/admin/agents/{id}   replace the members the body names: 200 + the agent
 *   DELETE /v1/admin/agents/{id}   remove: 200 + the agent as it was
 *
 * {id} is the short id ("ag_" + 16 hex) or the SPIFFE ID, percent-encoded
 * as one path segment (spiffe:%2F%2Fexample.org%2Fagent%2Fx).  The request
 * and answer forms are in src/identity/registry.h and entry.h.
 *
 * Errors: 400 invalid_request (what is wrong, naming the member), 404
 * not_found, 409 conflict (SPIFFE ID taken, or selectors that could match
 * the same process as another agent's), 415/413/400 from the server for the
 * body itself.  Every check happens before anything is written, and every
 * write runs in one BEGIN IMMEDIATE transaction together with the checks it
 * depends on (uniqueness, overlap), so concurrent requests on other workers
 * cannot slip between the check and the write.
 */
#include "server/server_int.h"

#include <stdio.h>

#include "core/log.h"
#include "identity/registry.h"
#include "identity/spiffe.h"

static void store_failed(md_http_req_t *req, int rc, const md_err_t *err)
{
    md_log(MD_LOG_ERROR, req->id, "%s", err->msg);
    if (rc == MD_STORE_EBUSY)
        md_http_error(req, 503, "service_unavailable", "the store is busy; retry");
    else if (rc == MD_ENOMEM)
        md_http_error_oom(req);
    else
        md_http_error(req, 500, "internal_error", "the store failed; see the log (request %s)", req->id);
}

/* The API form of a stored row; NULL when its entry does not parse (answered 500) or on OOM. */
static json_t *row_json(md_http_req_t *req, const md_store_agent_t *row)
{
    json_error_t je;
    json_t *entry = json_loads(row->entry, JSON_REJECT_DUPLICATES, &je), *out = json_object();
    const char *key;
    json_t *v;
    if (entry == NULL || !json_is_object(entry)) {
        json_decref(entry);
        json_decref(out);
        md_log(MD_LOG_ERROR, req->id, "agent %s: the stored entry is not a JSON object", row->id);
        md_http_error(req, 500, "internal_error", "a stored entry is malformed; see the log (request %s)",
                      req->id);
        return NULL;
    }
    if (out == NULL || json_object_set_new(out, "id", json_string(row->id)) != 0) goto oom;
    json_object_foreach(entry, key, v)
    {
        if (json_object_set(out, key, v) != 0) goto oom;
    }
    json_decref(entry);
    return out;
oom:
    json_decref(entry);
    json_decref(out);
    md_http_error_oom(req);
    return NULL;
}

/* The row of entry e, with its canonical JSON text in the request's arena. */
static int entry_row(md_http_req_t *req, const char *id, const md_entry_t *e, md_store_agent_t *row)
{
    json_t *j = md_entry_to_json(e);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (text == NULL) return MD_ENOMEM;
    char *copy = md_arena_memdup(req->arena, text, strlen(text));
    free(text);
    if (copy == NULL) return MD_ENOMEM;
    *row = (md_store_agent_t){id,   e->spiffe_id,  e->owner,     e->env, md_entry_state_name(e->state),
                              copy, e->created_at, e->updated_at};
    return MD_OK;
}

/*
 * Inside the write transaction: refuse e when another agent (not skip_id) has
 * selectors that could match the same process.  Returns MD_OK, or answers
 * (409, or the store's error) and returns non-zero.
 */
static int check_overlap(md_http_req_t *req, const md_entry_t *e, const char *skip_id)
{
    md_arena_t rows_arena, scratch;
    md_store_agent_t *rows = NULL;
    size_t n = 0;
    md_err_t err = {0};
    int rc;

    if (e->n_selectors == 0) return MD_OK; /* never matched by attestation */
    md_arena_init(&rows_arena, 16384);
    md_arena_init(&scratch, 16384);
    rc = md_store_agent_list(req->store, &rows_arena, &rows, &n, &err);
    if (rc != MD_OK) {
        store_failed(req, rc, &err);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        md_entry_t other;
        md_err_t perr = {0};
        if (skip_id != NULL && strcmp(rows[i].id, skip_id) == 0) continue;
        md_arena_reset(&scratch);
        rc = md_entry_parse(rows[i].entry, strlen(rows[i].entry), &scratch, &other, &perr);
        if (rc != MD_OK) {
            md_log(MD_LOG_ERROR, req->id, "agent %s: stored entry does not parse: %s", rows[i].id, perr.msg);
            md_http_error(req, 500, "internal_error", "a stored entry is malformed; see the log (request %s)",
                          req->id);
            goto out;
        }
        if (md_registry_selectors_overlap(e, &other)) {
            md_http_error(req, 409, "conflict",
                          "selectors: a process could match both this entry and agent %s (%.200s); make some "
                          "selector type differ",
                          rows[i].id, rows[i].spiffe_id);
            rc = MD_EINVAL;
            goto out;
        }
    }
    rc = MD_OK;
out:
    md_arena_free(&scratch);
    md_arena_free(&rows_arena);
    return rc;
}

/* The {id} parameter → the stored row, or answers 400/404/5xx and returns non-zero. */
static int find_agent(md_http_req_t *req, md_store_agent_t *row)
{
    md_str_t key = md_http_param(req, "id");
    md_err_t err = {0};
    md_spiffe_id_t sid;
    md_registry_key_t kind = md_registry_key_kind(key.p);
    int rc;

    if (kind == MD_REGISTRY_KEY_BAD) {
        md_http_error(req, 400, "invalid_request",
                      "name an agent by its id (ag_ and 16 hex digits) or its SPIFFE ID (percent-encoded)");
        return MD_EINVAL;
    }
    if (kind == MD_REGISTRY_KEY_SPIFFE) {
        md_spiffe_error_t se = md_spiffe_parse(key, &sid);
        if (se != MD_SPIFFE_OK) {
            md_http_error(req, 400, "invalid_request", "not a SPIFFE ID: %s", md_spiffe_strerror(se));
            return MD_EINVAL;
        }
    }
    rc = md_store_agent_get(req->store, key.p, kind == MD_REGISTRY_KEY_SPIFFE, req->arena, row, &err);
    if (rc == MD_ENOENT) {
        md_http_error(req, 404, "not_found", "no agent %.300s", key.p);
        return rc;
    }
    if (rc != MD_OK) store_failed(req, rc, &err);
    return rc;
}

static void reply_row(md_http_req_t *req, int status, const md_store_agent_t *row)
{
    json_t *doc = row_json(req, row);
    if (doc == NULL) return; /* answered */
    md_http_reply_json(req, status, doc);
    json_decref(doc);
}

static bool begin(md_http_req_t *req)
{
    md_err_t err = {0};
    int rc = md_store_begin(req->store, &err);
    if (rc != MD_OK) store_failed(req, rc, &err);
    return rc == MD_OK;
}

/* Commit; on failure roll back and answer. */
/* With `trust_domain` set, every agent must be in it (400 otherwise). */
static bool in_trust_domain(md_http_req_t *req, const md_entry_t *e)
{
    const char *td = req->snap->config->trust_domain;
    if (td == NULL || md_spiffe_in_trust_domain(&e->id, md_str_c(td))) return true;
    md_http_error(req, 400, "invalid_request", "`spiffe_id`: %.300s is outside this trust domain (%s)",
                  e->spiffe_id, td);
    return false;
}

static bool commit(md_http_req_t *req)
{
    md_err_t err = {0};
    int rc = md_store_commit(req->store, &err);
    if (rc != MD_OK) {
        md_store_rollback(req->store);
        store_failed(req, rc, &err);
        return false;
    }
    atomic_fetch_add(&req->srv->registry_gen, 1); /* after the commit: see workload.c */
    return true;
}

void md_admin_agents_create(md_http_req_t *req)
{
    json_t *body = md_http_json_body(req);
    md_entry_t e;
    md_store_agent_t row, existing;
    md_err_t err = {0};
    char id[MD_AGENT_ID_LEN + 1];
    int rc;

    if (body == NULL) return; /* answered */
    rc = md_registry_parse_create(body, (int64_t)time(NULL), req->arena, &e, &err);
    json_decref(body);
    if (rc == MD_ENOMEM) {
        md_http_error_oom(req);
        return;
    }
    if (rc != MD_OK) {
        md_http_error(req, 400, "invalid_request", "%s", err.msg);
        return;
    }
    if (!in_trust_domain(req, &e)) return;
    if (md_registry_new_id(id) != MD_OK) {
        md_http_error(req, 503, "service_unavailable", "no randomness for an id; retry");
        return;
    }
    if (entry_row(req, id, &e, &row) != MD_OK) {
        md_http_error_oom(req);
        return;
    }
    if (!begin(req)) return;
    rc = md_store_agent_get(req->store, e.spiffe_id, true, req->arena, &existing, &err);
    if (rc == MD_OK) {
        md_store_rollback(req->store);
        md_http_error(req, 409, "conflict", "agent %s already has SPIFFE ID %.300s", existing.id,
                      e.spiffe_id);
        return;
    }
    if (rc != MD_ENOENT) goto store_error;
    md_err_clear(&err);
    if (check_overlap(req, &e, NULL) != MD_OK) {
        md_store_rollback(req->store);
        return;
    }
    rc = md_store_agent_insert(req->store, &row, &err);
    if (rc == MD_STORE_EEXISTS) {
        md_store_rollback(req->store);
        md_http_error(req, 409, "conflict", "an agent with SPIFFE ID %.300s exists", e.spiffe_id);
        return;
    }
    if (rc != MD_OK) goto store_error;
    if (!commit(req)) return;
    md_log(MD_LOG_INFO, req->id, "agent %s registered: %s (owner %s, env %s)", id, e.spiffe_id, e.owner,
           e.env);
    char *loc = md_arena_alloc(req->arena, sizeof("/v1/admin/agents/") + MD_AGENT_ID_LEN);
    if (loc != NULL) {
        snprintf(loc, sizeof("/v1/admin/agents/") + MD_AGENT_ID_LEN, "/v1/admin/agents/%s", id);
        md_http_add_header(req, "Location", loc);
    }
    reply_row(req, 201, &row);
    return;
store_error:
    md_store_rollback(req->store);
    store_failed(req, rc, &err);
}

void md_admin_agents_list(md_http_req_t *req)
{
    md_store_agent_t *rows = NULL;
    size_t n = 0;
    md_err_t err = {0};
    json_t *arr = json_array(), *doc = NULL;
    int rc;

    if (arr == NULL) {
        md_http_error_oom(req);
        return;
    }
    rc = md_store_agent_list(req->store, req->arena, &rows, &n, &err);
    if (rc != MD_OK) {
        json_decref(arr);
        store_failed(req, rc, &err);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *a = row_json(req, &rows[i]);
        if (a == NULL) { /* answered */
            json_decref(arr);
            return;
        }
        if (json_array_append_new(arr, a) != 0) {
            json_decref(arr);
            md_http_error_oom(req);
            return;
        }
    }
    doc = json_pack("{s:o}", "agents", arr);
    if (doc == NULL) {
        md_http_error_oom(req);
        return;
    }
    md_http_reply_json(req, 200, doc);
    json_decref(doc);
}

void md_admin_agents_get(md_http_req_t *req)
{
    md_store_agent_t row;
    if (find_agent(req, &row) != MD_OK) return;
    reply_row(req, 200, &row);
}

void md_admin_agents_update(md_http_req_t *req)
{
    json_t *patch = md_http_json_body(req), *current = NULL;
    md_store_agent_t row, next;
    md_entry_t e;
    md_err_t err = {0};
    json_error_t je;
    int rc;

    if (patch == NULL) return; /* answered */
    if (!begin(req)) goto out;
    if (find_agent(req, &row) != MD_OK) goto rollback;
    current = json_loads(row.entry, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(current)) {
        md_log(MD_LOG_ERROR, req->id, "agent %s: the stored entry is not a JSON object", row.id);
        md_http_error(req, 500, "internal_error", "a stored entry is malformed; see the log (request %s)",
                      req->id);
        goto rollback;
    }
    rc = md_registry_parse_update(current, patch, (int64_t)time(NULL), req->arena, &e, &err);
    if (rc == MD_ENOMEM) {
        md_http_error_oom(req);
        goto rollback;
    }
    if (rc != MD_OK) {
        md_http_error(req, 400, "invalid_request", "%s", err.msg);
        goto rollback;
    }
    if (!in_trust_domain(req, &e)) goto rollback;
    if (entry_row(req, row.id, &e, &next) != MD_OK) {
        md_http_error_oom(req);
        goto rollback;
    }
    if (check_overlap(req, &e, row.id) != MD_OK) goto rollback;
    rc = md_store_agent_update(req->store, &next, &err);
    if (rc != MD_OK) {
        store_failed(req, rc, &err);
        goto rollback;
    }
    if (!commit(req)) goto out;
    md_log(MD_LOG_INFO, req->id, "agent %s updated: %s (owner %s, env %s, %s)", row.id, e.spiffe_id, e.owner,
           e.env, md_entry_state_name(e.state));
    reply_row(req, 200, &next);
    goto out;
rollback:
    md_store_rollback(req->store);
out:
    json_decref(current);
    json_decref(patch);
}

void md_admin_agents_delete(md_http_req_t *req)
{
    md_store_agent_t row;
    md_err_t err = {0};
    int rc;

    if (!begin(req)) return;
    if (find_agent(req, &row) != MD_OK) {
        md_store_rollback(req->store);
        return;
    }
    rc = md_store_agent_delete(req->store, row.id, &err);
    if (rc != MD_OK) {
        md_store_rollback(req->store);
        store_failed(req, rc, &err);
        return;
    }
    if (!commit(req)) return;
    md_log(MD_LOG_INFO, req->id, "agent %s removed: %s", row.id, row.spiffe_id);
    reply_row(req, 200, &row);
}
