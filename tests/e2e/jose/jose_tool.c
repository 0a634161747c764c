/*
 * jose_tool.c: a small driver over src/token/ for the cross-check with the
 * npm `jose` library (run.sh).  Not a product tool: it exists so that
 * another implementation can check ours from outside, in both directions.
 *
 *   jose_tool keygen ES256|EdDSA OUT.pem        new private key (PKCS#8 PEM, mode 0600)
 *   jose_tool jwks KEY.pem...                   public JWKS of the keys (kid = thumbprint)
 *   jose_tool thumbprint JWK.json               RFC 7638 thumbprint of a JWK
 *   jose_tool sign KEY.pem ALG CLAIMS.json [TYP]  a signed JWT
 *   jose_tool verify JWKS.json TOKEN --now N [--iss I] [--aud A] [--typ T] [--allow-high-s]
 *                                               verified claims as JSON, or the refusal's
 *                                               name (MD_JOSE_...) and exit status 1
 * Exit status: 0 success, 1 refusal or error, 2 usage.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "token/token.h"

static int usage(void)
{
    fprintf(stderr, "usage: jose_tool keygen|jwks|thumbprint|sign|verify ... (see jose_tool.c)\n");
    return 2;
}

static char *slurp(const char *path, size_t *len)
{
    char *text = NULL;
    md_err_t err = {0};
    if (md_file_read(path, 1u << 20, &text, len, &err) != MD_OK) {
        fprintf(stderr, "jose_tool: %s\n", err.msg);
        return NULL;
    }
    return text;
}

static md_jwk_t *load_pem(const char *path)
{
    size_t n = 0;
    char *pem = slurp(path, &n);
    if (pem == NULL) return NULL;
    md_jwk_t *k = NULL;
    md_err_t err = {0};
    int rc = md_jwk_from_pem((md_str_t){pem, n}, &k, &err);
    md_jose_secret_free(pem, n);
    if (rc != MD_OK) fprintf(stderr, "jose_tool: %s: %s %s\n", path, md_jose_err_name(rc), err.msg);
    return k;
}

static int cmd_keygen(int argc, char **argv)
{
    if (argc != 2) return usage();
    md_jose_alg_t alg;
    if (md_jose_alg_from_name(md_str_c(argv[0]), &alg) != MD_OK) return usage();
    md_jwk_t *k = NULL;
    md_err_t err = {0};
    int rc = md_jwk_generate(alg, &k, &err);
    if (rc != MD_OK) {
        fprintf(stderr, "jose_tool: %s %s\n", md_jose_err_name(rc), err.msg);
        return 1;
    }
    char *pem = NULL;
    size_t n = 0;
    rc = md_jwk_to_pem(k, &pem, &n, &err);
    int status = 1;
    if (rc == MD_OK) {
        int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0 && write(fd, pem, n) == (ssize_t)n && close(fd) == 0)
            status = 0;
        else
            perror(argv[1]);
    }
    md_jose_secret_free(pem, n);
    md_jwk_free(k);
    return status;
}

static int cmd_jwks(int argc, char **argv)
{
    if (argc < 1) return usage();
    md_jwk_t *keys[16];
    int n = 0, status = 1;
    json_t *set = NULL;
    for (; n < argc && n < 16; n++)
        if ((keys[n] = load_pem(argv[n])) == NULL) goto out;
    if (md_jwks_to_json((const md_jwk_t *const *)keys, (size_t)n, &set) != MD_OK) goto out;
    if (json_dumpf(set, stdout, JSON_INDENT(2)) == 0 && printf("\n") > 0) status = 0;
out:
    json_decref(set);
    for (int i = 0; i < n; i++)
        md_jwk_free(keys[i]);
    return status;
}

static int cmd_thumbprint(int argc, char **argv)
{
    if (argc != 1) return usage();
    size_t n = 0;
    char *text = slurp(argv[0], &n);
    if (text == NULL) return 1;
    md_jwk_t *k = NULL;
    md_err_t err = {0};
    int rc = md_jwk_parse((md_str_t){text, n}, &k, &err);
    free(text);
    char tp[MD_JWK_THUMBPRINT_LEN + 1];
    if (rc == MD_OK) rc = md_jwk_thumbprint(k, tp);
    md_jwk_free(k);
    if (rc != MD_OK) {
        printf("%s\n", md_jose_err_name(rc));
        fprintf(stderr, "jose_tool: %s\n", err.msg);
        return 1;
    }
    printf("%s\n", tp);
    return 0;
}

static int cmd_sign(int argc, char **argv)
{
    if (argc != 3 && argc != 4) return usage();
    md_jose_alg_t alg;
    if (md_jose_alg_from_name(md_str_c(argv[1]), &alg) != MD_OK) return usage();
    md_jwk_t *k = load_pem(argv[0]);
    if (k == NULL) return 1;
    json_error_t je;
    json_t *claims = json_load_file(argv[2], JSON_REJECT_DUPLICATES, &je);
    int status = 1;
    md_buf_t tok;
    md_buf_init(&tok);
    md_err_t err = {0};
    if (claims == NULL) {
        fprintf(stderr, "jose_tool: %s: %s\n", argv[2], je.text);
    } else {
        int rc = md_jwt_sign(k, alg, argc == 4 ? argv[3] : NULL, claims, &tok, &err);
        if (rc == MD_OK) {
            printf("%s\n", tok.p);
            status = 0;
        } else {
            fprintf(stderr, "jose_tool: %s %s\n", md_jose_err_name(rc), err.msg);
        }
    }
    md_buf_free(&tok);
    json_decref(claims);
    md_jwk_free(k);
    return status;
}

static int cmd_verify(int argc, char **argv)
{
    if (argc < 2) return usage();
    md_jwt_verify_opts_t o = {.skew = MD_JWT_MAX_SKEW};
    for (int i = 2; i < argc; i += 2) {
        if (strcmp(argv[i], "--allow-high-s") == 0) {
            o.allow_high_s = true;
            i--;
            continue;
        }
        if (i + 1 >= argc) return usage();
        if (strcmp(argv[i], "--now") == 0)
            o.now = strtoll(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--iss") == 0)
            o.iss = argv[i + 1];
        else if (strcmp(argv[i], "--aud") == 0)
            o.aud = argv[i + 1];
        else if (strcmp(argv[i], "--typ") == 0)
            o.typ = argv[i + 1];
        else
            return usage();
    }
    size_t n = 0;
    char *text = slurp(argv[0], &n);
    if (text == NULL) return 1;
    md_jwks_t jwks = {0};
    md_err_t err = {0};
    int rc = md_jwks_parse((md_str_t){text, n}, &jwks, NULL, &err);
    free(text);
    if (rc != MD_OK) {
        printf("%s\n", md_jose_err_name(rc));
        fprintf(stderr, "jose_tool: JWKS: %s\n", err.msg);
        return 1;
    }
    md_jwt_t jwt = {0};
    rc = md_jwt_verify((const md_jwk_t *const *)jwks.keys, jwks.n, md_str_c(argv[1]), &o, &jwt, &err);
    int status = 1;
    if (rc == MD_OK) {
        if (json_dumpf(jwt.claims, stdout, JSON_COMPACT | JSON_SORT_KEYS) == 0 && printf("\n") > 0)
            status = 0;
    } else {
        printf("%s\n", md_jose_err_name(rc));
        fprintf(stderr, "jose_tool: %s\n", err.msg);
    }
    md_jwt_free(&jwt);
    md_jwks_free(&jwks);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage();
    const char *cmd = argv[1];
    argc -= 2;
    argv += 2;
    if (strcmp(cmd, "keygen") == 0) return cmd_keygen(argc, argv);
    if (strcmp(cmd, "jwks") == 0) return cmd_jwks(argc, argv);
    if (strcmp(cmd, "thumbprint") == 0) return cmd_thumbprint(argc, argv);
    if (strcmp(cmd, "sign") == 0) return cmd_sign(argc, argv);
    if (strcmp(cmd, "verify") == 0) return cmd_verify(argc, argv);
    return usage();
}
