/*
 * policy.h: the Cedar policy AST, policy sets, parsing and printing.
 *
 * A policy set owns one arena holding every policy, template, expression
 * node and literal value.  Policy ids are "policy0".."policyN-1" in file
 * order, templates included (as the reference parser numbers them).
 * Grammar and desugaring follow cedar-policy-core/src/parser/grammar.lalrpop
 * and cst_to_ast.rs.
 */
#ifndef MD_CEDAR_POLICY_H
#define MD_CEDAR_POLICY_H

#include "core/core.h"
#include "cedar/value.h"

typedef enum md_op {
    MD_OP_LIT = 1, /* lit */
    MD_OP_VAR,     /* var: MD_VAR_* */
    MD_OP_SLOT,    /* var: MD_VAR_PRINCIPAL / MD_VAR_RESOURCE (only in scopes) */
    MD_OP_NOT,     /* a */
    MD_OP_NEG,     /* a */
    MD_OP_AND,     /* a && b */
    MD_OP_OR,      /* a || b */
    MD_OP_IF,      /* if a then b else c */
    MD_OP_EQ,
    MD_OP_NE, /* !(a == b) */
    MD_OP_LT,
    MD_OP_LE,
    MD_OP_GT,
    MD_OP_GE,
    MD_OP_IN,
    MD_OP_ADD,
    MD_OP_SUB,
    MD_OP_MUL,
    MD_OP_CONTAINS,
    MD_OP_CONTAINS_ALL,
    MD_OP_CONTAINS_ANY,
    MD_OP_IS_EMPTY,
    MD_OP_HAS_TAG,
    MD_OP_GET_TAG,
    MD_OP_HAS,     /* a has name */
    MD_OP_GETATTR, /* a.name / a["name"] */
    MD_OP_LIKE,    /* a like pattern */
    MD_OP_IS,      /* a is name */
    MD_OP_SET,     /* [args...] */
    MD_OP_RECORD,  /* {keys[i]: args[i]} */
    MD_OP_EXT,     /* fn(args...): ext = MD_EXT_* */
} md_op_t;

enum { MD_VAR_PRINCIPAL = 1, MD_VAR_ACTION, MD_VAR_RESOURCE, MD_VAR_CONTEXT };

typedef enum md_extfn {
    MD_EXT_DECIMAL = 1,
    MD_EXT_LESS_THAN,
    MD_EXT_LESS_THAN_OR_EQUAL,
    MD_EXT_GREATER_THAN,
    MD_EXT_GREATER_THAN_OR_EQUAL,
    MD_EXT_IP,
    MD_EXT_IS_IPV4,
    MD_EXT_IS_IPV6,
    MD_EXT_IS_LOOPBACK,
    MD_EXT_IS_MULTICAST,
    MD_EXT_IS_IN_RANGE,
    MD_EXT_DATETIME,
    MD_EXT_DURATION,
    MD_EXT_OFFSET,
    MD_EXT_DURATION_SINCE,
    MD_EXT_TO_DATE,
    MD_EXT_TO_TIME,
    MD_EXT_TO_MILLISECONDS,
    MD_EXT_TO_SECONDS,
    MD_EXT_TO_MINUTES,
    MD_EXT_TO_HOURS,
    MD_EXT_TO_DAYS,
} md_extfn_t;

const char *md_extfn_name(int fn);
/* The extension function named `name` (0 if none); *method tells its call style. */
int md_extfn_lookup(md_str_t name, bool *method);

/* A `like` pattern: code points, MD_LIKE_STAR for an unescaped `*`. */
#define MD_LIKE_STAR 0xffffffffu

typedef struct md_expr md_expr_t;
struct md_expr {
    uint8_t op;  /* md_op_t */
    uint8_t var; /* MD_VAR_* for VAR/SLOT; md_extfn_t for EXT */
    uint32_t nargs;
    uint32_t line, col;
    uint32_t height;     /* 1 + the tallest child: bounds evaluation depth */
    md_expr_t **args;    /* nargs children (a, b, c for binary/if) */
    md_cv_t lit;         /* LIT: the value */
    md_str_t name;       /* HAS/GETATTR: attribute; IS: entity type */
    md_str_t *keys;      /* RECORD: nargs keys */
    const uint32_t *pat; /* LIKE: pattern elements */
    uint32_t npat;
};

typedef enum md_scope_kind {
    MD_SCOPE_ANY = 0,
    MD_SCOPE_EQ,    /* == uid */
    MD_SCOPE_IN,    /* in uid (action: in uid) */
    MD_SCOPE_IS,    /* is type */
    MD_SCOPE_IS_IN, /* is type in uid */
    MD_SCOPE_IN_SET /* action in [uids] */
} md_scope_kind_t;

typedef struct md_scope {
    uint8_t kind;          /* md_scope_kind_t */
    bool slot;             /* the uid is ?principal / ?resource (templates) */
    md_str_t type;         /* IS, IS_IN */
    const md_uid_t *uid;   /* EQ, IN, IS_IN (NULL while a slot is unlinked) */
    const md_uid_t **uids; /* IN_SET */
    uint32_t nuids;
} md_scope_t;

typedef struct md_annotation {
    md_str_t key;
    md_str_t value; /* empty when written as @key */
} md_annotation_t;

typedef struct md_policy {
    md_str_t id;
    bool forbid;
    bool is_template; /* has a slot; never evaluated until linked */
    md_scope_t principal, action, resource;
    md_expr_t **conds; /* condition bodies in order */
    bool *unless;      /* per condition: true for `unless` */
    uint32_t nconds;
    md_annotation_t *annotations;
    uint32_t nannotations;
    uint32_t line, col;           /* where the policy starts */
    const struct md_policy *tmpl; /* for a template-linked policy: its template */
} md_policy_t;

typedef struct md_policyset {
    md_arena_t arena;       /* owns everything */
    md_policy_t **policies; /* in file order: static policies, templates, then links */
    uint32_t npolicies;
    uint32_t cap;
    struct md_pindex *index; /* built by md_policyset_index(); NULL until then */
} md_policyset_t;

#define MD_CEDAR_MAX_HEIGHT 2000 /* limit on an expression tree's height */

/* Parse policies (and templates) from Cedar text.  Errors read
 * "name:line:col: message".  *out is owned by the caller. */
int md_policyset_parse(const char *text, size_t len, const char *name, md_policyset_t **out,
                       md_err_t *err) MD_WUR;
void md_policyset_free(md_policyset_t *ps);
/* Check policy text and report every error (up to max_errors), one
 * "name:line:col: message" line each, recovering at the next `;`.
 * Returns the number of errors (0: the text parses). */
int md_policyset_check(const char *text, size_t len, const char *name, md_buf_t *out, int max_errors);
const md_policy_t *md_policyset_find(const md_policyset_t *ps, md_str_t id);
/* Link template `tmpl_id` with slot values into a new policy named new_id. */
int md_policyset_link(md_policyset_t *ps, md_str_t tmpl_id, md_str_t new_id, const md_uid_t *principal,
                      const md_uid_t *resource, md_err_t *err) MD_WUR;

/* Parse an entity uid written in Cedar syntax (`NS::Type::"id"`) into the arena. */
int md_uid_parse(const char *text, size_t len, md_arena_t *arena, const md_uid_t **out, md_err_t *err) MD_WUR;

/* Print a policy back in Cedar syntax (normalised). */
void md_policy_to_cedar(md_buf_t *b, const md_policy_t *p);
void md_expr_to_cedar(md_buf_t *b, const md_expr_t *e);

#endif
