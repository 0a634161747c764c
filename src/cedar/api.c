/*
 * api.c: the public embedding API (include/mandate/cedar.h) over the
 * engine's internal modules.  The public handles are the internal objects
 * themselves, cast; this file only adapts errors and ownership.
 */
#include "mandate/cedar.h"

#include <stdio.h>
#include <stdlib.h>

#include "cedar/authz.h"
#include "core/json.h"

struct md_cedar_ctx {
    md_arena_t arena;
    md_buf_t out;
};

static int fail(int rc, const md_err_t *err, char *errbuf, size_t errlen)
{
    if (errbuf && errlen) snprintf(errbuf, errlen, "%s", err->code ? err->msg : "error");
    return rc < 0 ? rc : MD_EINVAL;
}

int md_cedar_policies_load(const char *text, size_t len, const char *name, md_cedar_policies_t **out,
                           char *errbuf, size_t errlen)
{
    md_err_t err = {0};
    md_policyset_t *ps = NULL;
    *out = NULL;
    int rc = md_policyset_parse(text, len, name, &ps, &err);
    if (rc != MD_OK) return fail(rc, &err, errbuf, errlen);
    if (md_policyset_index(ps) != MD_OK) {
        md_policyset_free(ps);
        md_err_set(&err, MD_ENOMEM, "out of memory");
        return fail(MD_ENOMEM, &err, errbuf, errlen);
    }
    *out = (md_cedar_policies_t *)ps;
    return MD_OK;
}

int md_cedar_policies_link(md_cedar_policies_t *p, const char *template_id, const char *new_id,
                           const char *principal, const char *resource, char *errbuf, size_t errlen)
{
    md_policyset_t *ps = (md_policyset_t *)p;
    md_err_t err = {0};
    md_arena_t tmp;
    const md_uid_t *pu = NULL, *ru = NULL;
    int rc;
    md_arena_init(&tmp, 1024);
    if ((principal && (rc = md_uid_parse(principal, strlen(principal), &tmp, &pu, &err)) != MD_OK) ||
        (resource && (rc = md_uid_parse(resource, strlen(resource), &tmp, &ru, &err)) != MD_OK) ||
        (rc = md_policyset_link(ps, md_str_c(template_id), md_str_c(new_id), pu, ru, &err)) != MD_OK) {
        md_arena_free(&tmp);
        return fail(rc, &err, errbuf, errlen);
    }
    md_arena_free(&tmp);
    return MD_OK;
}

void md_cedar_policies_free(md_cedar_policies_t *p)
{
    md_policyset_free((md_policyset_t *)p);
}

const char *md_cedar_policy_annotation(const md_cedar_policies_t *p, const char *policy_id, const char *key,
                                       char *buf, size_t bufsz)
{
    const md_policy_t *pol;
    if (p == NULL || policy_id == NULL || key == NULL || buf == NULL || bufsz == 0) return NULL;
    pol = md_policyset_find((const md_policyset_t *)p, md_str_c(policy_id));
    if (pol == NULL) return NULL;
    for (uint32_t i = 0; i < pol->nannotations; i++) {
        const md_annotation_t *a = &pol->annotations[i];
        if (!md_str_eqc(a->key, key)) continue;
        size_t n = a->value.n < bufsz - 1 ? a->value.n : bufsz - 1;
        memcpy(buf, a->value.p, n);
        buf[n] = '\0';
        return buf;
    }
    return NULL;
}

int md_cedar_schema_load(const char *text, size_t len, const char *name, int json, md_cedar_schema_t **out,
                         char *errbuf, size_t errlen)
{
    md_err_t err = {0};
    md_schema_t *s = NULL;
    *out = NULL;
    int rc = json ? md_schema_parse_json(text, len, name, &s, &err)
                  : md_schema_parse_cedar(text, len, name, &s, &err);
    if (rc != MD_OK) return fail(rc, &err, errbuf, errlen);
    *out = (md_cedar_schema_t *)s;
    return MD_OK;
}

void md_cedar_schema_free(md_cedar_schema_t *s)
{
    md_schema_free((md_schema_t *)s);
}

int md_cedar_entities_load(const char *json, size_t len, const char *name, const md_cedar_schema_t *schema,
                           md_cedar_entities_t **out, char *errbuf, size_t errlen)
{
    md_err_t err = {0};
    md_entities_t *es = NULL;
    *out = NULL;
    int rc = md_entities_parse_json(json, len, name, (const md_schema_t *)schema, &es, &err);
    if (rc != MD_OK) return fail(rc, &err, errbuf, errlen);
    *out = (md_cedar_entities_t *)es;
    return MD_OK;
}

void md_cedar_entities_free(md_cedar_entities_t *e)
{
    md_entities_free((md_entities_t *)e);
}

md_cedar_ctx_t *md_cedar_ctx_new(void)
{
    md_cedar_ctx_t *c = calloc(1, sizeof(*c));
    if (c == NULL) return NULL;
    md_arena_init(&c->arena, 16384);
    md_buf_init(&c->out);
    return c;
}

void md_cedar_ctx_free(md_cedar_ctx_t *c)
{
    if (c == NULL) return;
    md_arena_free(&c->arena);
    md_buf_free(&c->out);
    free(c);
}

int md_cedar_authorize_json(md_cedar_ctx_t *ctx, const md_cedar_policies_t *p, const md_cedar_entities_t *e,
                            const md_cedar_schema_t *schema, const char *request, size_t len,
                            const char **response, char *errbuf, size_t errlen)
{
    md_err_t err = {0};
    json_error_t je;
    md_request_t req;
    md_response_t resp;
    int rc;

    if (response) *response = NULL;
    md_arena_reset(&ctx->arena);
    json_t *j = md_json_loadb(request, len, &je);
    if (j == NULL) {
        md_err_set(&err, MD_EINVAL, "request:%d:%d: invalid JSON: %s", je.line, je.column, je.text);
        return fail(MD_EINVAL, &err, errbuf, errlen);
    }
    rc = md_request_from_json(j, (const md_schema_t *)schema, schema != NULL, &ctx->arena, &req, &err);
    json_decref(j);
    if (rc != MD_OK) return fail(rc, &err, errbuf, errlen);
    const md_entities_t *es = (const md_entities_t *)e;
    static md_entities_t empty; /* zeroed: no entities */
    if (es == NULL) es = &empty;
    if (md_authorize((const md_policyset_t *)p, es, &req, &ctx->arena, &resp) != MD_OK) {
        md_err_set(&err, MD_ENOMEM, "out of memory during authorization");
        return fail(MD_ENOMEM, &err, errbuf, errlen);
    }
    if (response) {
        md_buf_reset(&ctx->out);
        md_response_to_json(&ctx->out, &resp);
        if (ctx->out.oom) {
            md_err_set(&err, MD_ENOMEM, "out of memory while writing the response");
            return fail(MD_ENOMEM, &err, errbuf, errlen);
        }
        *response = ctx->out.p;
    }
    return resp.allow ? MD_CEDAR_ALLOW : MD_CEDAR_DENY;
}
