/*
 * config.h: the daemon's configuration file.
 *
 * One YAML file is parsed (libfyaml) into a typed struct through a table of
 * directives, nginx/Redis style: each directive names a dotted key
 * ("limits.max_body"), its type, where its value goes in the struct, its
 * default and an optional validator.  Unknown keys are errors.  Every error
 * names the file, the line and the key:
 *
 *     mandate.conf:12: key `listen`: port must be 1..65535
 *
 * Parsing does not stop at the first error: every error found is reported
 * (up to MD_CONF_MAX_ERRORS).  The file must be private (no permission bits
 * for group or others), as must the TLS key and certificate.
 *
 * The generic engine (md_conf_parse) takes any table; md_config_load() uses
 * the daemon's table and adds the checks that span several keys.
 */
#ifndef MD_CORE_CONFIG_H
#define MD_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/core.h"

#define MD_CONF_MAX_ERRORS 32

/* The errors of one load, one line each ("file:line: key `k`: message\n"). */
typedef struct md_conf_diag {
    md_buf_t text; /* owned */
    int count;     /* errors reported (lines in text, up to MD_CONF_MAX_ERRORS) */
    int dropped;   /* errors beyond MD_CONF_MAX_ERRORS */
} md_conf_diag_t;

void md_conf_diag_init(md_conf_diag_t *d);
void md_conf_diag_free(md_conf_diag_t *d);
/* Add one error; line <= 0 means "no line" and key NULL means "no key". */
void md_conf_diag_add(md_conf_diag_t *d, const char *file, int line, const char *key, const char *fmt, ...)
    MD_PRINTF(5, 6);

typedef enum md_conf_type {
    MD_CONF_STRING,   /* char * (config arena) */
    MD_CONF_PATH,     /* char *, made absolute against the config file's folder */
    MD_CONF_INT,      /* int64_t, decimal, within [min, max] */
    MD_CONF_SIZE,     /* int64_t bytes: 1048576, 512KiB, 1MiB, 1m, 2GiB */
    MD_CONF_BOOL,     /* bool: true | false */
    MD_CONF_DURATION, /* int64_t milliseconds: 250ms, 10s, 5m, 1h, 1m30s; bare number = seconds */
    MD_CONF_ENUM,     /* int: index into enum_names */
    MD_CONF_LIST,     /* md_conf_list_t of strings: a YAML sequence of scalars */
    MD_CONF_MAP,      /* md_conf_map_t: a mapping of free-form keys to a scalar or a list of scalars */
    MD_CONF_SECTIONS, /* md_conf_sections_t: a sequence of mappings, see "Lists of sections" below */
} md_conf_type_t;

typedef struct md_conf_list {
    const char **items; /* config arena */
    size_t n;
} md_conf_list_t;

/* MD_CONF_MAP: `key: value` or `key: [v1, v2]`, in file order, keys unique. */
typedef struct md_conf_map_entry {
    const char *key;       /* config arena */
    md_conf_list_t values; /* one or more non-empty strings */
    int line;
} md_conf_map_entry_t;

typedef struct md_conf_map {
    md_conf_map_entry_t *items; /* config arena */
    size_t n;
} md_conf_map_t;

/* The first member of every struct that an MD_CONF_SECTIONS list holds. */
typedef struct md_conf_item {
    int line;   /* of the item's first key */
    int *lines; /* config arena: line of each of its keys, by table index (0: default) */
} md_conf_item_t;

/* MD_CONF_SECTIONS: n items of the list directive's max bytes each. */
typedef struct md_conf_sections {
    void *items; /* config arena */
    size_t n;
} md_conf_sections_t;

/* Flags of a directive. */
enum {
    MD_CONF_RESTART =
        1 << 0, /* a change takes effect only on restart, not on reload (not for MAP, SECTIONS) */
    MD_CONF_REQUIRED = 1 << 1, /* an item key ("<list>[].<key>") that every item must set */
};

typedef struct md_conf_directive md_conf_directive_t;

/*
 * A validator sees the parsed value (a pointer to the struct field) and
 * returns 0 when it is acceptable; otherwise it writes a message (no key, no
 * position: the caller adds them) and returns -1.
 */
typedef int (*md_conf_validate_fn)(const md_conf_directive_t *d, const void *field, char *msg, size_t msgsz);

