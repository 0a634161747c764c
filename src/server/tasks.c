/*
 * tasks.c: tasks and their mandates over HTTP.
 *
 *   POST /v1/tasks                     an agent (Bearer JWT-SVID) starts a task: 201
 *                                      {task_id, mandate, expires_at, scope}
 *   POST /v1/tasks/{id}/end            the holding agent ends it (and its delegations)
 *   GET  /v1/admin/tasks               admin: list (?holder= &root= &state= &limit=)
 *   GET  /v1/admin/tasks/{id}          admin: one task
 *   GET  /v1/admin/tasks/{id}/tree     admin: the task's whole tree, nested
 *   POST /v1/admin/tasks/{id}/revoke   admin: revoke it and every descendant {reason}
 *   POST /v1/admin/agents/{id}/quarantine  admin: quarantine an agent and revoke
 *                                      every task it holds {reason}
 *   POST /oauth/introspect             RFC 7662 (admin token or an agent's SVID)
 *   POST /oauth/revoke                 RFC 7009 (the holder's SVID or the admin token)
 *
 * Starting a task, in order (the first refusal answers):
 *   1. the agent's SVID (agentauth.c): registered and active;
 *   2. the body: intent, scope, audience, ttl, on_behalf_of (400);
 *   3. scope within the agent's scope_ceiling: a wider request is refused
 *      403 invalid_scope naming exactly the excess, never trimmed;
 *   4. ttl within tasks.max_ttl (400), default tasks.default_ttl;
 *   5. on_behalf_of: a user's ID token from a federation issuer, verified
 *      (waiting for keys off the loop); the user becomes a Cedar entity with
 *      its `groups` claim as parents;
 *   6. the Cedar decision Mandate::Action::"start_task" (principal the agent,
 *      resource Mandate::Service::"<audience>", context intent, scope, ttl,
 *      now, user?, dpop) against the snapshot's policies: deny → 403
 *      access_denied;
 *   7. the task is written to the store (committed) and added to the
 *      in-memory table, then the mandate is signed and answered.
 *
 * Every mandate is checked against the task table (src/task/revoke.h) on
 * use: ended, revoked, expired or unknown tasks are inactive at once, on
 * every worker, without a store read.
 */
#include "server/server_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "core/log.h"
#include "identity/oidc.h"
#include "identity/spiffe.h"
#include "server/metrics.h"
#include "task/mandate.h"
#include "token/dpop.h"
#include "task/revoke.h"
#include "task/scope.h"

#define AUDIENCE_MAX 255
#define REASON_MAX 512
#define ID_TOKEN_MAX (16 * 1024)

/* ---- small helpers ---- */

static bool text_ok(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max || strlen(s) != len) return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return false;
    return true;
}

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

static const char *iso_time(md_http_req_t *req, int64_t t)
{
    struct tm tm;
    time_t tt = (time_t)t;
    char buf[32];
    gmtime_r(&tt, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return md_arena_strdup(req->arena, buf);
}

/* The state a stored row has now: expiry is a matter of time. */
static const char *row_state(const md_store_task_t *t, int64_t now)
{
    return strcmp(t->state, "active") == 0 && t->expires_at <= now ? "expired" : t->state;
}

static json_t *row_json(const md_store_task_t *t, int64_t now)
{
    json_t *o = json_pack("{s:s, s:s?, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:I, s:I, s:I}",
                          "id", t->id, "parent", t->parent, "root", t->root, "depth", (json_int_t)t->depth,
                          "subject", t->subject, "holder", t->holder, "agent_id", t->agent_id, "audience",
                          t->audience, "intent", t->intent, "scope", t->scope, "state", row_state(t, now),
                          "reason", t->reason, "created_at", (json_int_t)t->created_at, "expires_at",
                          (json_int_t)t->expires_at, "ended_at", (json_int_t)t->ended_at);
    if (o == NULL) return NULL;
    if (t->jkt != NULL) json_object_set_new(o, "jkt", json_string(t->jkt));
    if (t->obo != NULL) {
        json_t *u = json_loads(t->obo, 0, NULL);
        if (u != NULL) json_object_set_new(o, "on_behalf_of", u);
    }
    return o;
}

/* ---- DPoP (RFC 9449) ---- */

/*
 * Check the request's DPoP proof for this endpoint (htm POST, htu = our
 * issuer + the request path), binding it to `token` (ath) when given and to
 * `jkt` when given, and record its jti.  0 with res filled, or -1 after
 * answering 400 invalid_dpop_proof (503 when the replay cache is full).
 */
static int check_dpop(md_http_req_t *req, md_str_t token, const char *jkt, md_dpop_result_t *res)
{
    md_str_t proof = md_http_header(req, "DPoP");
    md_dpop_params_t p;
    md_err_t err = {0};
    char htu[2600];
    int64_t now = (int64_t)time(NULL);
    int rc;

    if (md_http_header_count(req, "DPoP") != 1) {
        md_http_error(req, 400, "invalid_dpop_proof", "exactly one DPoP header is required");
        return -1;
    }
    snprintf(htu, sizeof(htu), "%s%.*s", req->snap->issuer, (int)req->path.n, req->path.p);
    memset(&p, 0, sizeof(p));
    p.proof = proof;
    p.htm = req->method;
    p.htu = md_str_c(htu);
    p.now = now;
    p.skew = 5;
    p.access_token = token;
    p.jkt = jkt ? md_str_c(jkt) : (md_str_t){NULL, 0};
    if ((rc = md_dpop_verify(&p, res, &err)) != MD_OK) {
        md_log(MD_LOG_INFO, req->id, "DPoP proof refused: %s: %s", md_dpop_err_name(rc), err.msg);
        md_http_error(req, 400, "invalid_dpop_proof", "%s (%s)", err.msg, md_dpop_err_name(rc));
        return -1;
    }
    rc = md_dpop_replay_check_and_add(req->srv->dpop_replay, md_str_c(res->jkt),
                                      (md_str_t){res->jti, res->jti_len}, res->replay_until, now);
    if (rc == MD_DPOP_REPLAY) {
        md_log(MD_LOG_WARN, req->id, "DPoP proof replayed (jkt %s)", res->jkt);
        md_http_error(req, 400, "invalid_dpop_proof", "this proof was already used (MD_DPOP_REPLAY)");
        return -1;
    }
    if (rc != MD_OK) {
        md_log(MD_LOG_ERROR, req->id, "DPoP replay cache: %s", md_dpop_err_name(rc));
        md_http_error(req, 503, "service_unavailable", "too many DPoP proofs in flight; retry");
        return -1;
    }
    return 0;
}

/* ---- starting a task ---- */

typedef struct start_job {
    md_http_req_t *req;
    md_oidc_wait_t *wait;
    const md_entry_t *entry; /* worker cache: found again after a wait (the cache may reload meanwhile) */
    const char *entry_id;    /* the agent's registry id (worker cache, likewise) */
    const char *spiffe_id;   /* req->arena */
    const char *intent, *audience;
    md_scope_t scope; /* req->arena */
    int64_t ttl;
    char jkt[MD_JWK_THUMBPRINT_LEN + 1]; /* DPoP: the key the mandate is bound to; "" when not bound */
    json_t *user;                        /* owned: {"iss","sub","email"?} or NULL */
    json_t *groups;                      /* owned: array of group names, or NULL */
} start_job_t;

static void start_job_free(start_job_t *j)
{
    if (j == NULL) return;
    json_decref(j->user);
    json_decref(j->groups);
    free(j);
}

/*
 * The policies that decided, for the log: "policy2 (prod-needs-dpop)" for
 * each reason in the authorizer's answer (the @id annotation when there is
 * one), into buf.  Best effort: the answer's JSON as it is otherwise.
 */
static const char *decided_by(const md_policies_t *pol, const char *answer, char *buf, size_t bufsz)
{
    json_t *doc = answer ? json_loads(answer, 0, NULL) : NULL, *reasons = json_object_get(doc, "reasons");
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; json_is_array(reasons) && i < json_array_size(reasons) && off + 1 < bufsz; i++) {
        const char *id = json_string_value(json_array_get(reasons, i));
        char name[128];
        if (id == NULL) continue;
        const char *ann = md_cedar_policy_annotation(pol->set, id, "id", name, sizeof(name));
        int n = snprintf(buf + off, bufsz - off, "%s%s%s%s%s", off ? ", " : "", id, ann ? " (" : "",
                         ann ? ann : "", ann ? ")" : "");
        if (n < 0 || (size_t)n >= bufsz - off) break;
        off += (size_t)n;
    }
    if (off == 0)
        snprintf(buf, bufsz, "%s",
                 json_is_array(reasons) ? "no policy (default deny)" : (answer ? answer : "-"));
    json_decref(doc);
    return buf;
}

