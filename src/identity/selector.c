/*
 * selector.c: parsing, validating, printing and matching workload selectors
 * (the syntax is in selector.h).
 *
 * Invariants: a selector that passed md_selector_check() is in canonical form,
 * so printing it and parsing the text gives the same selector back; matching
 * compares exact bytes (no case folding, no path normalisation) and is false
 * for anything that is not a successful attestation.
 */
#include "identity/selector.h"

#include <stdio.h>

#include <openssl/crypto.h>

#include "identity/attest.h"

static const char *const type_prefix[MD_SEL_TYPE_COUNT] = {
    [MD_SEL_UNIX_UID] = "unix:uid:",       [MD_SEL_UNIX_GID] = "unix:gid:",
    [MD_SEL_UNIX_USER] = "unix:user:",     [MD_SEL_UNIX_PATH] = "unix:path:",
    [MD_SEL_UNIX_SHA256] = "unix:sha256:",
};

const char *md_selector_type_name(md_selector_type_t t)
{
    switch (t) {
    case MD_SEL_UNIX_UID: return "unix:uid";
    case MD_SEL_UNIX_GID: return "unix:gid";
    case MD_SEL_UNIX_USER: return "unix:user";
    case MD_SEL_UNIX_PATH: return "unix:path";
    case MD_SEL_UNIX_SHA256: return "unix:sha256";
    case MD_SEL_TYPE_COUNT: break;
    }
    return "?";
}

/* Untrusted text for an error message: at most 48 bytes, non-printable bytes as '?'. */
static const char *quote(md_str_t s, char out[64])
{
    size_t n = s.n > 48 ? 48 : s.n, j = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        out[j++] = (c >= 0x20 && c < 0x7f && c != '"') ? (char)c : '?';
    }
    if (s.n > n) {
        memcpy(out + j, "...", 3);
        j += 3;
    }
    out[j] = '\0';
    return out;
}

/* Decimal id: no sign, no leading zero, 0..4294967294 ((uid_t)-1 means "none"). */
static int parse_id(md_str_t v, const char *what, uint32_t *out, md_err_t *err)
{
    char q[64];
    if (v.n == 0) return md_err_set(err, MD_EINVAL, "%s: missing number", what);
    if (v.n > 10) return md_err_set(err, MD_EINVAL, "%s: \"%s\" is out of range", what, quote(v, q));
    uint64_t x = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return md_err_set(err, MD_EINVAL, "%s: \"%s\" is not a decimal number", what, quote(v, q));
        x = x * 10 + (uint64_t)(v.p[i] - '0');
    }
    if (v.n > 1 && v.p[0] == '0')
        return md_err_set(err, MD_EINVAL, "%s: \"%s\" has a leading zero", what, quote(v, q));
    if (x > UINT32_MAX - 1)
        return md_err_set(err, MD_EINVAL, "%s: \"%s\" is out of range", what, quote(v, q));
    *out = (uint32_t)x;
    return MD_OK;
}

static bool user_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

static int check_user(md_str_t v, md_err_t *err)
{
    char q[64];
    if (v.n == 0) return md_err_set(err, MD_EINVAL, "unix:user: missing user name");
    if (v.n > MD_SELECTOR_USER_MAX)
        return md_err_set(err, MD_EINVAL, "unix:user: name is longer than %d bytes", MD_SELECTOR_USER_MAX);
    bool digits = true;
    for (size_t i = 0; i < v.n; i++) {
        unsigned char c = (unsigned char)v.p[i];
        bool last_dollar = c == '$' && i == v.n - 1 && i > 0;
        if (!user_char(c) && !last_dollar)
            return md_err_set(err, MD_EINVAL, "unix:user: \"%s\" has a character outside [A-Za-z0-9._-]",
                              quote(v, q));
        if (c < '0' || c > '9') digits = false;
    }
    if (v.p[0] == '-' || v.p[0] == '.')
        return md_err_set(err, MD_EINVAL, "unix:user: \"%s\" must not start with '-' or '.'", quote(v, q));
    if (digits)
        return md_err_set(err, MD_EINVAL, "unix:user: \"%s\" is all digits (write unix:uid:%s for a uid)",
                          quote(v, q), quote(v, q));
    return MD_OK;
}

static bool valid_utf8(md_str_t v)
{
    for (size_t i = 0; i < v.n;)
        if (md_utf8_next(v.p, v.n, &i) < 0) return false;
    return true;
}

