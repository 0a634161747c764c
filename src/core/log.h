/*
 * log.h: the daemon's log, one line per event on stderr (or a chosen fd).
 *
 * Two formats: text ("2026-01-02T03:04:05.678Z info [req=…] message") and
 * JSON lines ({"ts":…,"level":…,"request_id":…,"msg":…}).  A line is written
 * with one write(2), so lines from different threads never interleave.
 * Control characters in a message are escaped, so a client-supplied string
 * can neither split a line nor forge another one.
 *
 * Never pass a secret (token, key, password) to these functions: log
 * md_log_hash() of it instead.
 *
 * Level and format are process-wide (atomics): set them at start-up and on
 * reload; every thread may log at any time.
 */
#ifndef MD_CORE_LOG_H
#define MD_CORE_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/core.h"

typedef enum md_log_level {
    MD_LOG_DEBUG = 0,
    MD_LOG_INFO = 1,
    MD_LOG_WARN = 2,
    MD_LOG_ERROR = 3,
} md_log_level_t;

typedef enum md_log_format {
    MD_LOG_TEXT = 0,
    MD_LOG_JSON = 1,
} md_log_format_t;

void md_log_set_level(md_log_level_t level);
void md_log_set_format(md_log_format_t format);
/* Where lines go (default 2).  For tests. */
void md_log_set_fd(int fd);
bool md_log_enabled(md_log_level_t level);
const char *md_log_level_name(md_log_level_t level);

/*
 * Log one event.  request_id is the request the event is about (NULL when
 * it is about none).  A message longer than ~3.5 KiB is cut and marked "…".
 */
void md_log(md_log_level_t level, const char *request_id, const char *fmt, ...) MD_PRINTF(3, 4);
void md_vlog(md_log_level_t level, const char *request_id, const char *fmt, va_list ap);

#define md_log_debug(...) md_log(MD_LOG_DEBUG, NULL, __VA_ARGS__)
#define md_log_info(...) md_log(MD_LOG_INFO, NULL, __VA_ARGS__)
#define md_log_warn(...) md_log(MD_LOG_WARN, NULL, __VA_ARGS__)
#define md_log_error(...) md_log(MD_LOG_ERROR, NULL, __VA_ARGS__)

/* Log at error level and exit(1).  Only for start-up, never on a request path. */
void md_log_fatal(const char *fmt, ...) MD_PRINTF(1, 2) __attribute__((noreturn));

/*
 * A loggable stand-in for a secret: "sha256:" and the first 16 hex digits of
 * SHA-256(secret).  Enough to correlate, useless to an attacker.
 */
#define MD_LOG_HASH_SIZE 24
void md_log_hash(char out[MD_LOG_HASH_SIZE], const void *secret, size_t n);

#endif