/* The agent as a Cedar entity (Mandate::Agent; labels as tags). */
static json_t *agent_entity(const md_entry_t *e)
{
    json_t *labels = json_object(), *ceiling = json_array(), *o;
    for (size_t i = 0; labels && i < e->n_labels; i++)
        json_object_set_new(labels, e->labels[i].key, json_string(e->labels[i].value));
    for (size_t i = 0; ceiling && i < e->n_scopes; i++)
        json_array_append_new(ceiling, json_string(e->scopes[i]));
    o = json_pack("{s:{s:s, s:s}, s:{s:s, s:s#, s:s, s:s, s:s, s:o}, s:[], s:o}", "uid", "type",
                  "Mandate::Agent", "id", e->spiffe_id, "attrs", "spiffe_id", e->spiffe_id, "trust_domain",
                  e->id.trust_domain.p, e->id.trust_domain.n, "owner", e->owner, "env", e->env, "state",
                  md_entry_state_name(e->state), "scope_ceiling", ceiling, "parents", "tags", labels);
    return o;
}

/*
 * One Cedar decision: `action` by principal Mandate::Agent::<principal> on
 * <rtype>::<rid>, with the context and entities given (borrowed), against the
 * snapshot's policies and schema.  The outcome is logged as "<desc>: allow by
 * policyN (its @id)" and counted.  Returns MD_CEDAR_ALLOW, MD_CEDAR_DENY,
 * MD_ENOMEM, or MD_EINVAL when the request does not fit the schema (logged,
 * counted as an error: the caller refuses).
 */
static int cedar_decide(md_http_req_t *req, const char *action, const char *principal, const char *rtype,
                        const char *rid, const json_t *ents, json_t *ctx, const char *desc)
{
    md_policies_t *pol = req->snap->policies;
    md_worker_t *w = req->conn->w;
    json_t *request;
    char *etext = NULL, *rtext = NULL, errbuf[1024], why[512];
    md_cedar_entities_t *loaded = NULL;
    const char *answer = NULL;
    int rc = MD_ENOMEM;

    request = json_pack("{s:{s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s}, s:O}", "principal", "type",
                        "Mandate::Agent", "id", principal, "action", "type", "Mandate::Action", "id", action,
                        "resource", "type", rtype, "id", rid, "context", ctx);
    if (request == NULL || (etext = json_dumps(ents, JSON_COMPACT)) == NULL ||
        (rtext = json_dumps(request, JSON_COMPACT)) == NULL ||
        (w->cedar == NULL && (w->cedar = md_cedar_ctx_new()) == NULL))
        goto out;
    if (md_cedar_entities_load(etext, strlen(etext), action, pol->schema, &loaded, errbuf, sizeof(errbuf)) !=
            0 ||
        (rc = md_cedar_authorize_json(w->cedar, pol->set, loaded, pol->schema, rtext, strlen(rtext), &answer,
                                      errbuf, sizeof(errbuf))) < 0) {
        md_log(MD_LOG_ERROR, req->id, "%s: the request does not fit the schema: %s", action, errbuf);
        md_metrics_decision(MD_DECISION_ERROR);
        rc = MD_EINVAL;
        goto out;
    }
    md_log(MD_LOG_INFO, req->id, "%s: %s by %s", desc, rc == MD_CEDAR_ALLOW ? "allow" : "deny",
           decided_by(pol, answer, why, sizeof(why)));
    md_metrics_decision(rc == MD_CEDAR_ALLOW ? MD_DECISION_ALLOW : MD_DECISION_DENY);
out:
    md_cedar_entities_free(loaded);
    free(etext);
    free(rtext);
    json_decref(request);
    return rc;
}

/* The Cedar decision on start_task.  true: allowed; false: answered (403/500). */
static bool decide_start(md_http_req_t *req, start_job_t *j, int64_t now)
{
    const md_entry_t *e = j->entry;
    json_t *ents = json_array(), *agent = NULL, *ctx = NULL;
    const char *user_id = NULL;
    bool ok = false;

    if (ents == NULL) goto oom;
    agent = agent_entity(e);
    if (agent == NULL || json_array_append_new(ents, agent) != 0) goto oom;
    if (json_array_append_new(ents, json_pack("{s:{s:s, s:s}, s:{}, s:[]}", "uid", "type", "Mandate::Service",
                                              "id", j->audience, "attrs", "parents")) != 0)
        goto oom;
    if (j->user != NULL) {
        json_t *parents = json_array(), *uattrs;
        const char *iss = json_string_value(json_object_get(j->user, "iss"));
        const char *sub = json_string_value(json_object_get(j->user, "sub"));
        char *uid = md_arena_alloc(req->arena, strlen(iss) + strlen(sub) + 2);
        if (parents == NULL || uid == NULL) {
            json_decref(parents);
            goto oom;
        }
        sprintf(uid, "%s#%s", iss, sub);
        user_id = uid;
        for (size_t i = 0; j->groups != NULL && i < json_array_size(j->groups); i++) {
            const char *g = json_string_value(json_array_get(j->groups, i));
            json_array_append_new(parents, json_pack("{s:s, s:s}", "type", "Mandate::Group", "id", g));
            json_array_append_new(ents, json_pack("{s:{s:s, s:s}, s:{}, s:[]}", "uid", "type",
                                                  "Mandate::Group", "id", g, "attrs", "parents"));
        }
        uattrs = json_pack("{s:s, s:s}", "issuer", iss, "sub", sub);
        if (uattrs != NULL && json_object_get(j->user, "email") != NULL)
            json_object_set(uattrs, "email", json_object_get(j->user, "email"));
        if (uattrs != NULL && json_is_boolean(json_object_get(j->user, "email_verified")))
            json_object_set(uattrs, "email_verified", json_object_get(j->user, "email_verified"));
        if (uattrs == NULL ||
            json_array_append_new(ents, json_pack("{s:{s:s, s:s}, s:o, s:o}", "uid", "type", "Mandate::User",
                                                  "id", uid, "attrs", uattrs, "parents", parents)) != 0)
            goto oom;
    }
    ctx = json_pack("{s:s, s:o, s:I, s:{s:{s:s, s:s}}, s:b}", "intent", j->intent, "scope",
                    md_scope_to_json(&j->scope), "ttl", (json_int_t)j->ttl, "now", "__extn", "fn", "datetime",
                    "arg", iso_time(req, now), "dpop", j->jkt[0] != 0);
    if (ctx == NULL) goto oom;
    if (user_id != NULL)
        json_object_set_new(ctx, "user",
                            json_pack("{s:{s:s, s:s}}", "__entity", "type", "Mandate::User", "id", user_id));
    {
        char desc[600];
        snprintf(desc, sizeof(desc), "start_task %.255s for %.300s", j->audience, e->spiffe_id);
        int rc =
            cedar_decide(req, "start_task", e->spiffe_id, "Mandate::Service", j->audience, ents, ctx, desc);
        if (rc == MD_ENOMEM) goto oom;
        if (rc == MD_EINVAL)
            md_http_error(req, 403, "access_denied", "the policy could not decide; see the log (request %s)",
                          req->id);
        else if (rc != MD_CEDAR_ALLOW)
            md_http_error(req, 403, "access_denied",
                          "the policy does not allow this agent to start this task");
        else
            ok = true;
    }
    goto out;
oom:
    md_http_error_oom(req);
out:
    json_decref(ents);
    json_decref(ctx);
    return ok;
}

/* Decide, write, sign, answer. */
static void start_finish(md_http_req_t *req, start_job_t *j)
{
    md_server_t *srv = req->srv;
    int64_t now = (int64_t)time(NULL);
    md_task_id_t id;
    char hex[MD_TASK_ID_HEX_LEN + 1];
    md_buf_t scope, token;
    md_err_t err = {0};
    md_mandate_t m;
    json_t *claims = NULL, *out = NULL;
    char *obo = NULL;
    int rc;

    md_buf_init(&scope);
    md_buf_init(&token);
    if (!decide_start(req, j, now)) goto done;
    if (md_task_id_new(&id) != MD_OK) {
        md_http_error(req, 503, "service_unavailable", "no randomness; retry");
        goto done;
    }
    md_task_id_hex(&id, hex);
    if (md_scope_format(&j->scope, &scope) != MD_OK ||
        (j->user && (obo = json_dumps(j->user, JSON_COMPACT)) == NULL))
        goto oom;
    memset(&m, 0, sizeof(m));
    m.subject = m.client_id = j->spiffe_id;
    m.audience = j->audience;
    m.intent = j->intent;
    m.scope = j->scope;
    m.task = id;
    m.iat = now;
    m.exp = now + j->ttl;
    m.obo = j->user;
    m.jkt = j->jkt[0] ? j->jkt : NULL;
    claims = md_mandate_claims(&m, req->snap->issuer);
    if (claims == NULL) goto oom;
    rc = md_keys_sign_jwt(req->keys, now, MD_MANDATE_TYP, claims, &token, &err);
    if (rc != MD_OK) {
        md_log(MD_LOG_ERROR, req->id, "start_task: signing failed: %s", err.msg);
        md_http_error(req, 503, "service_unavailable", "the mandate could not be signed; retry");
        goto done;
    }
    md_store_task_t row = {hex,         NULL,      hex, 0,   j->spiffe_id, j->spiffe_id, NULL,
                           j->audience, j->intent, "",  obo, NULL,         "active",     NULL,
                           now,         m.exp,     0};
    row.agent_id = j->entry_id;
    row.scope = scope.p ? scope.p : "";
    row.jkt = m.jkt;
    if ((rc = md_store_task_insert(req->store, &row, &err)) != MD_OK) {
        store_failed(req, rc, &err);
        goto done;
    }
    if ((rc = md_tasktab_add(srv->tasks, &id, NULL, m.exp, MD_TASK_ACTIVE, now, &err)) != MD_OK) {
        /* written but not live: revoke it in the store so a restart cannot bring it back */
        size_t changed = 0;
        md_err_t e2 = {0};
        if (md_store_task_finish(req->store, hex, false, "revoked", "could not be added to the task table",
                                 now, &changed, &e2) != MD_OK)
            md_log(MD_LOG_ERROR, req->id, "start_task: %s", e2.msg);
        md_log(MD_LOG_ERROR, req->id, "start_task: the task table refused %s: %s", hex, err.msg);
        md_http_error(req, 503, "service_unavailable", "the task could not be started; retry");
        goto done;
    }
    out = json_pack("{s:s, s:s#, s:I, s:o, s:s}", "task_id", hex, "mandate", token.p, token.n, "expires_at",
                    (json_int_t)m.exp, "scope", md_scope_to_json(&j->scope), "token_type",
                    m.jkt ? "DPoP" : "Bearer");
    if (out == NULL) goto oom;
    md_log(MD_LOG_INFO, req->id, "task %s started by %s for %s (scope %s, %llds%s%s)", hex, j->spiffe_id,
           j->audience, row.scope, (long long)j->ttl, obo ? ", on behalf of " : "", obo ? obo : "");
    {
        char loc[64];
        snprintf(loc, sizeof(loc), "/v1/tasks/%s", hex);
        md_http_add_header(req, "Location", md_arena_strdup(req->arena, loc));
    }
    md_http_reply_json(req, 201, out);
    goto done;
oom:
    md_http_error_oom(req);
done:
    free(obo);
    json_decref(claims);
    json_decref(out);
    md_buf_free(&scope);
    md_buf_free(&token);
}

