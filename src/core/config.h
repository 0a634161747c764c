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
} md_conf_type_t;

typedef struct md_conf_list {
    const char **items; /* config arena */
    size_t n;
} md_conf_list_t;

/* Flags of a directive. */
enum {
    MD_CONF_RESTART = 1 << 0, /* a change takes effect only on restart, not on reload */
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
    unsigned flags;                /* MD_CONF_RESTART */
};

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
    int *lines;              /* arena: line of each directive's key, by table index */
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
