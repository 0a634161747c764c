/*
 * authz.h: evaluation and authorization.
 *
 * md_authorize() is the decision path: it reads the policy set, the entity
 * store and the request, and allocates only from the caller's arena (reset
 * it between requests; after the first request of a given shape no malloc
 * happens).  Semantics: cedar-spec cedar-lean/Cedar/Spec/{Evaluator,
 * Authorizer}.lean — default deny, forbid overrides permit, a policy whose
 * evaluation errors is skipped and reported.
 */
#ifndef MD_CEDAR_AUTHZ_H
#define MD_CEDAR_AUTHZ_H

#include "cedar/entities.h"
#include "cedar/policy.h"

typedef enum md_eval_error {
    MD_EVAL_OK = 0,
    MD_EVAL_ENTITY_DOES_NOT_EXIST,
    MD_EVAL_ATTR_DOES_NOT_EXIST,
    MD_EVAL_TAG_DOES_NOT_EXIST,
    MD_EVAL_TYPE_ERROR,
    MD_EVAL_ARITH_OVERFLOW,
    MD_EVAL_EXTENSION_ERROR,
    MD_EVAL_NOMEM,
    MD_EVAL_DEPTH,
} md_eval_error_t;

typedef struct md_policy_error {
    const md_policy_t *policy;
    md_eval_error_t kind;
    md_str_t message; /* in the request arena */
} md_policy_error_t;

typedef struct md_response {
    bool allow;
    const md_policy_t **reasons; /* determining policies, in policy-set order */
    uint32_t nreasons;
    md_policy_error_t *errors; /* policies whose evaluation errored */
    uint32_t nerrors;
    uint32_t evaluated; /* policies evaluated (after index filtering) */
} md_response_t;

/* Returns MD_OK, or MD_ENOMEM when the arena ran out (then deny). */
int md_authorize(const md_policyset_t *ps, const md_entities_t *es, const md_request_t *req,
                 md_arena_t *arena, md_response_t *resp) MD_WUR;

/* Evaluate one expression (for tests and `mandate cedar eval`).  On an
 * evaluation error returns its kind and a message in *msg. */
md_eval_error_t md_eval_expr(const md_expr_t *e, const md_entities_t *es, const md_request_t *req,
                             md_arena_t *arena, md_cv_t *out, md_str_t *msg);

/* Apply extension function `fn` (md_extfn_t) to argument values, as a
 * policy would (used for `__extn` values with "args" in JSON). */
md_eval_error_t md_ext_apply(int fn, const md_cv_t *args, uint32_t nargs, md_arena_t *arena, md_cv_t *out,
                             md_str_t *msg);

/* Build the scope index (see index.c); optional, authorization is correct without it. */
int md_policyset_index(md_policyset_t *ps) MD_WUR;

/* The response as JSON: {"decision":..,"reasons":[..],"errors":[{"policy":..,"message":..}]} */
void md_response_to_json(md_buf_t *b, const md_response_t *r);

#endif
