/*
 * admin.c: the admin token and the /v1/admin endpoints.
 *
 * The admin token is 32 random bytes, base64url without padding (43
 * characters).  It exists in exactly one place, <data_dir>/admin.token
 * (mode 0600); the store keeps only SHA-256 of the token text.  A request
 * proves it is the admin with `Authorization: Bearer <token>`: the server
 * hashes what was presented and compares the hashes in constant time.
 *
 * Files: the data dir is opened once (O_DIRECTORY | O_NOFOLLOW, checked
 * private and ours) and admin.token is reached only through that descriptor
 * (keys/keyfile.h): an existing admin.token that is a symbolic link, not a
 * regular file, not ours, has a group/other permission bit or more than one
 * link fails start-up before anything is written, and is never followed.
 *
 * Issuing is crash-safe: the token is written to admin.token.new (O_CREAT |
 * O_EXCL | O_NOFOLLOW, 0600, fsync), its hash committed to the store, then
 * the file renamed into place and the folder fsync'ed, so admin.token is
 * never half-written.  A crash between commit and rename is finished on the
 * next start (the .new file's hash matches the stored one).
 *
 * Invariants: no token, and no buffer that held one, outlives the function
 * that used it without OPENSSL_cleanse; a failed or missing credential is
 * answered 401 and never reaches a handler.
 */
#include "server/server_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/log.h"
#include "keys/keyfile.h"

#define TOKEN_RAW 32
#define TOKEN_TEXT 43 /* base64url of 32 bytes, unpadded */
#define TOKEN_PRESENTED_MAX 512
#define TOKEN_TMP MD_KEYFILE_ADMIN_TOKEN ".new"

static int sha256(const void *p, size_t n, uint8_t out[32])
{
    unsigned int len = 0;
    return EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) == 1 && len == 32 ? 0 : -1;
}

static void base64url(const uint8_t *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = tab[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
    }
    out[o] = '\0';
}

/* Read a token file (already checked): its first line, at most bufsz - 1 bytes.  Wipe buf after use. */
static int read_token_fd(int fd, char *buf, size_t bufsz, size_t *len)
{
    size_t n = 0;
    if (md_keyfile_read(fd, buf, bufsz - 1, &n, "token", NULL) != MD_OK || n == 0) return -1;
    buf[n] = '\0';
    char *nl = strchr(buf, '\n');
    if (nl) *nl = '\0';
    *len = strlen(buf);
    return 0;
}

/* Finish an issue interrupted between the store commit and the rename. */
static void recover_pending(int dirfd, const char *path, const char *tmp_path, const uint8_t stored[32])
{
    char buf[TOKEN_PRESENTED_MAX + 2];
    uint8_t h[32];
    size_t n = 0;
    int fd = -1;
    md_err_t err = {0};

    if (md_keyfile_exists(dirfd, MD_KEYFILE_ADMIN_TOKEN) || !md_keyfile_exists(dirfd, TOKEN_TMP)) return;
    if (md_keyfile_open(dirfd, TOKEN_TMP, tmp_path, &fd, &err) != MD_OK) {
        md_log_warn("not finishing the interrupted admin token issue: %s", err.msg);
        return;
    }
    if (read_token_fd(fd, buf, sizeof(buf), &n) == 0 && sha256(buf, n, h) == 0 &&
        CRYPTO_memcmp(h, stored, 32) == 0 &&
        md_keyfile_publish(dirfd, TOKEN_TMP, MD_KEYFILE_ADMIN_TOKEN, false, path, &err) == MD_OK)
        md_log_info("finished issuing the admin token interrupted at the last start: %s", path);
    close(fd);
    OPENSSL_cleanse(buf, sizeof(buf));
    OPENSSL_cleanse(h, sizeof(h));
}

/* An existing admin.token must be a private regular file of ours: refuse start-up otherwise, before
 * anything is written (a link planted there is never followed, nor silently replaced). */
