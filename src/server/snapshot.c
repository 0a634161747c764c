/*
 * snapshot.c: building and refcounting configuration snapshots, and the
 * TLS server context they carry (see snapshot.h).
 *
 * TLS: 1.3 only, ALPN "http/1.1", no renegotiation, no compression.  The
 * private key file is read by us (it was checked private by the config
 * loader), parsed from memory and the buffer wiped.
 */
#include "server/server_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#define KEY_FILE_MAX (64 * 1024)

static void ssl_error(char *msg, size_t msgsz, const char *what)
{
    unsigned long e = ERR_get_error();
    char reason[256] = "unknown error";
    if (e != 0) ERR_error_string_n(e, reason, sizeof(reason));
    ERR_clear_error();
    snprintf(msg, msgsz, "%s: %s", what, reason);
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
    static const unsigned char ours[] = "\x08http/1.1";
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* the client offers no http/1.1: go on without ALPN */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* Read the key file into a buffer the caller wipes and frees. */
static int read_key(const char *path, char **out, size_t *len, char *msg, size_t msgsz)
{
    int fd = -1, rc = -1;
    char *buf = NULL;
    size_t n = 0;
    struct stat st;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(msg, msgsz, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (md_conf_check_private(path, fd, msg, msgsz) != 0) goto out;
    if (fstat(fd, &st) != 0 || st.st_size > KEY_FILE_MAX) {
        snprintf(msg, msgsz, "%s: larger than %d bytes", path, KEY_FILE_MAX);
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        snprintf(msg, msgsz, "%s: out of memory", path);
        goto out;
    }
    while (n < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    if (fd >= 0) close(fd);
    return rc;
}

int md_tls_ctx_new(const char *cert, const char *key, SSL_CTX **out, char *msg, size_t msgsz)
{
    SSL_CTX *ctx = NULL;
    char *keytext = NULL;
    size_t keylen = 0;
    BIO *bio = NULL;
    EVP_PKEY *pkey = NULL;
    int rc = -1;
    static const unsigned char sid[] = "mandated";

    *out = NULL;
    ERR_clear_error();
    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        ssl_error(msg, msgsz, "SSL_CTX_new");
        goto out;
    }
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
        ssl_error(msg, msgsz, "TLS 1.3");
        goto out;
    }
    SSL_CTX_set_options(ctx,
                        SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        ssl_error(msg, msgsz, cert);
        goto out;
    }
    if (read_key(key, &keytext, &keylen, msg, msgsz) != 0) goto out;
    bio = BIO_new_mem_buf(keytext, (int)keylen);
    if (bio == NULL) {
        ssl_error(msg, msgsz, key);
        goto out;
    }
    pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
    if (pkey == NULL) {
        ssl_error(msg, msgsz, key);
        goto out;
    }
    if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        ssl_error(msg, msgsz, "the key does not match the certificate");
        goto out;
    }
    *out = ctx;
    ctx = NULL;
    rc = 0;
out:
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    if (keytext != NULL) {
        OPENSSL_cleanse(keytext, keylen);
        free(keytext);
    }
    SSL_CTX_free(ctx);
    return rc;
}

int md_snapshot_build(md_config_t *cfg, uint64_t generation, md_snapshot_t *prev, md_snapshot_t **out,
                      md_conf_diag_t *diag)
{
    md_snapshot_t *snap = NULL;
    char msg[768];
    int rc = MD_EINVAL;

    *out = NULL;
    snap = calloc(1, sizeof(*snap));
    if (snap == NULL) {
        md_conf_diag_add(diag, cfg->file, 0, NULL, "out of memory");
        rc = MD_ENOMEM;
        goto out;
    }
    atomic_init(&snap->refs, 1);
    snap->generation = generation;
    snap->loaded_at = (int64_t)time(NULL);
    if (cfg->tls_cert != NULL && cfg->tls_key != NULL) {
        if (md_tls_ctx_new(cfg->tls_cert, cfg->tls_key, &snap->tls, msg, sizeof(msg)) != 0) {
            md_conf_diag_add(diag, cfg->file, md_config_line(cfg, "tls.cert"), "tls.cert", "%s", msg);
            goto out;
        }
    }
    snap->issuer = cfg->issuer;
    if (snap->issuer == NULL) { /* derived here, after a reload kept the listen address that runs */
        const char *scheme = cfg->tls_cert != NULL ? "https://" : "http://";
        size_t sl = strlen(scheme), ll = strlen(cfg->listen);
        char *p = md_arena_alloc(&cfg->arena, sl + ll + 1);
        if (p == NULL) {
            md_conf_diag_add(diag, cfg->file, 0, NULL, "out of memory");
            rc = MD_ENOMEM;
            goto out;
        }
        memcpy(p, scheme, sl);
        memcpy(p + sl, cfg->listen, ll + 1);
        snap->issuer = p;
    }
    rc = md_policies_load(cfg, &snap->policies, diag);
    if (rc != MD_OK) goto out;
    rc = md_oidc_registry_new(cfg, prev ? prev->oidc : NULL, &snap->oidc, diag);
    if (rc != MD_OK) goto out;
    snap->config = cfg;
    cfg = NULL;
    *out = snap;
    snap = NULL;
    rc = MD_OK;
out:
    md_config_free(cfg);
    if (snap) {
        SSL_CTX_free(snap->tls);
        md_policies_free(snap->policies);
        free(snap);
    }
    return rc;
}

md_snapshot_t *md_snapshot_ref(md_snapshot_t *snap)
{
    if (snap) atomic_fetch_add_explicit(&snap->refs, 1, memory_order_relaxed);
    return snap;
}

void md_snapshot_unref(md_snapshot_t *snap)
{
    if (snap == NULL) return;
    if (atomic_fetch_sub_explicit(&snap->refs, 1, memory_order_acq_rel) != 1) return;
    SSL_CTX_free(snap->tls);
    md_oidc_registry_unref(snap->oidc);
    md_policies_free(snap->policies);
    md_config_free(snap->config);
    free(snap);
}
