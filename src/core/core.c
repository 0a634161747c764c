/*
 * core.c: errors, strings, buffers, arenas, file reading, UTF-8.
 *
 * Arena invariant: chunks form a singly linked list from the newest; the
 * oldest chunk is the one kept across resets.  Large allocations get a chunk
 * of their own so chunk_size stays the common case.
 */
#include "core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

int md_err_vset(md_err_t *err, int code, const char *fmt, va_list ap)
{
    if (err == NULL || err->code != 0) return code;
    err->code = code;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    return code;
}

int md_err_set(md_err_t *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    md_err_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void md_err_clear(md_err_t *err)
{
    err->code = 0;
    err->msg[0] = '\0';
}

int md_str_cmp(md_str_t a, md_str_t b)
{
    size_t n = a.n < b.n ? a.n : b.n;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    if (c != 0) return c;
    return a.n < b.n ? -1 : a.n > b.n ? 1 : 0;
}

/* FNV-1a folded with a final mix: fast, adequate for in-memory tables. */
uint64_t md_hash_bytes(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

void md_buf_init(md_buf_t *b)
{
    memset(b, 0, sizeof(*b));
}

void md_buf_free(md_buf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

void md_buf_reset(md_buf_t *b)
{
    b->n = 0;
    if (b->p) b->p[0] = '\0';
}

static bool buf_grow(md_buf_t *b, size_t extra)
{
    if (b->oom) return false;
    if (b->n + extra + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void md_buf_add(md_buf_t *b, const void *p, size_t n)
{
    if (!buf_grow(b, n)) return;
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void md_buf_adds(md_buf_t *b, const char *s)
{
    md_buf_add(b, s, strlen(s));
}

void md_buf_addc(md_buf_t *b, char c)
{
    md_buf_add(b, &c, 1);
}

void md_buf_printf(md_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !buf_grow(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

void md_buf_add_json_str(md_buf_t *b, md_str_t s)
{
    md_buf_addc(b, '"');
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        switch (c) {
        case '"': md_buf_adds(b, "\\\""); break;
        case '\\': md_buf_adds(b, "\\\\"); break;
        case '\n': md_buf_adds(b, "\\n"); break;
        case '\r': md_buf_adds(b, "\\r"); break;
        case '\t': md_buf_adds(b, "\\t"); break;
        default:
            if (c < 0x20 || c == 0x7f)
                md_buf_printf(b, "\\u%04x", c);
            else
                md_buf_addc(b, (char)c);
        }
    }
    md_buf_addc(b, '"');
}

struct md_arena_chunk {
    md_arena_chunk_t *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    max_align_t align[]; /* payload */
};

void md_arena_init(md_arena_t *a, size_t chunk_size)
{
    a->head = NULL;
    a->chunk_size = chunk_size ? chunk_size : 16384;
    a->used_total = 0;
}

void *md_arena_alloc(md_arena_t *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    md_arena_chunk_t *c = a->head;
    if (c == NULL || c->size - c->used < n) {
        size_t size = n > a->chunk_size ? n : a->chunk_size;
        md_arena_chunk_t *nc = malloc(sizeof(*nc) + size);
        if (nc == NULL) return NULL;
        nc->size = size;
        nc->used = 0;
        /* A large one-off allocation goes behind the current chunk so the
         * current chunk's free space stays usable. */
        if (c != NULL && n > a->chunk_size && c->size - c->used >= 256) {
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = c;
            a->head = nc;
        }
        c = nc;
    }
    void *p = (char *)c->align + c->used;
    c->used += n;
    a->used_total += n;
    return p;
}

void *md_arena_zalloc(md_arena_t *a, size_t n)
{
    void *p = md_arena_alloc(a, n);
    if (p) memset(p, 0, n);
    return p;
}

char *md_arena_memdup(md_arena_t *a, const void *p, size_t n)
{
    char *d = md_arena_alloc(a, n + 1);
    if (d == NULL) return NULL;
    if (n) memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

char *md_arena_strdup(md_arena_t *a, const char *s)
{
    return s == NULL ? NULL : md_arena_memdup(a, s, strlen(s));
}

md_str_t md_arena_str(md_arena_t *a, md_str_t s)
{
    md_str_t r = {md_arena_memdup(a, s.p, s.n), s.n};
    return r;
}

void md_arena_reset(md_arena_t *a)
{
    md_arena_chunk_t *c = a->head;
    if (c == NULL) return;
    /* keep the oldest chunk, free the rest */
    md_arena_chunk_t *keep = c;
    while (keep->next)
        keep = keep->next;
    while (c != keep) {
        md_arena_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    keep->used = 0;
    a->head = keep;
    a->used_total = 0;
}

void md_arena_free(md_arena_t *a)
{
    md_arena_chunk_t *c = a->head;
    while (c) {
        md_arena_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used_total = 0;
}

size_t md_arena_footprint(const md_arena_t *a)
{
    size_t n = 0;
    for (const md_arena_chunk_t *c = a->head; c; c = c->next)
        n += sizeof(*c) + c->size;
    return n;
}

int md_file_read(const char *path, size_t limit, char **out, size_t *len, md_err_t *err)
{
    int fd = -1, rc = MD_EIO;
    char *buf = NULL;
    struct stat st;

    *out = NULL;
    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        md_err_set(err, MD_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        md_err_set(err, MD_EIO, "%s: not a regular file", path);
        goto out;
    }
    if ((size_t)st.st_size > limit) {
        rc = md_err_set(err, MD_ELIMIT, "%s: file is larger than %zu bytes", path, limit);
        goto out;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    buf = malloc(cap);
    if (buf == NULL) {
        rc = md_err_set(err, MD_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > limit) {
                rc = md_err_set(err, MD_ELIMIT, "%s: file is larger than %zu bytes", path, limit);
                goto out;
            }
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                rc = md_err_set(err, MD_ENOMEM, "%s: out of memory", path);
                goto out;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0) {
            if (errno == EINTR) continue;
            md_err_set(err, MD_EIO, "%s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
    rc = MD_OK;
out:
    free(buf);
    if (fd >= 0) close(fd);
    return rc;
}

int32_t md_utf8_next(const char *s, size_t n, size_t *i)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t k = *i;
    if (k >= n) return -1;
    uint32_t c = u[k];
    int len;
    uint32_t min;
    if (c < 0x80) {
        *i = k + 1;
        return (int32_t)c;
    } else if ((c & 0xe0) == 0xc0) {
        len = 2;
        c &= 0x1f;
        min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3;
        c &= 0x0f;
        min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4;
        c &= 0x07;
        min = 0x10000;
    } else {
        return -1;
    }
    if (k + (size_t)len > n) return -1;
    for (int j = 1; j < len; j++) {
        if ((u[k + j] & 0xc0) != 0x80) return -1;
        c = (c << 6) | (u[k + j] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return -1;
    *i = k + (size_t)len;
    return (int32_t)c;
}

void md_utf8_put(md_buf_t *b, uint32_t cp)
{
    char t[4];
    if (cp < 0x80) {
        t[0] = (char)cp;
        md_buf_add(b, t, 1);
    } else if (cp < 0x800) {
        t[0] = (char)(0xc0 | (cp >> 6));
        t[1] = (char)(0x80 | (cp & 0x3f));
        md_buf_add(b, t, 2);
    } else if (cp < 0x10000) {
        t[0] = (char)(0xe0 | (cp >> 12));
        t[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        t[2] = (char)(0x80 | (cp & 0x3f));
        md_buf_add(b, t, 3);
    } else {
        t[0] = (char)(0xf0 | (cp >> 18));
        t[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        t[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        t[3] = (char)(0x80 | (cp & 0x3f));
        md_buf_add(b, t, 4);
    }
}
