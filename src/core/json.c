/*
 * json.c: jansson loading with NUL-bearing object keys (see json.h).
 */
#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#define FDD0 "\xef\xb7\x90"
#define FDD1 "\xef\xb7\x91"

/* Does the key body s[0..n) (between quotes, still escaped) need rewriting? */
static bool key_needs_rewrite(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 6 <= n && s[i + 1] == 'u') {
            if (memcmp(s + i + 2, "0000", 4) == 0 || strncasecmp(s + i + 2, "fdd0", 4) == 0) return true;
            i++;
        } else if (s[i] == '\\') {
            i++;
        } else if (i + 3 <= n && memcmp(s + i, FDD0, 3) == 0) {
            return true;
        }
    }
    return false;
}

static void rewrite_key(md_buf_t *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 6 <= n && s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0) {
            md_buf_adds(b, "\\ufdd0\\ufdd0");
            i += 5;
        } else if (s[i] == '\\' && i + 6 <= n && s[i + 1] == 'u' && strncasecmp(s + i + 2, "fdd0", 4) == 0) {
            md_buf_adds(b, "\\ufdd0\\ufdd1");
            i += 5;
        } else if (s[i] == '\\' && i + 1 < n) {
            md_buf_add(b, s + i, 2);
            i++;
        } else if (i + 3 <= n && memcmp(s + i, FDD0, 3) == 0) {
            md_buf_adds(b, "\\ufdd0\\ufdd1");
            i += 2;
        } else {
            md_buf_addc(b, s[i]);
        }
    }
}

json_t *md_json_loadb(const char *text, size_t len, json_error_t *je)
{
    const size_t flags = JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL;
    if (memmem(text, len, "\\u0000", 6) == NULL && memmem(text, len, FDD0, 3) == NULL &&
        memmem(text, len, "\\ufdd0", 6) == NULL && memmem(text, len, "\\uFDD0", 6) == NULL)
        return json_loadb(text, len, flags, je);
    md_buf_t b;
    md_buf_init(&b);
    size_t i = 0;
    while (i < len) {
        if (text[i] != '"') {
            size_t j = i;
            while (j < len && text[j] != '"')
                j++;
            md_buf_add(&b, text + i, j - i);
            i = j;
            continue;
        }
        size_t j = i + 1;
        while (j < len && text[j] != '"')
            j += text[j] == '\\' ? 2 : 1;
        if (j >= len) { /* unterminated: let jansson report it */
            md_buf_add(&b, text + i, len - i);
            break;
        }
        size_t k = j + 1;
        while (k < len && (text[k] == ' ' || text[k] == '\t' || text[k] == '\n' || text[k] == '\r'))
            k++;
        bool is_key = k < len && text[k] == ':';
        if (is_key && key_needs_rewrite(text + i + 1, j - i - 1)) {
            md_buf_addc(&b, '"');
            rewrite_key(&b, text + i + 1, j - i - 1);
            md_buf_addc(&b, '"');
        } else {
            md_buf_add(&b, text + i, j + 1 - i);
        }
        i = j + 1;
    }
    json_t *r = NULL;
    if (b.oom) {
        if (je) snprintf(je->text, sizeof(je->text), "out of memory");
    } else {
        r = json_loadb(b.p ? b.p : "", b.n, flags, je);
    }
    md_buf_free(&b);
    return r;
}

json_t *md_json_load_file(const char *path, json_error_t *je)
{
    char *text = NULL;
    size_t len = 0;
    md_err_t err = {0};
    if (md_file_read(path, 256u << 20, &text, &len, &err) != MD_OK) {
        if (je) {
            memset(je, 0, sizeof(*je));
            snprintf(je->text, sizeof(je->text), "%.150s", err.msg);
        }
        return NULL;
    }
    json_t *r = md_json_loadb(text, len, je);
    free(text);
    return r;
}

md_str_t md_json_key(const char *key, size_t klen, md_arena_t *a)
{
    if (memmem(key, klen, FDD0, 3) == NULL) return (md_str_t){key, klen};
    char *out = md_arena_alloc(a, klen + 1);
    if (out == NULL) return MD_STR_NULL;
    size_t n = 0;
    for (size_t i = 0; i < klen;) {
        if (i + 6 <= klen && memcmp(key + i, FDD0, 3) == 0) {
            if (memcmp(key + i + 3, FDD0, 3) == 0) {
                out[n++] = '\0';
                i += 6;
                continue;
            }
            if (memcmp(key + i + 3, FDD1, 3) == 0) {
                memcpy(out + n, FDD0, 3);
                n += 3;
                i += 6;
                continue;
            }
        }
        out[n++] = key[i++];
    }
    out[n] = '\0';
    return (md_str_t){out, n};
}