static int check_token_file(int dirfd, const char *path, bool *exists, md_err_t *err)
{
    md_err_t inner = {0};
    int fd = -1;
    int rc = md_keyfile_open(dirfd, MD_KEYFILE_ADMIN_TOKEN, path, &fd, &inner);

    *exists = rc == MD_OK;
    if (fd >= 0) close(fd);
    if (rc == MD_OK || rc == MD_ENOENT) return MD_OK;
    return md_err_set(err, rc, "admin token: %s", inner.msg);
}

int md_admin_bootstrap(md_store_t *st, const char *data_dir, bool renew, uint8_t out[32], md_err_t *err)
{
    char path[4096], tmp_path[4096];
    uint8_t raw[TOKEN_RAW];
    char text[TOKEN_TEXT + 2];
    md_store_admin_t admin;
    char logged[MD_LOG_HASH_SIZE];
    md_err_t inner = {0};
    bool exists = false;
    int dirfd = -1, rc;

    memset(&admin, 0, sizeof(admin));
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", data_dir, MD_KEYFILE_ADMIN_TOKEN) >= sizeof(path) ||
        (size_t)snprintf(tmp_path, sizeof(tmp_path), "%s/%s", data_dir, TOKEN_TMP) >= sizeof(tmp_path))
        return md_err_set(err, MD_EINVAL, "data dir path too long");
    /* the data dir once, checked; every file below is reached through it */
    rc = md_keyfile_dir_open(data_dir, true, &dirfd, &inner);
    if (rc != MD_OK) return md_err_set(err, rc, "data dir: %s", inner.msg);

    rc = md_store_admin_get(st, MD_ADMIN_NAME, &admin, err);
    if (rc != MD_OK && rc != MD_ENOENT) goto out;
    if (rc == MD_OK && !renew) recover_pending(dirfd, path, tmp_path, admin.token_sha256);
    bool have_admin = rc == MD_OK;
    md_err_clear(err);
    rc = check_token_file(dirfd, path, &exists, err);
    if (rc != MD_OK) goto out;
    if (have_admin && !renew) {
        if (!exists)
            md_log_warn("%s is missing; the admin token it held still works. To issue a new one, restart "
                        "mandated with --new-admin-token",
                        path);
        memcpy(out, admin.token_sha256, 32);
        rc = MD_OK;
        goto out;
    }

    if (RAND_priv_bytes(raw, sizeof(raw)) != 1) {
        rc = md_err_set(err, MD_EIO, "no randomness for the admin token");
        goto out;
    }
    base64url(raw, sizeof(raw), text);
    snprintf(admin.name, sizeof(admin.name), "%s", MD_ADMIN_NAME);
    if (sha256(text, TOKEN_TEXT, admin.token_sha256) != 0) {
        rc = md_err_set(err, MD_EIO, "SHA-256 failed");
        goto out;
    }
    /* Crash-safe: the new file is complete and durable under its temporary name before the store
     * knows its hash, and it replaces admin.token in one rename (a link there is replaced, not followed). */
    text[TOKEN_TEXT] = '\n';
    rc = md_keyfile_write_tmp(dirfd, TOKEN_TMP, text, TOKEN_TEXT + 1, tmp_path, &inner);
    text[TOKEN_TEXT] = '\0';
    if (rc != MD_OK) {
        rc = md_err_set(err, rc, "admin token: %s", inner.msg);
        goto out;
    }
    rc = md_store_admin_put(st, &admin, err);
    if (rc != MD_OK) {
        unlinkat(dirfd, TOKEN_TMP, 0);
        goto out;
    }
    rc = md_keyfile_publish(dirfd, TOKEN_TMP, MD_KEYFILE_ADMIN_TOKEN, true, path, &inner);
    if (rc != MD_OK) {
        rc = md_err_set(err, rc, "admin token: %s", inner.msg);
        goto out;
    }
    md_log_hash(logged, text, TOKEN_TEXT);
    md_log_info("issued a new admin token (%s), written to %s", logged, path);
    memcpy(out, admin.token_sha256, 32);
    rc = MD_OK;
out:
    if (dirfd >= 0) close(dirfd);
    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(text, sizeof(text));
    OPENSSL_cleanse(&admin, sizeof(admin));
    return rc;
}

static bool b64token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