/* After a wait the registry cache may have been reloaded: find the agent again, still active. */
static bool refind_agent(md_http_req_t *req, start_job_t *j)
{
    md_err_t err = {0};
    int rc = md_workload_entry_find(req->conn->w, j->spiffe_id, &j->entry, &err);
    if (rc == MD_OK && j->entry->state == MD_ENTRY_ACTIVE) {
        j->entry_id = md_workload_entry_id(req->conn->w, j->entry);
        return true;
    }
    if (rc == MD_OK || rc == MD_ENOENT)
        md_http_error(req, 403, "access_denied", "the agent was removed or quarantined meanwhile");
    else
        md_http_error(req, 503, "service_unavailable",
                      "the registry cannot be read; see the log (request %s)", req->id);
    return false;
}

/* A verified user token: keep iss, sub, email, email_verified, groups. */
static bool take_user(md_http_req_t *req, start_job_t *j, int rc, const md_oidc_result_t *res,
                      const md_err_t *err)
{
    if (rc != MD_OK) {
        int status =
            rc == MD_OIDC_KEYS_UNAVAILABLE || rc == MD_OIDC_FETCH_FAILED || rc == MD_OIDC_BAD_DOCUMENT ? 503
                                                                                                       : 400;
        md_log(MD_LOG_WARN, req->id, "start_task: on_behalf_of refused: %s: %s", md_oidc_err_name(rc),
               err->msg);
        md_http_error(req, status, status == 503 ? "temporarily_unavailable" : "invalid_request",
                      "`on_behalf_of` is not a valid user token: %s (%s)", err->msg, md_oidc_err_name(rc));
        return false;
    }
    const json_t *c = res->claims, *groups = json_object_get(c, "groups");
    if (res->subject == NULL) {
        md_http_error(req, 400, "invalid_request", "`on_behalf_of`: the user token has no sub");
        return false;
    }
    j->user = json_pack("{s:s, s:s}", "iss", res->issuer, "sub", res->subject);
    if (j->user == NULL) return false;
    if (json_is_string(json_object_get(c, "email")))
        json_object_set(j->user, "email", json_object_get(c, "email"));
    if (json_is_boolean(json_object_get(c, "email_verified")))
        json_object_set(j->user, "email_verified", json_object_get(c, "email_verified"));
    if (groups != NULL) {
        if (!json_is_array(groups) || json_array_size(groups) > 256) {
            md_http_error(req, 400, "invalid_request",
                          "`on_behalf_of`: the groups claim must be an array of names");
            return false;
        }
        for (size_t i = 0; i < json_array_size(groups); i++) {
            const json_t *g = json_array_get(groups, i);
            if (!json_is_string(g) || !text_ok(json_string_value(g), json_string_length(g), 255)) {
                md_http_error(req, 400, "invalid_request", "`on_behalf_of`: groups[%zu] is not a group name",
                              i);
                return false;
            }
        }
        j->groups = json_incref((json_t *)groups);
    }
    return true;
}

static void on_user_verified(void *arg, int rc, md_oidc_result_t *res, const md_err_t *err)
{
    start_job_t *j = arg; /* a cancelled wait is never called back: j->req is alive */
    md_http_req_t *req = j->req;

    if (take_user(req, j, rc, res, err) && refind_agent(req, j)) start_finish(req, j);
    if (!req->replied) md_http_error_oom(req);
    start_job_free(j);
}

static void on_user_cancel(void *arg)
{
    start_job_t *j = arg;
    md_oidc_wait_cancel(j->wait);
    start_job_free(j);
}

/* The body of POST /v1/tasks into j.  Answers 400/403 and returns false. */
static bool parse_start(md_http_req_t *req, const json_t *body, start_job_t *j, const char **obo)
{
    const md_config_t *cfg = req->snap->config;
    const char *key;
    json_t *v;
    md_err_t err = {0};
    md_scope_t ceiling, excess;

    *obo = NULL;
    json_object_foreach((json_t *)body, key, v)
    {
        if (strcmp(key, "intent") && strcmp(key, "scope") && strcmp(key, "audience") && strcmp(key, "ttl") &&
            strcmp(key, "on_behalf_of")) {
            md_http_error(
                req, 400, "invalid_request",
                "unknown member `%.64s`: the body takes intent, scope, audience, ttl and on_behalf_of", key);
            return false;
        }
    }
    v = json_object_get(body, "intent");
    if (!json_is_string(v) || !text_ok(json_string_value(v), json_string_length(v), MD_MANDATE_INTENT_MAX)) {
        md_http_error(req, 400, "invalid_request",
                      "`intent` is required: what the task is for, 1 to %d bytes without control characters",
                      MD_MANDATE_INTENT_MAX);
        return false;
    }
    j->intent = md_arena_strdup(req->arena, json_string_value(v));
    v = json_object_get(body, "audience");
    if (!json_is_string(v) || !text_ok(json_string_value(v), json_string_length(v), AUDIENCE_MAX)) {
        md_http_error(req, 400, "invalid_request",
                      "`audience` is required: the service the mandate is for, 1 to %d bytes", AUDIENCE_MAX);
        return false;
    }
    j->audience = md_arena_strdup(req->arena, json_string_value(v));
    v = json_object_get(body, "scope");
    if (v == NULL) {
        md_http_error(req, 400, "invalid_request",
                      "`scope` is required: an array of scopes or a space-separated string");
        return false;
    }
    if ((json_is_string(v) ? md_scope_parse(md_str_c(json_string_value(v)), req->arena, &j->scope, &err)
                           : md_scope_from_json(v, req->arena, &j->scope, &err)) != MD_OK) {
        md_http_error(req, 400, "invalid_scope", "`scope`: %s", err.msg);
        return false;
    }
    if (j->scope.n == 0) {
        md_http_error(req, 400, "invalid_scope", "`scope` must name at least one scope");
        return false;
    }
    if (md_scope_from_list(j->entry->scopes, j->entry->n_scopes, req->arena, &ceiling, &err) != MD_OK ||
        md_scope_diff(&j->scope, &ceiling, req->arena, &excess) != MD_OK) {
        md_http_error_oom(req);
        return false;
    }
    if (excess.n > 0) {
        md_err_clear(&err);
        if (md_scope_check_within(&j->scope, &ceiling, "the agent's scope ceiling", &err) == MD_OK)
            md_err_set(&err, MD_SCOPE_EEXCEEDS, "the requested scope exceeds the agent's scope ceiling");
        md_log(MD_LOG_WARN, req->id, "start_task refused for %s: %s", j->spiffe_id, err.msg);
        md_http_error(req, 403, "invalid_scope", "%s", err.msg);
        return false;
    }
    j->ttl = cfg->tasks_default_ttl / 1000;
    v = json_object_get(body, "ttl");
    if (v != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > cfg->tasks_max_ttl / 1000) {
            md_http_error(req, 400, "invalid_request",
                          "`ttl` must be an integer number of seconds, 1 to %lld",
                          (long long)(cfg->tasks_max_ttl / 1000));
            return false;
        }
        j->ttl = (int64_t)json_integer_value(v);
    }
    if (j->ttl > cfg->keys_max_token_lifetime / 1000) j->ttl = cfg->keys_max_token_lifetime / 1000;
    v = json_object_get(body, "on_behalf_of");
    if (v != NULL) {
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > ID_TOKEN_MAX) {
            md_http_error(req, 400, "invalid_request", "`on_behalf_of` must be the user's ID token (a JWT)");
            return false;
        }
        *obo = json_string_value(v);
    }
    return true;
}

