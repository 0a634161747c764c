/*
 * mandate.h: the claims of a mandate, the per-task access token (RFC 9068
 * JWT access token, header typ "at+jwt"), and reading them back.
 *
 * Claims of a mandate (all required unless marked):
 *   iss        mandated's issuer
 *   sub        the SPIFFE ID of the agent that started the root task: the
 *              subject the whole delegation chain acts for (RFC 8693 §4.1)
 *   aud        the one service the mandate is for (a string)
 *   client_id  the SPIFFE ID of the agent holding this mandate (RFC 9068 §2.2):
 *              sub for a root task, the sub-agent for a delegated one
 *   iat, exp   exp - iat <= tasks.max_ttl (at most 15 minutes); a child's
 *              exp <= its parent's
 *   jti        the task id (32 lowercase hex digits): one mandate per task
 *   scope      space-separated, sorted (RFC 9068 §2.2.3.1); a child's scope
 *              is a subset of its parent's
 *   task       {"id", "intent", "depth", "parent"?}: depth 0 for a root task,
 *              parent (a task id) on delegated ones
 *   act        (delegated only) RFC 8693 §4.1 actor chain: the current actor
 *              (= client_id) outermost, then each prior actor nested:
 *              {"sub": child, "act": {"sub": parent, ...}} down to, but not
 *              including, sub
 *   obo        (optional) the user the task is on behalf of, from a verified
 *              ID token: {"iss", "sub", "email"?, "email_verified"?}
 *   cnf        (optional) {"jkt": RFC 7638 thumbprint}: DPoP-bound (RFC 9449)
 *
 * md_mandate_read() checks the shape of claims that already passed
 * md_jwt_verify() (signature, iss, aud, exp): a mandate that verifies but
 * does not read is refused, never half-trusted.
 */
#ifndef MD_TASK_MANDATE_H
#define MD_TASK_MANDATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"
#include "task/revoke.h"
#include "task/scope.h"

#define MD_MANDATE_TYP "at+jwt"
#define MD_MANDATE_INTENT_MAX 512
#define MD_MANDATE_MAX_LIFETIME 900 /* seconds: the hard maximum, whatever the configuration says */

typedef struct md_mandate {
    const char *subject;   /* sub */
    const char *client_id; /* the holder */
    const char *audience;
    const char *intent;
    md_scope_t scope;
    md_task_id_t task;
    md_task_id_t parent; /* when has_parent */
    bool has_parent;
    unsigned depth;
    int64_t iat, exp;
    const char *jkt;   /* cnf.jkt, or NULL */
    const json_t *act; /* borrowed from the claims, or NULL */
    const json_t *obo; /* borrowed from the claims, or NULL */
} md_mandate_t;

/*
 * The claims of m under issuer iss (a new reference; NULL on OOM).  m is
 * trusted (built by the caller from checked values).
 */
json_t *md_mandate_claims(const md_mandate_t *m, const char *iss);

/*
 * Read verified claims into *out: strings borrowed from claims (keep claims
 * alive), the scope parsed into arena a.  Refuses (MD_EINVAL, err naming the
 * claim) a missing or mistyped claim, a bad task id, a jti that is not the
 * task id, depth > 0 without parent or act (or the reverse), an act chain
 * whose outermost sub is not client_id, a lifetime over
 * MD_MANDATE_MAX_LIFETIME.
 */
int md_mandate_read(const json_t *claims, md_arena_t *a, md_mandate_t *out, md_err_t *err) MD_WUR;

/* The act chain of a child of m held by `actor` (a new reference; NULL on OOM):
 * {"sub": actor, "act": m's act} for a delegated m, {"sub": actor} for a root. */
json_t *md_mandate_child_act(const md_mandate_t *m, const char *actor);

#endif