static void unauthorized(md_http_req_t *req, bool invalid, const char *why)
{
    md_http_add_header(req, "WWW-Authenticate",
                       invalid ? "Bearer realm=\"mandate\", error=\"invalid_token\""
                               : "Bearer realm=\"mandate\"");
    md_http_error(req, 401, "unauthorized", "%s", why);
}

bool md_admin_authorized(md_http_req_t *req)
{
    md_str_t v = md_http_header(req, "authorization");
    md_str_t tok;
    uint8_t h[32];
    bool ok;
    char logged[MD_LOG_HASH_SIZE];
    size_t i = 6;

    if (v.p == NULL) {
        unauthorized(req, false, "this endpoint needs Authorization: Bearer <admin token>");
        return false;
    }
    if (md_http_header_count(req, "authorization") != 1 || v.n < 8 || strncasecmp(v.p, "Bearer", 6) != 0 ||
        v.p[6] != ' ') {
        unauthorized(req, true, "malformed Authorization header: expected Bearer <admin token>");
        return false;
    }
    while (i < v.n && v.p[i] == ' ')
        i++;
    tok = (md_str_t){v.p + i, v.n - i};
    for (size_t k = 0; k < tok.n; k++)
        if (!b64token_char(tok.p[k])) tok.n = 0;
    if (tok.n == 0 || tok.n > TOKEN_PRESENTED_MAX) {
        unauthorized(req, true, "malformed bearer token");
        return false;
    }
    if (sha256(tok.p, tok.n, h) != 0) {
        md_http_error(req, 503, "service_unavailable", "cannot check the token now");
        return false;
    }
    /* compare even when no admin is set up, so timing says nothing either way */
    ok = (CRYPTO_memcmp(h, req->srv->admin_sha256, sizeof(h)) == 0) & req->srv->admin_ready;
    OPENSSL_cleanse(h, sizeof(h));
    if (!ok) {
        md_log_hash(logged, tok.p, tok.n);
        md_log(MD_LOG_WARN, req->id, "admin authentication failed (presented token %s, peer %s)", logged,
               req->peer);
        unauthorized(req, true, "the bearer token is not valid");
        return false;
    }
    return true;
}

/* ---- endpoints ---- */

void md_admin_status(md_http_req_t *req)
{
    md_server_t *srv = req->srv;
    md_snapshot_t *snap = req->snap;
    const md_config_t *cfg = snap->config;
    int64_t now = (int64_t)time(NULL);
    json_t *doc = json_pack(
        "{s:s, s:s, s:I, s:I, s:{s:s, s:I, s:I}, s:{s:s, s:i}, s:{s:s, s:b, s:i, s:I}}", "status", "ok",
        "version", MD_VERSION, "started_at", (json_int_t)srv->started_at, "uptime_seconds",
        (json_int_t)(now - srv->started_at), "config", "file", cfg->file, "generation",
        (json_int_t)snap->generation, "loaded_at", (json_int_t)snap->loaded_at, "store", "backend",
        srv->store_backend, "schema_version", srv->schema_version, "server", "listen", srv->listen, "tls",
        srv->tls, "workers", srv->nworkers, "connections", (json_int_t)atomic_load(&srv->nconns));
    if (doc == NULL) {
        md_http_error_oom(req);
        return;
    }
    md_http_reply_json(req, 200, doc);
    json_decref(doc);
}

static void store_failed(md_http_req_t *req, int rc, const md_err_t *err)
{
    md_log(MD_LOG_ERROR, req->id, "%s", err->msg);
    if (rc == MD_STORE_EBUSY)
        md_http_error(req, 503, "service_unavailable", "the store is busy; retry");
    else if (rc == MD_ENOMEM)
        md_http_error_oom(req);
    else
        md_http_error(req, 500, "internal_error", "the store failed; see the log (request %s)", req->id);
}

/* Settings under `keys.` are the key manager's own state, authenticated with the signing keys
 * (src/keys/keys.c): written from outside they would make the next start refuse the key set.
 * True after answering 400. */
static bool reserved_key(md_http_req_t *req, const char *key)
{
    if (strncmp(key, "keys.", 5) != 0) return false;
    md_http_error(req, 400, "invalid_request", "settings under `keys.` are kept by mandated itself");
    return true;
}