void md_tasks_start(md_http_req_t *req)
{
    md_agent_auth_t auth;
    json_t *body = NULL;
    start_job_t *j = NULL;
    const char *obo = NULL;

    md_dpop_result_t dpop;
    bool bound = false;

    if (md_agent_authenticate(req, &auth) != 0) return;
    /* a DPoP proof asks for a mandate bound to its key (RFC 9449 §5: the proof at issuance carries no ath) */
    if (md_http_header(req, "DPoP").p != NULL) {
        if (check_dpop(req, (md_str_t){NULL, 0}, NULL, &dpop) != 0) return;
        bound = true;
    }
    if ((body = md_http_json_body(req)) == NULL) return;
    if ((j = calloc(1, sizeof(*j))) == NULL) {
        md_http_error_oom(req);
        goto out;
    }
    j->req = req;
    if (bound) snprintf(j->jkt, sizeof(j->jkt), "%s", dpop.jkt);
    j->entry = auth.entry;
    j->entry_id = md_workload_entry_id(req->conn->w, auth.entry);
    j->spiffe_id = md_arena_strdup(req->arena, auth.spiffe_id);
    if (j->spiffe_id == NULL || j->entry_id == NULL) {
        md_http_error_oom(req);
        goto out;
    }
    if (!parse_start(req, body, j, &obo)) goto out;
    if (obo != NULL) {
        md_oidc_result_t res;
        md_err_t err = {0};
        memset(&res, 0, sizeof(res));
        int rc = md_oidc_verify_start(req->snap->oidc, req->conn->w->base, md_str_c(obo), (int64_t)time(NULL),
                                      on_user_verified, j, &j->wait, &res, &err);
        if (rc == MD_OIDC_PENDING) {
            md_http_defer(req, req->snap->config->fed_fetch_timeout + 5000, on_user_cancel, j);
            j = NULL;
            goto out;
        }
        bool ok = take_user(req, j, rc, &res, &err);
        md_oidc_result_free(&res);
        if (!ok) {
            if (!req->replied) md_http_error_oom(req);
            goto out;
        }
    }
    start_finish(req, j);
out:
    start_job_free(j);
    json_decref(body);
}

/* ---- ending and revoking ---- */

/*
 * Finish task `hex` and every active descendant: in memory first (from that
 * moment no worker accepts them), then in the store.  MD_OK with *changed
 * from the store, or a store error (answered by the caller; memory stays
 * finished: fail closed).
 */
static int finish_task(md_http_req_t *req, const char *hex, md_task_state_t to, const char *reason,
                       size_t *changed, md_err_t *err)
{
    md_task_id_t id;
    size_t mem = 0;
    int64_t now = (int64_t)time(NULL);

    *changed = 0;
    if (md_task_id_parse(md_str_c(hex), &id) == MD_OK &&
        md_tasktab_revoke(req->srv->tasks, &id, to, now, NULL, NULL, &mem) != MD_OK)
        md_log(MD_LOG_INFO, req->id, "task %s is not in the task table (expired and swept)", hex);
    return md_store_task_finish(req->store, hex, false, to == MD_TASK_ENDED ? "ended" : "revoked", reason,
                                now, changed, err);
}

/* The task named by the {id} parameter, from the store.  false after answering 400/404/5xx. */
static bool find_task(md_http_req_t *req, md_store_task_t *row)
{
    md_str_t p = md_http_param(req, "id");
    md_task_id_t id;
    md_err_t err = {0};
    int rc;

    if (p.p == NULL || md_task_id_parse(p, &id) != MD_OK) {
        md_http_error(req, 400, "invalid_request", "a task id is 32 lowercase hex digits");
        return false;
    }
    rc = md_store_task_get(req->store, p.p, req->arena, row, &err);
    if (rc == MD_ENOENT) {
        md_http_error(req, 404, "not_found", "no task %s", p.p);
        return false;
    }
    if (rc != MD_OK) {
        store_failed(req, rc, &err);
        return false;
    }
    return true;
}

/* An optional {"reason": "..."} body (or none).  NULL reason when absent; false after answering. */
static bool parse_reason(md_http_req_t *req, const char **reason)
{
    json_t *body, *r;
    *reason = NULL;
    if (req->body.n == 0) return true;
    if ((body = md_http_json_body(req)) == NULL) return false;
    r = json_object_get(body, "reason");
    if (json_object_size(body) != (r ? 1u : 0u) ||
        (r != NULL &&
         (!json_is_string(r) || !text_ok(json_string_value(r), json_string_length(r), REASON_MAX)))) {
        json_decref(body);
        md_http_error(req, 400, "invalid_request", "the body takes one member: reason, 1 to %d bytes",
                      REASON_MAX);
        return false;
    }
    if (r != NULL) *reason = md_arena_strdup(req->arena, json_string_value(r));
    json_decref(body);
    return true;
}

static void reply_finished(md_http_req_t *req, const md_store_task_t *row, const char *state, size_t changed)
{
    json_t *o = json_pack("{s:s, s:s, s:I}", "task_id", row->id, "state", state, "tasks_changed",
                          (json_int_t)changed);
    if (o == NULL)
        md_http_error_oom(req);
    else
        md_http_reply_json(req, 200, o);
    json_decref(o);
}

static int verify_mandate(md_http_req_t *req, md_str_t token, int64_t now, md_jwt_t *jwt, md_mandate_t *m,
                          md_err_t *err);

/* Is the compact JWS in tok's header typ at+jwt (a mandate, not an SVID)?  Unverified: only to choose. */
static bool looks_like_mandate(md_str_t tok)
{
    const char *dot = memchr(tok.p, '.', tok.n);
    unsigned char *h = NULL;
    size_t hl = 0;
    bool yes = false;
    if (dot != NULL && md_b64url_decode((md_str_t){tok.p, (size_t)(dot - tok.p)}, &h, &hl) == MD_OK) {
        json_t *j = json_loadb((const char *)h, hl, 0, NULL);
        const char *typ = json_string_value(json_object_get(j, "typ"));
        yes = typ != NULL && (strcasecmp(typ, "at+jwt") == 0 || strcasecmp(typ, "application/at+jwt") == 0);
        json_decref(j);
    }
    free(h);
    return yes;
}

/*
 * Who calls, on an endpoint a task's holder may use: its SVID (Bearer), or
 * the task's own mandate: `Authorization: Bearer <mandate>` when it is not
 * bound, `Authorization: DPoP <mandate>` with a DPoP proof by its key over it
 * (htm, htu, ath, cnf.jkt; RFC 9449 §7) when it is.  Sets *holder (the
 * holder's SPIFFE ID, in the arena) and, for a mandate, *task.  0, or -1
 * after answering 401/403/400.
 */
static int task_caller(md_http_req_t *req, const char **holder, md_task_id_t *task, bool *by_mandate)
{
    md_str_t h = md_http_header(req, "Authorization");
    bool dpop = h.p != NULL && h.n > 5 && strncasecmp(h.p, "DPoP ", 5) == 0;
    md_str_t tok = {NULL, 0};
    int64_t now = (int64_t)time(NULL);

    *by_mandate = false;
    if (dpop)
        tok = (md_str_t){h.p + 5, h.n - 5};
    else if (h.p != NULL && h.n > 7 && strncasecmp(h.p, "Bearer ", 7) == 0 &&
             looks_like_mandate((md_str_t){h.p + 7, h.n - 7}))
        tok = (md_str_t){h.p + 7, h.n - 7};
    if (tok.p == NULL) {
        md_agent_auth_t auth;
        if (md_agent_authenticate(req, &auth) != 0) return -1;
        *holder = md_arena_strdup(req->arena, auth.spiffe_id);
        return *holder ? 0 : (md_http_error_oom(req), -1);
    }
    md_jwt_t jwt;
    md_mandate_t m;
    md_err_t err = {0};
    md_dpop_result_t dr;
    if (md_http_header_count(req, "Authorization") != 1 ||
        verify_mandate(req, tok, now, &jwt, &m, &err) != MD_OK) {
        md_http_add_header(req, "WWW-Authenticate",
                           dpop ? "DPoP error=\"invalid_token\"" : "Bearer error=\"invalid_token\"");
        md_http_error(req, 401, "invalid_token", "the mandate is not valid here: %s", err.msg);
        return -1;
    }
    int rc = -1;
    if (dpop != (m.jkt != NULL)) {
        md_http_add_header(req, "WWW-Authenticate",
                           dpop ? "DPoP error=\"invalid_token\"" : "Bearer error=\"invalid_token\"");
        md_http_error(
            req, 401, "invalid_token",
            dpop ? "the mandate is not DPoP-bound: present it as Bearer"
                 : "the mandate is DPoP-bound: present it with Authorization: DPoP and a DPoP proof");
    } else if (dpop && check_dpop(req, tok, m.jkt, &dr) != 0) {
        /* answered */
    } else if (md_tasktab_state(req->srv->tasks, &m.task, now) != MD_TASK_ACTIVE) {
        md_http_error(req, 401, "invalid_token", "the mandate's task is not active");
    } else if ((*holder = md_arena_strdup(req->arena, m.client_id)) == NULL) {
        md_http_error_oom(req);
    } else {
        *task = m.task;
        *by_mandate = true;
        rc = 0;
    }
    md_jwt_free(&jwt);
    return rc;
}