struct md_conf_directive {
    const char *name;              /* dotted key: "tls.cert" means `tls:` then `cert:` */
    md_conf_type_t type;           /* how the value is parsed */
    size_t offset;                 /* of the field in the target struct */
    const char *def;               /* default, written as in the file; NULL: unset */
    int64_t min, max;              /* INT, SIZE, DURATION (ms): inclusive bounds when max > 0 */
    const char *const *enum_names; /* ENUM: NULL-terminated */
    md_conf_validate_fn validate;  /* optional */
    unsigned flags;                /* MD_CONF_RESTART, MD_CONF_REQUIRED */
};

/*
 * Lists of sections (MD_CONF_SECTIONS), e.g. `federation: issuers: [{issuer: …, audience: …}, …]`:
 * the list's directive ("federation.issuers") has max = the size of one item, a struct that
 * starts with an md_conf_item_t; the keys of an item are directives of the same table named
 * "<list>[].<key>" ("federation.issuers[].audience") whose offsets are within the item.  Each
 * item gets those directives' defaults first; messages name the item: "federation.issuers[2].audience".
 */

/*
 * Parse YAML text into target through table[0..n).  Defaults are applied
 * first; then every key of the file.  Strings are copied into arena.
 * file names the input in messages; base_dir makes relative PATHs absolute
 * (NULL: left as written).  lines (optional, n entries) receives the line of
 * each directive's key, 0 when it came from the default.
 * Returns MD_OK, or MD_EINVAL with every problem in diag; MD_ENOMEM on OOM.
 */
int md_conf_parse(const char *file, const char *text, size_t len, const char *base_dir,
                  const md_conf_directive_t *table, size_t n, void *target, int *lines, md_arena_t *arena,
                  md_conf_diag_t *diag) MD_WUR;

/*
 * Refuse a file that group or others may access in any way, or that is not
 * a regular file: OpenSMTPD-style.  On refusal writes a message to msg.
 * If fd >= 0 it is checked instead of path (no race with opening).
 */
int md_conf_check_private(const char *path, int fd, char *msg, size_t msgsz) MD_WUR;

/* ---- the daemon's configuration ---- */

enum { MD_STORE_BACKEND_SQLITE = 0, MD_STORE_BACKEND_POSTGRES = 1 };
enum { MD_KEYS_ALG_ES256 = 0, MD_KEYS_ALG_EDDSA = 1 };

/* federation.issuers[i]: one trusted external OIDC issuer (src/identity/oidc.h builds a registry from these).
 */
typedef struct md_config_oidc_issuer {
    md_conf_item_t item;           /* line of the item and of each key */
    const char *issuer;            /* exactly the tokens' `iss` */
    bool discovery;                /* keys from <issuer>/.well-known/openid-configuration's jwks_uri */
    const char *jwks_uri;          /* or: keys from this URL */
    const char *jwks_file;         /* or: keys from this file (absolute), read at load and reload */
    const char *ca_file;           /* absolute: CAs for HTTPS to this issuer; NULL: the system store */
    const char *audience;          /* the tokens' `aud` must contain it */
    md_conf_list_t algorithms;     /* JWS algs accepted; empty: RS256, ES256 */
    const char *spiffe_id;         /* template: "spiffe://td/ci/{claims.repository_owner}" */
    const char *owner;             /* template or literal: "{claims.email}", "team-ci" */
    md_conf_map_t required_claims; /* claim: value or [values]; each must match exactly */
    int64_t max_age;               /* ms: now - iat at most this */
} md_config_oidc_issuer_t;