static int check_path(md_str_t v, md_err_t *err)
{
    static const char deleted[] = " (deleted)";
    const size_t dl = sizeof(deleted) - 1;
    if (v.n == 0) return md_err_set(err, MD_EINVAL, "unix:path: missing path");
    if (v.p[0] != '/') return md_err_set(err, MD_EINVAL, "unix:path: path must be absolute");
    if (v.n > MD_SELECTOR_PATH_MAX)
        return md_err_set(err, MD_EINVAL, "unix:path: path is longer than %d bytes", MD_SELECTOR_PATH_MAX);
    if (v.n == 1) return md_err_set(err, MD_EINVAL, "unix:path: path must name a file, not \"/\"");
    for (size_t i = 0; i < v.n; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if (c < 0x20 || c == 0x7f)
            return md_err_set(err, MD_EINVAL, "unix:path: path has a control character");
    }
    if (!valid_utf8(v)) return md_err_set(err, MD_EINVAL, "unix:path: path is not valid UTF-8");
    if (v.p[v.n - 1] == '/') return md_err_set(err, MD_EINVAL, "unix:path: path must not end with '/'");
    /* segments: after each '/', not empty, not "." or ".." */
    for (size_t i = 0; i < v.n; i++) {
        if (v.p[i] != '/') continue;
        size_t j = i + 1;
        while (j < v.n && v.p[j] != '/')
            j++;
        size_t len = j - i - 1;
        if (len == 0) return md_err_set(err, MD_EINVAL, "unix:path: path has an empty segment (\"//\")");
        if ((len == 1 && v.p[i + 1] == '.') || (len == 2 && v.p[i + 1] == '.' && v.p[i + 2] == '.'))
            return md_err_set(err, MD_EINVAL,
                              "unix:path: path has a \".\" or \"..\" segment (must be canonical)");
    }
    /* The kernel appends " (deleted)" to an unlinked executable's path: such a
     * path could never be told apart from a deleted binary, so it never matches. */
    if (v.n >= dl && memcmp(v.p + v.n - dl, deleted, dl) == 0)
        return md_err_set(err, MD_EINVAL, "unix:path: path must not end with \" (deleted)\"");
    return MD_OK;
}

static int check_sha256(md_str_t v, md_err_t *err)
{
    if (v.n != 64)
        return md_err_set(err, MD_EINVAL, "unix:sha256: digest must be 64 hex digits, got %zu characters",
                          v.n);
    for (size_t i = 0; i < v.n; i++) {
        char c = v.p[i];
        if (c >= 'A' && c <= 'F')
            return md_err_set(err, MD_EINVAL, "unix:sha256: hex digits must be lowercase");
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return md_err_set(err, MD_EINVAL, "unix:sha256: digest has a non-hex character");
    }
    return MD_OK;
}

static int check_value(md_selector_type_t t, md_str_t v, uint32_t *id, md_err_t *err)
{
    switch (t) {
    case MD_SEL_UNIX_UID: return parse_id(v, "unix:uid", id, err);
    case MD_SEL_UNIX_GID: return parse_id(v, "unix:gid", id, err);
    case MD_SEL_UNIX_USER: return check_user(v, err);
    case MD_SEL_UNIX_PATH: return check_path(v, err);
    case MD_SEL_UNIX_SHA256: return check_sha256(v, err);
    case MD_SEL_TYPE_COUNT: break;
    }
    return md_err_set(err, MD_EINVAL, "unknown selector type");
}