void md_tasks_end(md_http_req_t *req)
{
    md_store_task_t row;
    md_err_t err = {0};
    size_t changed = 0;
    int64_t now = (int64_t)time(NULL);
    const char *holder = NULL;
    md_task_id_t mtask;
    bool by_mandate;
    char mhex[MD_TASK_ID_HEX_LEN + 1];
    int rc;

    if (task_caller(req, &holder, &mtask, &by_mandate) != 0) return;
    if (!find_task(req, &row)) return;
    if (by_mandate) { /* a mandate ends its own task only */
        md_task_id_hex(&mtask, mhex);
        if (strcmp(mhex, row.id) != 0) {
            md_http_error(req, 403, "access_denied", "a mandate may end its own task only");
            return;
        }
    }
    if (strcmp(row.holder, holder) != 0) {
        md_http_error(req, 403, "access_denied", "only the agent holding a task may end it");
        return;
    }
    if (strcmp(row_state(&row, now), "active") != 0) {
        md_http_error(req, 409, "conflict", "task %s is %s", row.id, row_state(&row, now));
        return;
    }
    if ((rc = finish_task(req, row.id, MD_TASK_ENDED, "ended by its agent", &changed, &err)) != MD_OK) {
        store_failed(req, rc, &err);
        return;
    }
    md_log(MD_LOG_INFO, req->id, "task %s ended by %s%s (%zu tasks)", row.id, holder,
           by_mandate ? " presenting its mandate" : "", changed);
    reply_finished(req, &row, "ended", changed);
}

void md_admin_tasks_revoke(md_http_req_t *req)
{
    md_store_task_t row;
    md_err_t err = {0};
    const char *reason;
    size_t changed = 0;
    int rc;

    if (!find_task(req, &row) || !parse_reason(req, &reason)) return;
    if ((rc = finish_task(req, row.id, MD_TASK_REVOKED, reason ? reason : "revoked by an administrator",
                          &changed, &err)) != MD_OK) {
        store_failed(req, rc, &err);
        return;
    }
    md_log(MD_LOG_INFO, req->id, "task %s revoked by an administrator (%zu tasks): %s", row.id, changed,
           reason ? reason : "-");
    /* a task that had already ended or expired keeps that state: say so */
    reply_finished(req, &row, changed > 0 ? "revoked" : row_state(&row, (int64_t)time(NULL)), changed);
}

void md_admin_tasks_get(md_http_req_t *req)
{
    md_store_task_t row;
    json_t *o;
    if (!find_task(req, &row)) return;
    if ((o = row_json(&row, (int64_t)time(NULL))) == NULL) {
        md_http_error_oom(req);
        return;
    }
    md_http_reply_json(req, 200, o);
    json_decref(o);
}

/* A query parameter's value (raw, no percent-decoding: the values taken here never need it). */
static const char *query_param(md_http_req_t *req, const char *name)
{
    md_str_t q = req->query;
    size_t nl = strlen(name);
    for (size_t i = 0; i < q.n;) {
        size_t e = i;
        while (e < q.n && q.p[e] != '&')
            e++;
        if (e - i > nl && memcmp(q.p + i, name, nl) == 0 && q.p[i + nl] == '=')
            return md_arena_memdup(req->arena, q.p + i + nl + 1, e - i - nl - 1);
        i = e + 1;
    }
    return NULL;
}

void md_admin_tasks_list(md_http_req_t *req)
{
    md_store_task_filter_t f = {0};
    md_store_task_t *rows = NULL;
    size_t n = 0;
    md_err_t err = {0};
    const char *limit = query_param(req, "limit");
    int64_t now = (int64_t)time(NULL);
    json_t *arr = json_array(), *o = NULL;
    int rc;

    f.holder = query_param(req, "holder");
    f.root = query_param(req, "root");
    f.state = query_param(req, "state");
    f.limit = 1000;
    if (limit != NULL) {
        char *end = NULL;
        long long l = strtoll(limit, &end, 10);
        if (end == limit || *end || l < 1 || l > 100000) {
            md_http_error(req, 400, "invalid_request", "limit must be 1 to 100000");
            goto out;
        }
        f.limit = l;
    }
    if (f.state != NULL && strcmp(f.state, "expired") == 0) { /* a matter of time: active ones past exp */
        f.state = "active";
        f.live_at = 0;
    } else if (f.state != NULL && strcmp(f.state, "active") == 0)
        f.live_at = now;
    rc = md_store_task_list(req->store, &f, req->arena, &rows, &n, &err);
    if (rc == MD_EINVAL) {
        md_http_error(req, 400, "invalid_request", "%s", err.msg);
        goto out;
    }
    if (rc != MD_OK) {
        store_failed(req, rc, &err);
        goto out;
    }
    for (size_t i = 0; arr != NULL && i < n; i++) {
        const char *want = query_param(req, "state");
        if (want != NULL && strcmp(want, "expired") == 0 && rows[i].expires_at > now) continue;
        if (json_array_append_new(arr, row_json(&rows[i], now)) != 0) goto oom;
    }
    if (arr == NULL || (o = json_pack("{s:O}", "tasks", arr)) == NULL) goto oom;
    md_http_reply_json(req, 200, o);
    goto out;
oom:
    md_http_error_oom(req);
out:
    json_decref(arr);
    json_decref(o);
}

/* GET /v1/admin/tasks/{id}/tree: the task and its descendants, nested under "children". */
void md_admin_tasks_tree(md_http_req_t *req)
{
    md_store_task_t row, *rows = NULL;
    md_store_task_filter_t f = {0};
    size_t n = 0;
    md_err_t err = {0};
    int64_t now = (int64_t)time(NULL);
    json_t **nodes = NULL, *top = NULL;
    int rc;

    if (!find_task(req, &row)) return;
    f.root = row.root;
    f.limit = 100000;
    if ((rc = md_store_task_list(req->store, &f, req->arena, &rows, &n, &err)) != MD_OK) {
        store_failed(req, rc, &err);
        return;
    }
    nodes = calloc(n ? n : 1, sizeof(*nodes));
    if (nodes == NULL) goto oom;
    /* rows are newest first: a parent comes after its children; link every node to its parent */
    for (size_t i = 0; i < n; i++) {
        if ((nodes[i] = row_json(&rows[i], now)) == NULL) goto oom;
        json_object_set_new(nodes[i], "children", json_array());
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].id, row.id) == 0) top = nodes[i];
        if (rows[i].parent == NULL) continue;
        for (size_t k = 0; k < n; k++)
            if (strcmp(rows[k].id, rows[i].parent) == 0) {
                json_array_insert(json_object_get(nodes[k], "children"), 0, nodes[i]);
                break;
            }
    }
    if (top == NULL) {
        md_http_error(req, 500, "internal_error", "the task is missing from its own tree");
        goto out;
    }
    md_http_reply_json(req, 200, top);
    goto out;
oom:
    md_http_error_oom(req);
out:
    for (size_t i = 0; nodes != NULL && i < n; i++)
        json_decref(nodes[i]);
    free(nodes);
}

/* ---- quarantine ---- */

int md_agent_quarantine(md_http_req_t *req, const char *key, const char *reason, md_store_agent_t *agent,
                        size_t *revoked, md_err_t *err)
{
    md_entry_t e;
    md_store_task_filter_t f = {0};
    md_store_task_t *rows = NULL;
    size_t n = 0;
    int64_t now = (int64_t)time(NULL);
    json_t *j = NULL;
    char *text = NULL;
    int rc;

    *revoked = 0;
    if ((rc = md_store_begin(req->store, err)) != MD_OK) return rc;
    rc = md_store_agent_get(req->store, key, strncmp(key, "spiffe://", 9) == 0, req->arena, agent, err);
    if (rc == MD_EINVAL) rc = MD_ENOENT;
    if (rc != MD_OK) goto fail;
    if ((rc = md_entry_parse(agent->entry, strlen(agent->entry), req->arena, &e, err)) != MD_OK) goto fail;
    e.state = MD_ENTRY_QUARANTINED;
    e.updated_at = now;
    if ((j = md_entry_to_json(&e)) == NULL || (text = json_dumps(j, JSON_COMPACT)) == NULL ||
        (agent->entry = md_arena_strdup(req->arena, text)) == NULL) {
        rc = md_err_set(err, MD_ENOMEM, "out of memory");
        goto fail;
    }
    agent->state = "quarantined";
    agent->updated_at = now;
    if ((rc = md_store_agent_update(req->store, agent, err)) != MD_OK) goto fail;
    /* every active task it holds: in memory first (fail closed), then in the same transaction */
    f.holder = agent->spiffe_id;
    f.state = "active";
    f.live_at = now; /* expired stays expired */
    f.limit = 100000;
    if ((rc = md_store_task_list(req->store, &f, req->arena, &rows, &n, err)) != MD_OK) goto fail;
    for (size_t i = 0; i < n; i++) {
        md_task_id_t id;
        size_t c = 0;
        if (md_task_id_parse(md_str_c(rows[i].id), &id) == MD_OK &&
            md_tasktab_revoke(req->srv->tasks, &id, MD_TASK_REVOKED, now, NULL, NULL, &c) != MD_OK)
            md_log(MD_LOG_INFO, req->id, "task %s is no longer in the task table", rows[i].id);
    }
    if ((rc = md_store_task_finish(req->store, agent->spiffe_id, true, "revoked",
                                   reason ? reason : "the agent was quarantined", now, revoked, err)) !=
        MD_OK)
        goto fail;
    if ((rc = md_store_commit(req->store, err)) != MD_OK) goto fail;
    atomic_fetch_add(&req->srv->registry_gen, 1);
    md_log(MD_LOG_WARN, req->id, "agent %s (%s) quarantined, %zu tasks revoked: %s", agent->id,
           agent->spiffe_id, *revoked, reason ? reason : "-");
    free(text);
    json_decref(j);
    return MD_OK;
fail:
    md_store_rollback(req->store);
    free(text);
    json_decref(j);
    return rc;
}

