/*
 * dpop_tool.c: a small driver over src/token/dpop.h for the DPoP cross-check
 * with the npm `jose` library (run.sh, dpop.mjs).  Not a product tool.
 *
 *   dpop_tool verify PROOF --htm M --htu U --now N [--skew S] [--max-age A] [--token T]
 *                    [--jkt J] [--nonce X]... [--uses K]
 *       verifies PROOF for the request (M, U) and prints {"jkt","jti","iat","alg"}, or the
 *       refusal's name (MD_DPOP_... / MD_JOSE_...) and exit status 1.  --uses K: verify and
 *       record the jti K times in one replay cache, printing each outcome on its own line
 *       (the first "MD_OK", the others "MD_DPOP_REPLAY").
 *   dpop_tool keygen ES256|EdDSA OUT.pem
 *   dpop_tool sign KEY.pem HTM HTU IAT [--token T] [--nonce X] [--jti J]
 *       a proof made by md_dpop_sign(), for jose to verify
 *   dpop_tool thumbprint KEY.pem
 * Exit status: 0 success, 1 refusal or error, 2 usage.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "token/dpop.h"
#include "token/token.h"

static int usage(void)
{
    fprintf(stderr, "usage: dpop_tool verify|keygen|sign|thumbprint ... (see dpop_tool.c)\n");
    return 2;
}

static md_jwk_t *load_pem(const char *path)
{
    char *pem = NULL;
    size_t n = 0;
    md_err_t err = {0};
    if (md_file_read(path, 1u << 16, &pem, &n, &err) != MD_OK) {
        fprintf(stderr, "dpop_tool: %s\n", err.msg);
        return NULL;
    }
    md_jwk_t *k = NULL;
    int rc = md_jwk_from_pem((md_str_t){pem, n}, &k, &err);
    md_jose_secret_free(pem, n);
    if (rc != MD_OK) fprintf(stderr, "dpop_tool: %s: %s %s\n", path, md_dpop_err_name(rc), err.msg);
    return k;
}

static int cmd_verify(int argc, char **argv)
{
    if (argc < 1) return usage();
    md_dpop_params_t p = {.proof = md_str_c(argv[0]), .skew = 5};
    md_str_t nonces[MD_DPOP_NONCES_MAX];
    long uses = 0;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) return usage();
        const char *opt = argv[i], *val = argv[i + 1];
        if (strcmp(opt, "--htm") == 0)
            p.htm = md_str_c(val);
        else if (strcmp(opt, "--htu") == 0)
            p.htu = md_str_c(val);
        else if (strcmp(opt, "--now") == 0)
            p.now = strtoll(val, NULL, 10);
        else if (strcmp(opt, "--skew") == 0)
            p.skew = strtoll(val, NULL, 10);
        else if (strcmp(opt, "--max-age") == 0)
            p.max_age = strtoll(val, NULL, 10);
        else if (strcmp(opt, "--token") == 0)
            p.access_token = md_str_c(val);
        else if (strcmp(opt, "--jkt") == 0)
            p.jkt = md_str_c(val);
        else if (strcmp(opt, "--nonce") == 0 && p.nnonces < MD_DPOP_NONCES_MAX)
            nonces[p.nnonces++] = md_str_c(val);
        else if (strcmp(opt, "--uses") == 0)
            uses = strtol(val, NULL, 10);
        else
            return usage();
    }
    p.nonces = nonces;
    md_dpop_result_t res;
    md_err_t err = {0};
    int rc = md_dpop_verify(&p, &res, &err);
    if (rc != MD_OK) {
        printf("%s\n", md_dpop_err_name(rc));
        fprintf(stderr, "dpop_tool: %s\n", err.msg);
        return 1;
    }
    if (uses > 0) {
        md_dpop_replay_t *r = md_dpop_replay_new(1024);
        if (r == NULL) return 1;
        int first = MD_EINVAL;
        for (long i = 0; i < uses; i++) {
            int u = md_dpop_replay_check_and_add(r, md_str_c(res.jkt), (md_str_t){res.jti, res.jti_len},
                                                 res.replay_until, p.now);
            if (i == 0) first = u;
            printf("%s\n", md_dpop_err_name(u));
        }
        md_dpop_replay_free(r);
        return first == MD_OK ? 0 : 1;
    }
    json_t *out = json_pack("{s:s, s:s%, s:I, s:s}", "jkt", res.jkt, "jti", res.jti, res.jti_len, "iat",
                            (json_int_t)res.iat, "alg", md_jose_alg_name(res.alg));
    int status =
        out != NULL && json_dumpf(out, stdout, JSON_COMPACT | JSON_SORT_KEYS) == 0 && printf("\n") > 0 ? 0
                                                                                                       : 1;
    json_decref(out);
    return status;
}

static int cmd_keygen(int argc, char **argv)
{
    if (argc != 2) return usage();
    md_jose_alg_t alg;
    if (md_jose_alg_from_name(md_str_c(argv[0]), &alg) != MD_OK) return usage();
    md_jwk_t *k = NULL;
    char *pem = NULL;
    size_t n = 0;
    int status = 1;
    if (md_jwk_generate(alg, &k, NULL) == MD_OK && md_jwk_to_pem(k, &pem, &n, NULL) == MD_OK) {
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

static int cmd_sign(int argc, char **argv)
{
    if (argc < 4) return usage();
    md_str_t token = MD_STR_NULL, nonce = MD_STR_NULL;
    const char *jti = NULL;
    for (int i = 4; i < argc; i += 2) {
        if (i + 1 >= argc) return usage();
        if (strcmp(argv[i], "--token") == 0)
            token = md_str_c(argv[i + 1]);
        else if (strcmp(argv[i], "--nonce") == 0)
            nonce = md_str_c(argv[i + 1]);
        else if (strcmp(argv[i], "--jti") == 0)
            jti = argv[i + 1];
        else
            return usage();
    }
    md_jwk_t *k = load_pem(argv[0]);
    if (k == NULL) return 1;
    md_buf_t b;
    md_buf_init(&b);
    md_err_t err = {0};
    int rc = md_dpop_sign(k, 0, md_str_c(argv[1]), md_str_c(argv[2]), strtoll(argv[3], NULL, 10), jti, token,
                          nonce, &b, &err);
    if (rc == MD_OK)
        printf("%s\n", b.p);
    else
        fprintf(stderr, "dpop_tool: %s %s\n", md_dpop_err_name(rc), err.msg);
    md_buf_free(&b);
    md_jwk_free(k);
    return rc == MD_OK ? 0 : 1;
}

static int cmd_thumbprint(int argc, char **argv)
{
    if (argc != 1) return usage();
    md_jwk_t *k = load_pem(argv[0]);
    if (k == NULL) return 1;
    char tp[MD_JWK_THUMBPRINT_LEN + 1];
    int rc = md_jwk_thumbprint(k, tp);
    md_jwk_free(k);
    if (rc != MD_OK) return 1;
    printf("%s\n", tp);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage();
    const char *cmd = argv[1];
    argc -= 2;
    argv += 2;
    if (strcmp(cmd, "verify") == 0) return cmd_verify(argc, argv);
    if (strcmp(cmd, "keygen") == 0) return cmd_keygen(argc, argv);
    if (strcmp(cmd, "sign") == 0) return cmd_sign(argc, argv);
    if (strcmp(cmd, "thumbprint") == 0) return cmd_thumbprint(argc, argv);
    return usage();
}
