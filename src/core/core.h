/*
 * core: status codes, errors, byte strings, growable buffers and arenas.
 *
 * Every module builds on these.  Nothing here does I/O except md_file_read().
 * Conventions: functions that can fail return MD_OK (0) or a negative MD_E*
 * code; boundary functions also fill an md_err_t once (the first failure
 * wins, later ones do not overwrite it).
 */
#ifndef MD_CORE_H
#define MD_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MD_WUR __attribute__((warn_unused_result))
#define MD_PRINTF(a, b) __attribute__((format(printf, a, b)))

enum {
    MD_OK = 0,
    MD_ENOMEM = -1,  /* allocation failed */
    MD_EINVAL = -2,  /* malformed input */
    MD_EIO = -3,     /* file or socket error */
    MD_ELIMIT = -4,  /* a size or depth limit was exceeded */
    MD_ENOENT = -5,  /* a named thing does not exist */
    MD_ESCHEMA = -6, /* input does not conform to the schema */
};

/* An error report: a code and one human-readable message. */
typedef struct md_err {
    int code;
    char msg[512];
} md_err_t;

/* Set the error if it is not already set; returns code (for `return md_err_set(...)`). */
int md_err_set(md_err_t *err, int code, const char *fmt, ...) MD_PRINTF(3, 4);
int md_err_vset(md_err_t *err, int code, const char *fmt, va_list ap);
void md_err_clear(md_err_t *err);

/* A byte string that is not NUL-terminated and may contain NUL bytes. */
typedef struct md_str {
    const char *p;
    size_t n;
} md_str_t;

#define MD_STR(lit) ((md_str_t){(lit), sizeof(lit) - 1})
#define MD_STR_NULL ((md_str_t){NULL, 0})

static inline md_str_t md_str_c(const char *s)
{
    return (md_str_t){s, s ? strlen(s) : 0};
}
static inline bool md_str_eq(md_str_t a, md_str_t b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}
static inline bool md_str_eqc(md_str_t a, const char *c)
{
    return md_str_eq(a, md_str_c(c));
}
/* Bytewise order: negative, zero or positive. */
int md_str_cmp(md_str_t a, md_str_t b);
uint64_t md_hash_bytes(const void *p, size_t n, uint64_t seed);

/* A growable, NUL-terminated byte buffer on the heap (for output and messages). */
typedef struct md_buf {
    char *p; /* owned */
    size_t n;
    size_t cap;
    bool oom; /* sticky: an append failed */
} md_buf_t;

void md_buf_init(md_buf_t *b);
void md_buf_free(md_buf_t *b);
void md_buf_reset(md_buf_t *b);
void md_buf_add(md_buf_t *b, const void *p, size_t n);
void md_buf_adds(md_buf_t *b, const char *s);
void md_buf_addc(md_buf_t *b, char c);
void md_buf_printf(md_buf_t *b, const char *fmt, ...) MD_PRINTF(2, 3);
/* Append s as a JSON string literal (quotes included). */
void md_buf_add_json_str(md_buf_t *b, md_str_t s);

/*
 * An arena: many allocations, one release.  md_arena_reset() keeps the first
 * chunk, so a per-request arena reaches a steady state with no malloc at all.
 * Allocation returns NULL when memory runs out; callers fail the request.
 */
typedef struct md_arena_chunk md_arena_chunk_t;
typedef struct md_arena {
    md_arena_chunk_t *head; /* owned: current chunk, linked to older ones */
    size_t chunk_size;
    size_t used_total; /* bytes handed out since the last reset */
} md_arena_t;

void md_arena_init(md_arena_t *a, size_t chunk_size);
void *md_arena_alloc(md_arena_t *a, size_t n) MD_WUR;
void *md_arena_zalloc(md_arena_t *a, size_t n) MD_WUR;
/* Copy n bytes and add a NUL after them; NULL on OOM. */
char *md_arena_memdup(md_arena_t *a, const void *p, size_t n) MD_WUR;
/* A copy of the C string s (NULL for NULL s or on exhaustion). */
char *md_arena_strdup(md_arena_t *a, const char *s) MD_WUR;
md_str_t md_arena_str(md_arena_t *a, md_str_t s); /* p == NULL on OOM when s.n > 0 */
void md_arena_reset(md_arena_t *a);
void md_arena_free(md_arena_t *a);
/* Bytes held by the arena (chunks), for memory reports. */
size_t md_arena_footprint(const md_arena_t *a);

/* Read a whole file (NUL-terminated, *len without the NUL).  Limit in bytes. */
int md_file_read(const char *path, size_t limit, char **out, size_t *len, md_err_t *err) MD_WUR;

/* UTF-8: decode one code point at s[*i], advancing *i; -1 when invalid. */
int32_t md_utf8_next(const char *s, size_t n, size_t *i);
void md_utf8_put(md_buf_t *b, uint32_t cp);

#endif