void md_admin_agents_quarantine(md_http_req_t *req)
{
    md_str_t key = md_http_param(req, "id");
    md_store_agent_t agent;
    md_err_t err = {0};
    const char *reason;
    size_t revoked = 0;
    json_t *o;
    int rc;

    if (!parse_reason(req, &reason)) return;
    rc = md_agent_quarantine(req, key.p, reason, &agent, &revoked, &err);
    if (rc == MD_ENOENT) {
        md_http_error(req, 404, "not_found", "no such agent");
        return;
    }
    if (rc != MD_OK) {
        store_failed(req, rc, &err);
        return;
    }
    o = json_pack("{s:s, s:s, s:s, s:I}", "id", agent.id, "spiffe_id", agent.spiffe_id, "state",
                  "quarantined", "tasks_revoked", (json_int_t)revoked);
    if (o == NULL)
        md_http_error_oom(req);
    else
        md_http_reply_json(req, 200, o);
    json_decref(o);
}

/* ---- RFC 7662 introspection and RFC 7009 revocation ---- */

/*
 * Verify a presented mandate and read it.  MD_OK with *jwt (md_jwt_free it)
 * and *m (borrowing from jwt->claims), or a refusal (err set).
 */
static int verify_mandate(md_http_req_t *req, md_str_t token, int64_t now, md_jwt_t *jwt, md_mandate_t *m,
                          md_err_t *err)
{
    size_t nkeys = 0;
    const md_jwk_t *const *keys = md_keys_view_keys(req->keys, &nkeys);
    md_jwt_verify_opts_t o = {0};
    char aud[AUDIENCE_MAX + 1] = "";
    int rc;

    /* the audience is the token's own (introspection serves every service); the signature covers it */
    {
        const char *dot1 = memchr(token.p, '.', token.n);
        const char *dot2 = dot1 ? memchr(dot1 + 1, '.', token.n - (size_t)(dot1 + 1 - token.p)) : NULL;
        unsigned char *payload = NULL;
        size_t plen = 0;
        if (dot2 != NULL &&
            md_b64url_decode((md_str_t){dot1 + 1, (size_t)(dot2 - dot1 - 1)}, &payload, &plen) == MD_OK) {
            json_t *c = json_loadb((const char *)payload, plen, 0, NULL);
            const char *a = json_string_value(json_object_get(c, "aud"));
            if (a != NULL && strlen(a) <= AUDIENCE_MAX) snprintf(aud, sizeof(aud), "%s", a);
            json_decref(c);
        }
        free(payload);
    }
    o.now = now;
    o.skew = 0;
    o.iss = req->snap->issuer;
    o.aud = aud[0] ? aud : "-";
    o.typ = MD_MANDATE_TYP;
    o.require_iat = true;
    memset(jwt, 0, sizeof(*jwt));
    if ((rc = md_jwt_verify(keys, nkeys, token, &o, jwt, err)) != MD_OK) return rc;
    if ((rc = md_mandate_read(jwt->claims, req->arena, m, err)) != MD_OK) {
        md_jwt_free(jwt);
        return rc;
    }
    return MD_OK;
}

/* Who may introspect or revoke: the admin token, or a registered agent's SVID. */
static bool caller(md_http_req_t *req, md_agent_auth_t *auth, bool *admin)
{
    md_str_t h = md_http_header(req, "Authorization");
    *admin = false;
    memset(auth, 0, sizeof(*auth));
    if (h.p != NULL && h.n > 7 && strncasecmp(h.p, "Bearer ", 7) == 0 &&
        memchr(h.p + 7, '.', h.n - 7) == NULL) {
        if (!md_admin_authorized(req)) return false; /* answered 401 */
        *admin = true;
        return true;
    }
    return md_agent_authenticate(req, auth) == 0;
}

void md_oauth_introspect(md_http_req_t *req)
{
    md_agent_auth_t auth;
    bool admin;
    md_str_t token;
    md_jwt_t jwt;
    md_mandate_t m;
    md_err_t err = {0};
    int64_t now = (int64_t)time(NULL);
    json_t *o = NULL;

    if (!caller(req, &auth, &admin)) return;
    if (md_http_form_value(req, "token", &token) != 0) return;
    if (verify_mandate(req, token, now, &jwt, &m, &err) != MD_OK) {
        md_log(MD_LOG_INFO, req->id, "introspect: inactive: %s", err.msg);
        o = json_pack("{s:b}", "active", 0);
        goto reply;
    }
    md_task_state_t st = md_tasktab_state(req->srv->tasks, &m.task, now);
    if (st != MD_TASK_ACTIVE) {
        md_log(MD_LOG_INFO, req->id, "introspect: task is %s", md_task_state_name(st));
        o = json_pack("{s:b}", "active", 0);
    } else {
        o = json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:O}", "active", 1, "scope",
                      json_string_value(json_object_get(jwt.claims, "scope")), "client_id", m.client_id,
                      "sub", m.subject, "aud", m.audience, "iss", req->snap->issuer, "exp", (json_int_t)m.exp,
                      "iat", (json_int_t)m.iat, "jti", json_string_value(json_object_get(jwt.claims, "jti")),
                      "token_type", m.jkt ? "DPoP" : "Bearer", "task", json_object_get(jwt.claims, "task"));
        if (o != NULL && m.act != NULL) json_object_set(o, "act", (json_t *)m.act);
        if (o != NULL && m.jkt != NULL) json_object_set(o, "cnf", json_object_get(jwt.claims, "cnf"));
        if (o != NULL && m.obo != NULL) json_object_set(o, "obo", (json_t *)m.obo);
    }
    md_jwt_free(&jwt);
reply:
    if (o == NULL) {
        md_http_error_oom(req);
        return;
    }
    md_http_reply_json(req, 200, o);
    json_decref(o);
}

void md_oauth_revoke(md_http_req_t *req)
{
    md_agent_auth_t auth;
    bool admin;
    md_str_t token;
    md_jwt_t jwt;
    md_mandate_t m;
    md_err_t err = {0};
    int64_t now = (int64_t)time(NULL);
    char hex[MD_TASK_ID_HEX_LEN + 1];
    size_t changed = 0;
    int rc;

    if (!caller(req, &auth, &admin)) return;
    if (md_http_form_value(req, "token", &token) != 0) return;
    /* RFC 7009 §2.2: an invalid token is not an error (nothing to revoke) */
    if (verify_mandate(req, token, now + 0, &jwt, &m, &err) != MD_OK) {
        md_http_reply(req, 200, "application/json", "{}", 2);
        return;
    }
    if (!admin && strcmp(m.client_id, auth.spiffe_id) != 0) {
        md_jwt_free(&jwt);
        md_http_error(req, 403, "unauthorized_client", "a mandate may be revoked by the agent holding it");
        return;
    }
    md_task_id_hex(&m.task, hex);
    md_jwt_free(&jwt);
    if ((rc =
             finish_task(req, hex, MD_TASK_REVOKED,
                         admin ? "revoked by an administrator (RFC 7009)" : "revoked by its agent (RFC 7009)",
                         &changed, &err)) != MD_OK) {
        store_failed(req, rc, &err);
        return;
    }
    md_log(MD_LOG_INFO, req->id, "task %s revoked through /oauth/revoke (%zu tasks)", hex, changed);
    md_http_reply(req, 200, "application/json", "{}", 2);
}

/* ---- start-up ---- */

