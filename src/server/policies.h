/*
 * policies.h: the Cedar policies and schema a snapshot decides with.
 *
 * Loaded at start and on every reload, with the rest of the snapshot, from
 *   policies.dir     every regular file named *.cedar in it, in byte order of
 *                    their names, read as one policy set (ids policy0..N-1 in
 *                    that order; Cedar ignores @id for ids); no directory:
 *                    no policy, so every decision is deny (default deny);
 *   policies.schema  a Cedar schema (text format; JSON when the name ends in
 *                    .json); unset: the built-in schema, policies/mandate.cedarschema
 *                    compiled into the binary.
 * Policy files decide what agents may do, so a policy file or folder that
 * group or others may write to is refused (as is a symbolic link): whoever
 * can write a policy can allow anything.  Every parse error is reported as
 * file:line:col through the config diagnostics, and a reload with a bad
 * policy keeps the running set.
 *
 * A loaded set is immutable and shared by every worker through the snapshot.
 */
#ifndef MD_SERVER_POLICIES_H
#define MD_SERVER_POLICIES_H

#include <stddef.h>

#include "core/config.h"
#include "mandate/cedar.h"

#define MD_POLICY_FILES_MAX 1024
#define MD_POLICY_FILE_MAX (4u << 20)

typedef struct md_policies {
    md_cedar_policies_t *set;  /* owned */
    md_cedar_schema_t *schema; /* owned */
    size_t nfiles;             /* policy files read */
    size_t nbytes;             /* of policy text */
    int builtin_schema;        /* the schema is the built-in one */
} md_policies_t;

/* Load what cfg names.  MD_OK with *out set, or MD_EINVAL/MD_ENOMEM with every problem in diag. */
int md_policies_load(const md_config_t *cfg, md_policies_t **out, md_conf_diag_t *diag) MD_WUR;
void md_policies_free(md_policies_t *p);

/* The built-in schema's text (NUL-terminated) and length. */
const char *md_policies_builtin_schema(size_t *len);

#endif