/* POST /v1/admin/settings {"key": "a.b-c_d", "value": "text"} */
void md_admin_settings_put(md_http_req_t *req)
{
    json_t *doc = md_http_json_body(req), *k, *v, *out = NULL;
    const char *name;
    json_t *field;
    md_err_t err = {0};
    int rc;

    if (doc == NULL) return; /* answered */
    json_object_foreach(doc, name, field)
    {
        if (strcmp(name, "key") != 0 && strcmp(name, "value") != 0) {
            md_http_error(req, 400, "invalid_request", "unknown field (only `key` and `value` are accepted)");
            goto out;
        }
    }
    k = json_object_get(doc, "key");
    v = json_object_get(doc, "value");
    if (k == NULL || !json_is_string(k)) {
        md_http_error(req, 400, "invalid_request", "`key` is required and must be a string");
        goto out;
    }
    if (!md_store_key_valid(json_string_value(k)) || strlen(json_string_value(k)) != json_string_length(k)) {
        md_http_error(req, 400, "invalid_request", "`key` must be 1..%d characters of A-Z a-z 0-9 . _ -",
                      MD_STORE_KEY_MAX);
        goto out;
    }
    if (reserved_key(req, json_string_value(k))) goto out;
    if (v == NULL || !json_is_string(v)) {
        md_http_error(req, 400, "invalid_request", "`value` is required and must be a string");
        goto out;
    }
    if (json_string_length(v) > MD_STORE_VALUE_MAX) {
        md_http_error(req, 400, "invalid_request", "`value` is longer than %d bytes", MD_STORE_VALUE_MAX);
        goto out;
    }
    rc = md_store_setting_put(req->store, json_string_value(k),
                              (md_str_t){json_string_value(v), json_string_length(v)}, &err);
    if (rc != MD_OK) {
        store_failed(req, rc, &err);
        goto out;
    }
    out = json_pack("{s:O, s:O}", "key", k, "value", v);
    if (out == NULL) {
        md_http_error_oom(req);
        goto out;
    }
    md_http_reply_json(req, 200, out);
out:
    json_decref(out);
    json_decref(doc);
}

/* The {key} parameter, checked; NULL after answering 400. */
static const char *key_param(md_http_req_t *req)
{
    md_str_t key = md_http_param(req, "key");
    if (key.p == NULL || !md_store_key_valid(key.p)) {
        md_http_error(req, 400, "invalid_request", "the key must be 1..%d characters of A-Z a-z 0-9 . _ -",
                      MD_STORE_KEY_MAX);
        return NULL;
    }
    return key.p;
}

void md_admin_settings_get(md_http_req_t *req)
{
    const char *key = key_param(req);
    md_buf_t value;
    md_err_t err = {0};
    json_t *doc = NULL;
    int rc;

    if (key == NULL) return;
    md_buf_init(&value);
    rc = md_store_setting_get(req->store, key, &value, &err);
    if (rc == MD_ENOENT) {
        md_http_error(req, 404, "not_found", "no setting `%s`", key);
        goto out;
    }
    if (rc != MD_OK) {
        store_failed(req, rc, &err);
        goto out;
    }
    doc = json_pack("{s:s, s:s%}", "key", key, "value", value.p ? value.p : "", value.n);
    if (doc == NULL) {
        md_http_error_oom(req);
        goto out;
    }
    md_http_reply_json(req, 200, doc);
out:
    json_decref(doc);
    md_buf_free(&value);
}

void md_admin_settings_delete(md_http_req_t *req)
{
    const char *key = key_param(req);
    md_err_t err = {0};
    int rc;

    if (key == NULL || reserved_key(req, key)) return;
    rc = md_store_setting_delete(req->store, key, &err);
    if (rc == MD_ENOENT) {
        md_http_error(req, 404, "not_found", "no setting `%s`", key);
        return;
    }
    if (rc != MD_OK) {
        store_failed(req, rc, &err);
        return;
    }
    md_http_reply(req, 204, NULL, NULL, 0);
}