int md_tasks_load(md_server_t *srv, md_store_t *st, md_err_t *err)
{
    md_tasktab_opts_t o = {0};
    md_store_task_t *rows = NULL;
    md_arena_t a;
    size_t n = 0, live = 0;
    int64_t now = (int64_t)time(NULL);
    int rc;

    o.expected = 4096;
    o.max_depth = MD_TASK_DEPTH_LIMIT; /* tasks.max_depth is enforced when delegating (it may change) */
    if ((srv->tasks = md_tasktab_new(&o)) == NULL) return md_err_set(err, MD_ENOMEM, "tasks: out of memory");
    md_arena_init(&a, 65536);
    rc = md_store_task_live(st, now, &a, &rows, &n, err);
    for (size_t i = 0; rc == MD_OK && i < n; i++) {
        md_task_id_t id, parent;
        md_task_state_t state = MD_TASK_ACTIVE;
        if (md_task_id_parse(md_str_c(rows[i].id), &id) != MD_OK ||
            (rows[i].parent && md_task_id_parse(md_str_c(rows[i].parent), &parent) != MD_OK) ||
            md_task_state_parse(rows[i].state, &state) != MD_OK) {
            rc = md_err_set(err, MD_EINVAL, "tasks: the stored task %s does not parse", rows[i].id);
            break;
        }
        rc = md_tasktab_add(srv->tasks, &id, rows[i].parent ? &parent : NULL, rows[i].expires_at, state, now,
                            err);
        if (rc == MD_TASK_EINACTIVE) { /* an active task under a finished one: the store is inconsistent */
            md_log_warn("tasks: %s is active under a finished parent: loaded as revoked", rows[i].id);
            md_err_clear(err);
            state = MD_TASK_REVOKED;
            rc = md_tasktab_add(srv->tasks, &id, rows[i].parent ? &parent : NULL, rows[i].expires_at, state,
                                now, err);
        }
        if (rc == MD_OK && state == MD_TASK_ACTIVE) live++;
    }
    md_arena_free(&a);
    if (rc == MD_OK) md_log_info("tasks: %zu loaded, %zu active", n, live);
    return rc;
}

/* ---- RFC 8693 token exchange: delegating a task to a sub-agent ---- */

#define GRANT_TOKEN_EXCHANGE "urn:ietf:params:oauth:grant-type:token-exchange"
#define TOKEN_TYPE_ACCESS "urn:ietf:params:oauth:token-type:access_token"
#define TOKEN_TYPE_JWT "urn:ietf:params:oauth:token-type:jwt"

/* An OAuth error answer (RFC 6749 §5.2): error and error_description, and our message member too. */
static void oauth_error(md_http_req_t *req, int status, const char *code, const char *fmt, ...)
    MD_PRINTF(4, 5);
static void oauth_error(md_http_req_t *req, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{s:s, s:s, s:s}", "error", code, "error_description", msg, "message", msg);
    md_log(MD_LOG_INFO, req->id, "token exchange refused: %s: %s", code, msg);
    if (o == NULL) {
        md_http_error_oom(req);
        return;
    }
    md_http_reply_json(req, status, o);
    json_decref(o);
}

/* An optional form field: 0 with out->p NULL when absent, -1 after answering. */
/*
 * A form field of the token request: refused with an RFC 6749 error when it
 * is required and missing, or given twice; decoded by md_http_form_value().
 * 0 (out->p NULL when an optional field is absent), or -1 after answering.
 */
static int oauth_field(md_http_req_t *req, const char *name, bool required, md_str_t *out)
{
    md_str_t b = req->body;
    size_t nl = strlen(name), seen = 0;
    out->p = NULL;
    out->n = 0;
    for (size_t i = 0; i < b.n;) {
        size_t e = i;
        while (e < b.n && b.p[e] != '&')
            e++;
        if (e - i >= nl + 1 && memcmp(b.p + i, name, nl) == 0 && b.p[i + nl] == '=') seen++;
        i = e + 1;
    }
    if (seen > 1) {
        oauth_error(req, 400, "invalid_request", "`%s` is given more than once", name);
        return -1;
    }
    if (seen == 0) {
        if (!required) return 0;
        oauth_error(req, 400, "invalid_request", "`%s` is required", name);
        return -1;
    }
    return md_http_form_value(req, name, out);
}

/* Verify an SVID presented as actor_token (as agentauth.c does for the Authorization header). */
static int verify_svid(md_http_req_t *req, md_str_t tok, int64_t now, md_jwt_t *jwt, md_err_t *err)
{
    size_t nkeys = 0;
    const md_jwk_t *const *keys = md_keys_view_keys(req->keys, &nkeys);
    md_jwt_verify_opts_t o = {0};
    o.now = now;
    o.skew = 60;
    o.iss = req->snap->issuer;
    o.aud = req->snap->issuer;
    o.typ = "JWT";
    o.require_iat = true;
    memset(jwt, 0, sizeof(*jwt));
    int rc = md_jwt_verify(keys, nkeys, tok, &o, jwt, err);
    if (rc == MD_OK && !json_is_string(json_object_get(jwt->claims, "sub"))) {
        md_jwt_free(jwt);
        return md_err_set(err, MD_EINVAL, "the SVID has no sub");
    }
    return rc;
}

/* The Cedar decision on delegate.  true: allowed; false: answered. */
static bool decide_delegate(md_http_req_t *req, const md_entry_t *parent_agent, const md_entry_t *child_agent,
                            const md_mandate_t *m, const md_scope_t *scope, int64_t ttl, unsigned depth,
                            int64_t now)
{
    char hex[MD_TASK_ID_HEX_LEN + 1];
    json_t *ents = json_array(), *ctx = NULL;
    bool ok = false;

    md_task_id_hex(&m->task, hex);
    if (ents == NULL) goto oom;
    json_array_append_new(ents, agent_entity(child_agent));
    if (strcmp(parent_agent->spiffe_id, child_agent->spiffe_id) != 0)
        json_array_append_new(ents, agent_entity(parent_agent));
    json_array_append_new(ents, json_pack("{s:{s:s, s:s}, s:{s:s, s:o, s:I, s:{s:{s:s, s:s}}}, s:[]}", "uid",
                                          "type", "Mandate::Task", "id", hex, "attrs", "intent", m->intent,
                                          "scope", md_scope_to_json(&m->scope), "depth", (json_int_t)m->depth,
                                          "agent", "__entity", "type", "Mandate::Agent", "id",
                                          parent_agent->spiffe_id, "parents"));
    ctx = json_pack("{s:{s:{s:s, s:s}}, s:o, s:I, s:I, s:{s:{s:s, s:s}}}", "delegator", "__entity", "type",
                    "Mandate::Agent", "id", parent_agent->spiffe_id, "scope", md_scope_to_json(scope), "ttl",
                    (json_int_t)ttl, "depth", (json_int_t)depth, "now", "__extn", "fn", "datetime", "arg",
                    iso_time(req, now));
    if (ctx == NULL) goto oom;
    {
        char desc[800];
        snprintf(desc, sizeof(desc), "delegate %s from %.300s to %.300s", hex, parent_agent->spiffe_id,
                 child_agent->spiffe_id);
        int rc = cedar_decide(req, "delegate", child_agent->spiffe_id, "Mandate::Task", hex, ents, ctx, desc);
        if (rc == MD_ENOMEM) goto oom;
        if (rc == MD_EINVAL)
            oauth_error(req, 400, "invalid_grant", "the policy could not decide; see the log (request %s)",
                        req->id);
        else if (rc != MD_CEDAR_ALLOW)
            oauth_error(req, 400, "invalid_grant", "the policy does not allow delegating this task to %s",
                        child_agent->spiffe_id);
        else
            ok = true;
    }
    goto out;
oom:
    md_http_error_oom(req);
out:
    json_decref(ents);
    json_decref(ctx);
    return ok;
}

