/*
 * mandate/cedar.h: the embeddable Cedar engine.
 *
 * The public face of mandate's Cedar implementation, for programs that link
 * libmandate.a and want Cedar decisions in process.  Everything behind these
 * handles is internal (src/cedar/); this header is the stable contract.
 *
 * Lifecycle and threads:
 *   - Policies, schema and entities are loaded once and are immutable: one
 *     loaded set may be shared by any number of threads.
 *   - A md_cedar_ctx_t holds per-thread scratch memory: use one per thread.
 *     After the first request of a given shape, authorization allocates
 *     nothing.
 *   - Every load function returns 0 or a negative code and writes a
 *     human-readable message ("file:line:col: ..." or a JSON path) into
 *     errbuf; every handle is released by its *_free function (NULL is fine).
 *
 * Semantics are Cedar 4.x (https://www.cedarpolicy.com): default deny,
 * forbid overrides permit, a policy whose evaluation errors is skipped and
 * reported.
 */
#ifndef MANDATE_CEDAR_H
#define MANDATE_CEDAR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct md_cedar_policies md_cedar_policies_t;
typedef struct md_cedar_schema md_cedar_schema_t;
typedef struct md_cedar_entities md_cedar_entities_t;
typedef struct md_cedar_ctx md_cedar_ctx_t;

enum {
    MD_CEDAR_ALLOW = 1,
    MD_CEDAR_DENY = 0,
};

/* Load policies (and templates) in Cedar syntax; ids are policy0..N-1 in text order. */
int md_cedar_policies_load(const char *text, size_t len, const char *name, md_cedar_policies_t **out,
                           char *errbuf, size_t errlen);
/* Link a template: slot values are entity uids in Cedar syntax (`User::"alice"`), or NULL when absent.
 * Linking changes the set: link before sharing the set between threads. */
int md_cedar_policies_link(md_cedar_policies_t *p, const char *template_id, const char *new_id,
                           const char *principal, const char *resource, char *errbuf, size_t errlen);
void md_cedar_policies_free(md_cedar_policies_t *p);
/* The value of annotation @key on policy `policy_id` (key "id" for @id("...")), copied NUL-terminated
 * into buf (cut to bufsz - 1 bytes, and at a NUL inside the value); NULL when the policy or the
 * annotation does not exist.  Cedar never renames a policy after its @id: ids stay policy0..N-1. */
const char *md_cedar_policy_annotation(const md_cedar_policies_t *p, const char *policy_id, const char *key,
                                       char *buf, size_t bufsz);

/* Load a schema: Cedar text format (json == 0) or JSON format (json != 0). */
int md_cedar_schema_load(const char *text, size_t len, const char *name, int json, md_cedar_schema_t **out,
                         char *errbuf, size_t errlen);
void md_cedar_schema_free(md_cedar_schema_t *s);

/* Load entities (Cedar entity JSON); schema may be NULL (schema-less parsing). */
int md_cedar_entities_load(const char *json, size_t len, const char *name, const md_cedar_schema_t *schema,
                           md_cedar_entities_t **out, char *errbuf, size_t errlen);
void md_cedar_entities_free(md_cedar_entities_t *e);

md_cedar_ctx_t *md_cedar_ctx_new(void);
void md_cedar_ctx_free(md_cedar_ctx_t *c);

/*
 * Decide one request given as JSON {"principal": {"type","id"}, "action",
 * "resource", "context"}.  With a schema the context is parsed with it and
 * the request validated against it.  Returns MD_CEDAR_ALLOW, MD_CEDAR_DENY,
 * or a negative code when the request is malformed (message in errbuf; never
 * an allow).  When response is non-NULL, *response points to the answer as
 * JSON {"decision","reasons","errors"}, valid until the next call on ctx.
 */
int md_cedar_authorize_json(md_cedar_ctx_t *ctx, const md_cedar_policies_t *p, const md_cedar_entities_t *e,
                            const md_cedar_schema_t *schema, const char *request, size_t len,
                            const char **response, char *errbuf, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
