/*
 * log.c: leveled, one-line-per-event logging (see log.h).
 *
 * Invariant: every event becomes exactly one line, written with a single
 * write(2) from a buffer on the caller's stack; nothing here allocates, so
 * logging works when memory has run out and from any thread.
 */
#include "core/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#define LOG_MSG_MAX 3584
#define LOG_LINE_MAX (LOG_MSG_MAX * 6 + 512)

static atomic_int log_level = MD_LOG_INFO;
static atomic_int log_format = MD_LOG_TEXT;
static atomic_int log_fd = 2;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void md_log_set_level(md_log_level_t level)
{
    atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

void md_log_set_format(md_log_format_t format)
{
    atomic_store_explicit(&log_format, (int)format, memory_order_relaxed);
}

void md_log_set_fd(int fd)
{
    atomic_store_explicit(&log_fd, fd, memory_order_relaxed);
}

bool md_log_enabled(md_log_level_t level)
{
    return (int)level >= atomic_load_explicit(&log_level, memory_order_relaxed);
}

const char *md_log_level_name(md_log_level_t level)
{
    if ((unsigned)level > MD_LOG_ERROR) return "?";
    return level_names[level];
}

/* A bounded line under construction; appends past the end are dropped. */
typedef struct line {
    char *p;
    size_t n, cap;
} line_t;

static void line_add(line_t *l, const char *s, size_t n)
{
    if (n > l->cap - l->n) n = l->cap - l->n;
    memcpy(l->p + l->n, s, n);
    l->n += n;
}

static void line_adds(line_t *l, const char *s)
{
    line_add(l, s, strlen(s));
}

/* Escape s so it stays on one line: JSON string rules in both formats
 * (text output shows the same escapes without the quotes). */
static void line_add_escaped(line_t *l, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char e[6];
        switch (c) {
        case '"': line_add(l, "\\\"", 2); break;
        case '\\': line_add(l, "\\\\", 2); break;
        case '\n': line_add(l, "\\n", 2); break;
        case '\r': line_add(l, "\\r", 2); break;
        case '\t': line_add(l, "\\t", 2); break;
        default:
            if (c < 0x20 || c == 0x7f) {
                e[0] = '\\';
                e[1] = 'u';
                e[2] = '0';
                e[3] = '0';
                e[4] = hex[c >> 4];
                e[5] = hex[c & 15];
                line_add(l, e, 6);
            } else {
                line_add(l, (const char *)&c, 1);
            }
        }
    }
}

static void format_time(char *out, size_t n)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t len = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + len, n - len, ".%03dZ", (int)(ts.tv_nsec / 1000000));
}

void md_vlog(md_log_level_t level, const char *request_id, const char *fmt, va_list ap)
{
    char msg[LOG_MSG_MAX];
    char buf[LOG_LINE_MAX];
    char ts[40];
    line_t l = {buf, 0, sizeof(buf) - 1};
    int saved_errno = errno;

    if (!md_log_enabled(level)) return;
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (n >= (int)sizeof(msg)) memcpy(msg + sizeof(msg) - 4, "\xe2\x80\xa6", 4); /* "…" */
    format_time(ts, sizeof(ts));

    if (atomic_load_explicit(&log_format, memory_order_relaxed) == MD_LOG_JSON) {
        line_adds(&l, "{\"ts\":\"");
        line_adds(&l, ts);
        line_adds(&l, "\",\"level\":\"");
        line_adds(&l, md_log_level_name(level));
        line_adds(&l, "\"");
        if (request_id != NULL) {
            line_adds(&l, ",\"request_id\":\"");
            line_add_escaped(&l, request_id);
            line_adds(&l, "\"");
        }
        line_adds(&l, ",\"msg\":\"");
        line_add_escaped(&l, msg);
        line_adds(&l, "\"}");
    } else {
        line_adds(&l, ts);
        line_adds(&l, " ");
        line_adds(&l, md_log_level_name(level));
        if (request_id != NULL) {
            line_adds(&l, " [req=");
            line_add_escaped(&l, request_id);
            line_adds(&l, "]");
        }
        line_adds(&l, " ");
        line_add_escaped(&l, msg);
    }
    l.cap++; /* the byte kept back for the newline */
    line_add(&l, "\n", 1);

    int fd = atomic_load_explicit(&log_fd, memory_order_relaxed);
    size_t off = 0;
    while (off < l.n) {
        ssize_t w = write(fd, buf + off, l.n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break; /* nowhere left to report it */
        off += (size_t)w;
    }
    errno = saved_errno;
}

void md_log(md_log_level_t level, const char *request_id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    md_vlog(level, request_id, fmt, ap);
    va_end(ap);
}

void md_log_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    md_vlog(MD_LOG_ERROR, NULL, fmt, ap);
    va_end(ap);
    exit(1);
}

void md_log_hash(char out[MD_LOG_HASH_SIZE], const void *secret, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    memcpy(out, "sha256:", 7);
    if (!EVP_Digest(secret, n, md, &mdlen, EVP_sha256(), NULL) || mdlen < 8) {
        memcpy(out + 7, "unavailable", 12);
        return;
    }
    for (int i = 0; i < 8; i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[8 + 2 * i] = hex[md[i] & 15];
    }
    out[23] = '\0';
}