void md_oauth_token(md_http_req_t *req)
{
    const md_config_t *cfg = req->snap->config;
    md_worker_t *w = req->conn->w;
    md_agent_auth_t auth;
    md_str_t grant, subject, subject_type, actor, actor_type, scope_s, audience, ttl_s;
    md_jwt_t pjwt, ajwt;
    md_mandate_t m, child;
    md_scope_t want, ceiling;
    md_store_task_t prow;
    const md_entry_t *parent_agent, *child_agent = NULL;
    const char *child_id = NULL, *actor_sub;
    md_err_t err = {0};
    int64_t now = (int64_t)time(NULL), ttl, exp;
    md_task_id_t id;
    char hex[MD_TASK_ID_HEX_LEN + 1], phex[MD_TASK_ID_HEX_LEN + 1];
    md_buf_t scope_buf, token;
    json_t *claims = NULL, *act = NULL, *out = NULL;
    char *obo = NULL;
    bool have_p = false, have_a = false;
    int rc;

    md_buf_init(&scope_buf);
    md_buf_init(&token);
    memset(&pjwt, 0, sizeof(pjwt));
    memset(&ajwt, 0, sizeof(ajwt));
    /* the client is the agent holding the subject token: without its SVID a stolen mandate exchanges nothing
     */
    if (md_agent_authenticate(req, &auth) != 0) goto done;
    parent_agent = auth.entry;
    {
        md_str_t ct = md_http_header(req, "Content-Type");
        if (ct.p == NULL || ct.n < 33 || strncasecmp(ct.p, "application/x-www-form-urlencoded", 33) != 0) {
            oauth_error(req, 400, "invalid_request", "the body must be application/x-www-form-urlencoded");
            goto done;
        }
    }
    if (oauth_field(req, "grant_type", true, &grant) != 0) goto done;
    if (!md_str_eqc(grant, GRANT_TOKEN_EXCHANGE)) {
        oauth_error(req, 400, "unsupported_grant_type", "only %s is supported", GRANT_TOKEN_EXCHANGE);
        goto done;
    }
    if (oauth_field(req, "subject_token", true, &subject) != 0 ||
        oauth_field(req, "subject_token_type", true, &subject_type) != 0 ||
        oauth_field(req, "actor_token", true, &actor) != 0 ||
        oauth_field(req, "actor_token_type", true, &actor_type) != 0 ||
        oauth_field(req, "scope", false, &scope_s) != 0 ||
        oauth_field(req, "audience", false, &audience) != 0 || oauth_field(req, "ttl", false, &ttl_s) != 0)
        goto done;
    if (!md_str_eqc(subject_type, TOKEN_TYPE_ACCESS) && !md_str_eqc(subject_type, TOKEN_TYPE_JWT)) {
        oauth_error(req, 400, "invalid_request", "subject_token_type must be %s", TOKEN_TYPE_ACCESS);
        goto done;
    }
    if (!md_str_eqc(actor_type, TOKEN_TYPE_JWT)) {
        oauth_error(req, 400, "invalid_request", "actor_token_type must be %s (a JWT-SVID)", TOKEN_TYPE_JWT);
        goto done;
    }
    /* the parent mandate: ours, held by the caller, its task active */
    if (verify_mandate(req, subject, now, &pjwt, &m, &err) != MD_OK) {
        oauth_error(req, 400, "invalid_grant", "subject_token is not a valid mandate: %s", err.msg);
        goto done;
    }
    have_p = true;
    if (strcmp(m.client_id, auth.spiffe_id) != 0) {
        oauth_error(req, 400, "invalid_grant", "subject_token is held by another agent");
        goto done;
    }
    md_task_id_hex(&m.task, phex);
    md_task_state_t st = md_tasktab_state(req->srv->tasks, &m.task, now);
    if (st != MD_TASK_ACTIVE) {
        oauth_error(req, 400, "invalid_grant", "the parent task is %s", md_task_state_name(st));
        goto done;
    }
    if (m.jkt != NULL) { /* bound: the holder proves possession of the key, over this very token */
        md_dpop_result_t dr;
        if (md_http_header(req, "DPoP").p == NULL) {
            oauth_error(req, 400, "invalid_dpop_proof",
                        "subject_token is DPoP-bound: a DPoP proof is required");
            goto done;
        }
        if (check_dpop(req, subject, m.jkt, &dr) != 0) goto done;
    }
    /* the sub-agent */
    if (verify_svid(req, actor, now, &ajwt, &err) != MD_OK) {
        oauth_error(req, 400, "invalid_grant", "actor_token is not a valid SVID for this issuer: %s",
                    err.msg);
        goto done;
    }
    have_a = true;
    actor_sub = json_string_value(json_object_get(ajwt.claims, "sub"));
    /* from the cache md_agent_authenticate() just made current: a reload here would move parent_agent */
    rc = md_workload_entry_lookup(w, actor_sub, &child_agent);
    if (rc != MD_OK || child_agent->state != MD_ENTRY_ACTIVE) {
        oauth_error(req, 400, "invalid_grant", "the actor %.300s is not a registered, active agent",
                    actor_sub);
        goto done;
    }
    child_id = md_workload_entry_id(w, child_agent);
    /* depth, audience, lifetime */
    if ((int64_t)m.depth + 1 > cfg->tasks_max_depth) {
        oauth_error(req, 400, "invalid_grant", "the task is at depth %u: delegation is limited to depth %lld",
                    m.depth, (long long)cfg->tasks_max_depth);
        goto done;
    }
    if (audience.p != NULL && !md_str_eqc(audience, m.audience)) {
        oauth_error(req, 400, "invalid_target", "a delegated mandate is for its parent's audience (%s) only",
                    m.audience);
        goto done;
    }
    exp = m.exp;
    if (ttl_s.p != NULL) {
        char *end = NULL;
        long long t = strtoll(ttl_s.p, &end, 10);
        if (end == ttl_s.p || *end || t < 1 || t > cfg->tasks_max_ttl / 1000) {
            oauth_error(req, 400, "invalid_request", "ttl must be 1 to %lld seconds",
                        (long long)(cfg->tasks_max_ttl / 1000));
            goto done;
        }
        if (now + t > m.exp) {
            oauth_error(req, 400, "invalid_request",
                        "a delegated mandate cannot outlive its parent (%lld s left, %lld asked)",
                        (long long)(m.exp - now), t);
            goto done;
        }
        exp = now + t;
    }
    ttl = exp - now;
    if (ttl < 1) {
        oauth_error(req, 400, "invalid_grant", "the parent mandate is about to expire");
        goto done;
    }
    /* scope: within the parent's, and within the sub-agent's own ceiling; never trimmed */
    if (md_scope_from_list(child_agent->scopes, child_agent->n_scopes, req->arena, &ceiling, &err) != MD_OK)
        goto oom;
    if (scope_s.p != NULL) {
        if (md_scope_parse(scope_s, req->arena, &want, &err) != MD_OK) {
            oauth_error(req, 400, "invalid_scope", "%s", err.msg);
            goto done;
        }
    } else if (md_scope_intersect(&m.scope, &ceiling, req->arena, &want) != MD_OK)
        goto oom;
    if (want.n == 0) {
        oauth_error(req, 400, "invalid_scope", "the delegated scope would be empty");
        goto done;
    }
    md_err_clear(&err);
    if (md_scope_check_within(&want, &m.scope, "the parent mandate's scope", &err) != MD_OK) {
        oauth_error(req, 400, "invalid_scope", "%s", err.msg);
        goto done;
    }
    md_err_clear(&err);
    if (md_scope_check_within(&want, &ceiling, "the sub-agent's scope ceiling", &err) != MD_OK) {
        oauth_error(req, 400, "invalid_scope", "%s", err.msg);
        goto done;
    }
    if (!decide_delegate(req, parent_agent, child_agent, &m, &want, ttl, m.depth + 1, now)) goto done;
    /* the parent's row: its root and user */
    if ((rc = md_store_task_get(req->store, phex, req->arena, &prow, &err)) != MD_OK) {
        store_failed(req, rc, &err);
        goto done;
    }
    if (md_task_id_new(&id) != MD_OK) {
        md_http_error(req, 503, "service_unavailable", "no randomness; retry");
        goto done;
    }
    md_task_id_hex(&id, hex);
    memset(&child, 0, sizeof(child));
    child.subject = m.subject;
    child.client_id = child_agent->spiffe_id;
    child.audience = m.audience;
    child.intent = m.intent;
    child.scope = want;
    child.task = id;
    child.parent = m.task;
    child.has_parent = true;
    child.depth = m.depth + 1;
    child.iat = now;
    child.exp = exp;
    child.obo = m.obo;
    if ((act = md_mandate_child_act(&m, child_agent->spiffe_id)) == NULL) goto oom;
    child.act = act;
    if ((claims = md_mandate_claims(&child, req->snap->issuer)) == NULL ||
        md_scope_format(&want, &scope_buf) != MD_OK ||
        (m.obo && (obo = json_dumps(m.obo, JSON_COMPACT)) == NULL))
        goto oom;
    if ((rc = md_keys_sign_jwt(req->keys, now, MD_MANDATE_TYP, claims, &token, &err)) != MD_OK) {
        md_log(MD_LOG_ERROR, req->id, "token exchange: signing failed: %s", err.msg);
        md_http_error(req, 503, "service_unavailable", "the mandate could not be signed; retry");
        goto done;
    }
    md_store_task_t row = {hex,       phex,
                           prow.root, (int64_t)child.depth,
                           m.subject, child_agent->spiffe_id,
                           child_id,  m.audience,
                           m.intent,  scope_buf.p,
                           obo,       NULL,
                           "active",  NULL,
                           now,       exp,
                           0};
    if ((rc = md_store_task_insert(req->store, &row, &err)) != MD_OK) {
        store_failed(req, rc, &err);
        goto done;
    }
    if ((rc = md_tasktab_add(req->srv->tasks, &id, &m.task, exp, MD_TASK_ACTIVE, now, &err)) != MD_OK) {
        size_t changed = 0;
        md_err_t e2 = {0};
        if (md_store_task_finish(req->store, hex, false, "revoked", "refused by the task table", now,
                                 &changed, &e2) != MD_OK)
            md_log(MD_LOG_ERROR, req->id, "token exchange: %s", e2.msg);
        /* the parent was revoked meanwhile, or the table is full */
        oauth_error(req, 400, "invalid_grant", "the delegation could not be recorded: %s", err.msg);
        goto done;
    }
    out = json_pack("{s:s#, s:s, s:s, s:I, s:s, s:s}", "access_token", token.p, token.n, "issued_token_type",
                    TOKEN_TYPE_ACCESS, "token_type", "Bearer", "expires_in", (json_int_t)ttl, "scope",
                    scope_buf.p, "task_id", hex);
    if (out == NULL) goto oom;
    md_log(MD_LOG_INFO, req->id, "task %s delegated from %s (%s) to %s: task %s, scope %s, %llds", phex,
           auth.spiffe_id, m.intent, child_agent->spiffe_id, hex, scope_buf.p, (long long)ttl);
    md_http_reply_json(req, 200, out);
    goto done;
oom:
    md_http_error_oom(req);
done:
    if (have_p) md_jwt_free(&pjwt);
    if (have_a) md_jwt_free(&ajwt);
    free(obo);
    json_decref(claims);
    json_decref(act);
    json_decref(out);
    md_buf_free(&scope_buf);
    md_buf_free(&token);
}
