/*
 * mandate.c: building and reading mandate claims (see mandate.h).
 */
#include "task/mandate.h"

#include <string.h>

json_t *md_mandate_claims(const md_mandate_t *m, const char *iss)
{
    char id[MD_TASK_ID_HEX_LEN + 1], parent[MD_TASK_ID_HEX_LEN + 1];
    md_buf_t scope;
    json_t *claims = NULL, *task = NULL;

    md_buf_init(&scope);
    md_task_id_hex(&m->task, id);
    if (md_scope_format(&m->scope, &scope) != MD_OK) goto fail;
    task = json_pack("{s:s, s:s, s:I}", "id", id, "intent", m->intent, "depth", (json_int_t)m->depth);
    if (task == NULL) goto fail;
    if (m->has_parent) {
        md_task_id_hex(&m->parent, parent);
        if (json_object_set_new(task, "parent", json_string(parent)) != 0) goto fail;
    }
    claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s#, s:O}", "iss", iss, "sub", m->subject, "aud",
                       m->audience, "client_id", m->client_id, "iat", (json_int_t)m->iat, "exp",
                       (json_int_t)m->exp, "jti", id, "scope", scope.p ? scope.p : "", scope.n, "task", task);
    if (claims == NULL) goto fail;
    if (m->act != NULL && json_object_set(claims, "act", (json_t *)m->act) != 0) goto fail;
    if (m->obo != NULL && json_object_set(claims, "obo", (json_t *)m->obo) != 0) goto fail;
    if (m->jkt != NULL && json_object_set_new(claims, "cnf", json_pack("{s:s}", "jkt", m->jkt)) != 0)
        goto fail;
    json_decref(task);
    md_buf_free(&scope);
    return claims;
fail:
    json_decref(task);
    json_decref(claims);
    md_buf_free(&scope);
    return NULL;
}

json_t *md_mandate_child_act(const md_mandate_t *m, const char *actor)
{
    json_t *act = json_pack("{s:s}", "sub", actor);
    if (act == NULL) return NULL;
    if (m->act != NULL && json_object_set(act, "act", (json_t *)m->act) != 0) {
        json_decref(act);
        return NULL;
    }
    return act;
}

static const char *str_claim(const json_t *obj, const char *name, bool required, md_err_t *err)
{
    const json_t *v = json_object_get(obj, name);
    if (v == NULL) {
        if (required) md_err_set(err, MD_EINVAL, "mandate: the `%s` claim is missing", name);
        return NULL;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        md_err_set(err, MD_EINVAL, "mandate: `%s` must be a non-empty string", name);
        return NULL;
    }
    return json_string_value(v);
}

static bool int_claim(const json_t *obj, const char *name, int64_t *out, md_err_t *err)
{
    const json_t *v = json_object_get(obj, name);
    if (!json_is_integer(v)) {
        md_err_set(err, MD_EINVAL, "mandate: `%s` must be an integer", name);
        return false;
    }
    *out = (int64_t)json_integer_value(v);
    return true;
}

int md_mandate_read(const json_t *claims, md_arena_t *a, md_mandate_t *out, md_err_t *err)
{
    const json_t *task, *cnf;
    const char *jti, *id, *scope, *parent;
    int64_t depth;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(claims)) return md_err_set(err, MD_EINVAL, "mandate: the claims are not an object");
    if ((out->subject = str_claim(claims, "sub", true, err)) == NULL) return MD_EINVAL;
    if ((out->client_id = str_claim(claims, "client_id", true, err)) == NULL) return MD_EINVAL;
    if ((out->audience = str_claim(claims, "aud", true, err)) == NULL) return MD_EINVAL;
    if ((jti = str_claim(claims, "jti", true, err)) == NULL) return MD_EINVAL;
    if ((scope = str_claim(claims, "scope", true, err)) == NULL) return MD_EINVAL;
    if (!int_claim(claims, "iat", &out->iat, err) || !int_claim(claims, "exp", &out->exp, err))
        return MD_EINVAL;
    if (out->exp <= out->iat || out->exp - out->iat > MD_MANDATE_MAX_LIFETIME)
        return md_err_set(err, MD_EINVAL, "mandate: its lifetime is not within 1..%d s",
                          MD_MANDATE_MAX_LIFETIME);
    if (md_scope_parse(md_str_c(scope), a, &out->scope, err) != MD_OK) return MD_EINVAL;
    task = json_object_get(claims, "task");
    if (!json_is_object(task)) return md_err_set(err, MD_EINVAL, "mandate: the `task` claim is missing");
    if ((id = str_claim(task, "id", true, err)) == NULL) return MD_EINVAL;
    if ((out->intent = str_claim(task, "intent", true, err)) == NULL) return MD_EINVAL;
    if (!int_claim(task, "depth", &depth, err)) return MD_EINVAL;
    if (md_task_id_parse(md_str_c(id), &out->task) != MD_OK)
        return md_err_set(err, MD_EINVAL, "mandate: task.id is not a task id");
    if (strcmp(id, jti) != 0) return md_err_set(err, MD_EINVAL, "mandate: jti is not the task id");
    if (depth < 0 || depth > MD_TASK_DEPTH_LIMIT)
        return md_err_set(err, MD_EINVAL, "mandate: task.depth is out of range");
    out->depth = (unsigned)depth;
    parent = str_claim(task, "parent", false, err);
    if (err->code != 0) return MD_EINVAL;
    out->act = json_object_get(claims, "act");
    if ((depth > 0) != (parent != NULL) || (depth > 0) != (out->act != NULL))
        return md_err_set(err, MD_EINVAL, "mandate: task.depth, task.parent and act disagree");
    if (parent != NULL) {
        if (md_task_id_parse(md_str_c(parent), &out->parent) != MD_OK)
            return md_err_set(err, MD_EINVAL, "mandate: task.parent is not a task id");
        out->has_parent = true;
        const char *actor = json_is_object(out->act) ? str_claim(out->act, "sub", true, err) : NULL;
        if (actor == NULL || strcmp(actor, out->client_id) != 0)
            return md_err_set(err, MD_EINVAL, "mandate: act.sub is not the client_id");
    } else if (strcmp(out->subject, out->client_id) != 0)
        return md_err_set(err, MD_EINVAL, "mandate: a root task's client_id is not its sub");
    cnf = json_object_get(claims, "cnf");
    if (cnf != NULL) {
        if (!json_is_object(cnf) || (out->jkt = str_claim(cnf, "jkt", true, err)) == NULL)
            return md_err_set(err, MD_EINVAL, "mandate: cnf must be {\"jkt\": thumbprint}");
    }
    out->obo = json_object_get(claims, "obo");
    if (out->obo != NULL && !json_is_object(out->obo))
        return md_err_set(err, MD_EINVAL, "mandate: obo must be an object");
    if (strlen(out->intent) > MD_MANDATE_INTENT_MAX)
        return md_err_set(err, MD_EINVAL, "mandate: task.intent is too long");
    return MD_OK;
}