typedef struct md_config {
    md_arena_t arena;        /* owns every string below */
    const char *file;        /* the file as named on the command line */
    const char *listen;      /* "host:port", numeric host ("[::1]:7744" for IPv6) */
    const char *data_dir;    /* absolute */
    int log_format;          /* md_log_format_t */
    int log_level;           /* md_log_level_t */
    const char *tls_cert;    /* absolute, or NULL: plain HTTP */
    const char *tls_key;     /* absolute, or NULL */
    int64_t max_body;        /* bytes */
    int64_t header_timeout;  /* ms: to receive a whole request head */
    int64_t body_timeout;    /* ms: to receive a whole body (and to write a response) */
    int64_t max_connections; /* across all workers */
    int64_t workers;         /* event-loop threads; 0 = one per CPU */
    int store_backend;       /* MD_STORE_BACKEND_* */
    const char *store_path;  /* absolute; default <data_dir>/mandate.db */
    /* our signing keys and the issuer they speak for (src/keys/) */
    const char *issuer;              /* "http(s)://host[:port]", or NULL: see md_snapshot_t.issuer */
    const char *trust_domain;        /* SPIFFE trust domain every SVID we issue is in; NULL: not checked */
    int keys_algorithm;              /* MD_KEYS_ALG_*: what new signing keys are */
    int64_t keys_rotation_period;    /* ms (whole seconds): how long a key signs */
    int64_t keys_overlap;            /* ms: a next key is published this long before it signs */
    int64_t keys_max_token_lifetime; /* ms: the longest lifetime of a token we sign */
    const char *keys_kek_file;       /* absolute; default <data_dir>/kek */
    /* Cedar policies (src/server/policies.c) and tasks (src/task/) */
    const char *policies_dir; /* absolute: every *.cedar file in it, in name order; NULL: no policy */
    const char
        *policies_schema;      /* absolute: a Cedar schema; NULL: the built-in policies/mandate.cedarschema */
    int64_t tasks_default_ttl; /* ms (whole seconds): a mandate's lifetime when none is asked for */
    int64_t tasks_max_ttl;     /* ms (whole seconds), at most 15 min */
    int64_t tasks_max_depth;   /* delegation levels below a task started by an agent */
    /* the Workload API (src/server/workload.c) */
    const char *workload_socket;  /* absolute; default <data_dir>/agent.sock */
    int64_t workload_threads;     /* attestation threads (hashing executables blocks) */
    int64_t workload_max_pending; /* attestations queued or running at once; beyond: 503 */
    /* federation: external OIDC issuers whose tokens are exchanged for ours (src/identity/oidc.h) */
    md_conf_sections_t fed_issuers; /* of md_config_oidc_issuer_t */
    int64_t fed_fetch_timeout;      /* ms: one fetch of an issuer's keys (discovery and JWKS), start to end */
    int64_t fed_cache_min;          /* ms: shortest time fetched keys are kept (whatever max-age says) */
    int64_t fed_cache_max;          /* ms: longest time; also how long stale keys serve while the IdP fails */
    int64_t fed_min_refresh_interval; /* ms: at most one fetch per issuer per this interval */
    int *lines;                       /* arena: line of each directive's key, by table index */
} md_config_t;

/* What the command line overrides. */
typedef struct md_config_overrides {
    const char *data_dir; /* NULL: from the file */
    int log_format;       /* -1: from the file */
} md_config_overrides_t;

/*
 * Read, check and parse the file at path (which must be private), then apply
 * overrides and the checks that span keys (data_dir required, tls.cert and
 * tls.key together, files private, default store.path).  Does not touch the
 * data directory.  On success *out is a new config (md_config_free).  On
 * failure returns MD_EINVAL (or MD_EIO / MD_ENOMEM) with the errors in diag.
 */
int md_config_load(const char *path, const md_config_overrides_t *ov, md_config_t **out,
                   md_conf_diag_t *diag) MD_WUR;
/* The same from text already in memory (for tests); file names it in messages. */
int md_config_parse_text(const char *file, const char *text, size_t len, const md_config_overrides_t *ov,
                         md_config_t **out, md_conf_diag_t *diag) MD_WUR;
void md_config_free(md_config_t *cfg);

/* The line of key in the file (0: default or unknown key). */
int md_config_line(const md_config_t *cfg, const char *key);
/* federation.issuers[i]: the issuer itself, and the line of one of its keys ("audience");
 * the item's own line when that key was not written; 0 when i is out of range. */
const md_config_oidc_issuer_t *md_config_fed_issuer(const md_config_t *cfg, size_t i);
int md_config_fed_issuer_line(const md_config_t *cfg, size_t i, const char *key);

/*
 * For a reload: for every MD_CONF_RESTART key whose value differs between
 * old and next, call changed(key) and put the old value back into next, so
 * next describes what actually runs.  Returns MD_OK or MD_ENOMEM.
 */
int md_config_keep_restart_keys(md_config_t *next, const md_config_t *old,
                                void (*changed)(const char *key, void *arg), void *arg) MD_WUR;

/*
 * Parse "host:port" (IPv4 literal, or "[IPv6]:port") into ss.  Returns 0, or
 * -1 with a message in msg.
 */
int md_listen_parse(const char *s, struct sockaddr_storage *ss, socklen_t *sslen, char *msg, size_t msgsz);

#endif