int md_selector_parse(md_str_t text, md_arena_t *a, md_selector_t *out, md_err_t *err)
{
    char q[64];
    memset(out, 0, sizeof(*out));
    if (text.n == 0) return md_err_set(err, MD_EINVAL, "selector is empty");
    if (text.n > MD_SELECTOR_TEXT_MAX) return md_err_set(err, MD_EINVAL, "selector is too long");
    if (memchr(text.p, '\0', text.n) != NULL)
        return md_err_set(err, MD_EINVAL, "selector contains a NUL byte");
    int type = -1;
    for (int t = 0; t < MD_SEL_TYPE_COUNT; t++) {
        size_t pl = strlen(type_prefix[t]);
        if (text.n >= pl && memcmp(text.p, type_prefix[t], pl) == 0) {
            type = t;
            break;
        }
    }
    if (type < 0) {
        /* name the type as written: up to the second ':' */
        const char *c1 = memchr(text.p, ':', text.n);
        const char *c2 = c1 ? memchr(c1 + 1, ':', text.n - (size_t)(c1 + 1 - text.p)) : NULL;
        md_str_t name = {text.p, c2 ? (size_t)(c2 - text.p) : text.n};
        return md_err_set(err, MD_EINVAL,
                          "unknown selector type \"%s\" (known: unix:uid, unix:gid, unix:user, unix:path, "
                          "unix:sha256)",
                          quote(name, q));
    }
    size_t pl = strlen(type_prefix[type]);
    md_str_t v = {text.p + pl, text.n - pl};
    uint32_t id = 0;
    int rc = check_value((md_selector_type_t)type, v, &id, err);
    if (rc != MD_OK) return rc;
    out->type = (md_selector_type_t)type;
    out->id = id;
    if (type != MD_SEL_UNIX_UID && type != MD_SEL_UNIX_GID) {
        char *s = md_arena_memdup(a, v.p, v.n);
        if (s == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
        out->str = s;
        out->len = v.n;
    }
    return MD_OK;
}

int md_selector_check(const md_selector_t *s, md_err_t *err)
{
    switch (s->type) {
    case MD_SEL_UNIX_UID:
    case MD_SEL_UNIX_GID:
        if (s->id == UINT32_MAX)
            return md_err_set(err, MD_EINVAL, "%s: 4294967295 is out of range",
                              md_selector_type_name(s->type));
        if (s->str != NULL)
            return md_err_set(err, MD_EINVAL, "%s: selector has a string value",
                              md_selector_type_name(s->type));
        return MD_OK;
    case MD_SEL_UNIX_USER:
    case MD_SEL_UNIX_PATH:
    case MD_SEL_UNIX_SHA256: {
        if (s->str == NULL || strlen(s->str) != s->len)
            return md_err_set(err, MD_EINVAL, "%s: selector value is missing or has a NUL byte",
                              md_selector_type_name(s->type));
        if (s->id != 0)
            return md_err_set(err, MD_EINVAL, "%s: selector has a numeric value",
                              md_selector_type_name(s->type));
        uint32_t ignored = 0;
        return check_value(s->type, (md_str_t){s->str, s->len}, &ignored, err);
    }
    case MD_SEL_TYPE_COUNT: break;
    }
    return md_err_set(err, MD_EINVAL, "unknown selector type %d", (int)s->type);
}

int md_selectors_check(const md_selector_t *s, size_t n, md_err_t *err)
{
    int seen[MD_SEL_TYPE_COUNT];
    for (int t = 0; t < MD_SEL_TYPE_COUNT; t++)
        seen[t] = -1;
    for (size_t i = 0; i < n; i++) {
        md_err_t one = {0};
        if (md_selector_check(&s[i], &one) != MD_OK)
            return md_err_set(err, MD_EINVAL, "selectors[%zu]: %s", i, one.msg);
        if (seen[s[i].type] >= 0)
            return md_err_set(err, MD_EINVAL,
                              "selectors[%zu]: a second %s selector (selectors[%d] is one); a process has "
                              "one %s, so the entry could never match or repeats itself",
                              i, md_selector_type_name(s[i].type), seen[s[i].type],
                              md_selector_type_name(s[i].type) + 5);
        seen[s[i].type] = (int)i;
    }
    return MD_OK;
}

void md_selector_format(const md_selector_t *s, md_buf_t *b)
{
    if ((unsigned)s->type >= MD_SEL_TYPE_COUNT) {
        md_buf_adds(b, "?");
        return;
    }
    md_buf_adds(b, type_prefix[s->type]);
    if (s->type == MD_SEL_UNIX_UID || s->type == MD_SEL_UNIX_GID)
        md_buf_printf(b, "%u", (unsigned)s->id);
    else if (s->str != NULL)
        md_buf_add(b, s->str, s->len);
}

bool md_selector_match(const md_selector_t *s, const md_attestation_t *att)
{
    if (att == NULL || !att->ok) return false;
    switch (s->type) {
    case MD_SEL_UNIX_UID: return s->id != UINT32_MAX && (uint32_t)att->uid == s->id;
    case MD_SEL_UNIX_GID: return s->id != UINT32_MAX && (uint32_t)att->gid == s->id;
    case MD_SEL_UNIX_USER:
        return s->str != NULL && att->user_known && att->user[0] != '\0' && strlen(att->user) == s->len &&
               memcmp(att->user, s->str, s->len) == 0;
    case MD_SEL_UNIX_PATH:
        return s->str != NULL && s->len > 0 && strlen(att->exe_path) == s->len &&
               memcmp(att->exe_path, s->str, s->len) == 0;
    case MD_SEL_UNIX_SHA256:
        return s->str != NULL && s->len == 64 && strnlen(att->exe_sha256, sizeof(att->exe_sha256)) == 64 &&
               CRYPTO_memcmp(att->exe_sha256, s->str, 64) == 0;
    case MD_SEL_TYPE_COUNT: break;
    }
    return false;
}

bool md_selectors_match(const md_selector_t *s, size_t n, const md_attestation_t *att)
{
    if (n == 0 || att == NULL || !att->ok) return false;
    for (size_t i = 0; i < n; i++)
        if (!md_selector_match(&s[i], att)) return false;
    return true;
}
