/*
 * fuzz_task.c: libFuzzer target for what tasks read from the outside:
 * OAuth scope strings, mandate claims (JSON), and DPoP proofs.
 *   - a scope that parses is formatted and parsed again to the same set;
 *   - claims that read as a mandate are written back (md_mandate_claims) and
 *     must read again to the same task, scope, depth and lifetime;
 *   - any input as a DPoP proof is verified (with and without a presented
 *     token): a refusal is expected, a crash or an acceptance of garbage
 *     signed by no key is a bug (an accepted proof must name a thumbprint).
 */
#include <stdlib.h>
#include <string.h>

#include "task/mandate.h"
#include "task/scope.h"
#include "token/dpop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    md_arena_t a;
    md_err_t err = {0};
    md_str_t in = {(const char *)data, size};
    md_scope_t s, again;
    md_buf_t b;

    md_arena_init(&a, 4096);
    md_buf_init(&b);
    if (md_scope_parse(in, &a, &s, &err) == MD_OK) {
        if (md_scope_format(&s, &b) != MD_OK) abort();
        md_err_clear(&err);
        if (md_scope_parse((md_str_t){b.p, b.n}, &a, &again, &err) != MD_OK || !md_scope_equal(&s, &again) ||
            !md_scope_subset(&s, &again))
            abort();
    }
    md_err_clear(&err);

    json_t *claims = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    md_mandate_t m, m2;
    if (claims != NULL && md_mandate_read(claims, &a, &m, &err) == MD_OK) {
        json_t *out = md_mandate_claims(&m, "https://issuer.example");
        md_err_clear(&err);
        if (out == NULL || md_mandate_read(out, &a, &m2, &err) != MD_OK) abort();
        if (!md_task_id_eq(&m.task, &m2.task) || !md_scope_equal(&m.scope, &m2.scope) ||
            m.depth != m2.depth || m.exp != m2.exp || m.iat != m2.iat ||
            strcmp(m.client_id, m2.client_id) != 0)
            abort();
        json_decref(out);
    }
    json_decref(claims);
    md_err_clear(&err);

    md_dpop_params_t p;
    md_dpop_result_t r;
    memset(&p, 0, sizeof(p));
    p.proof = in;
    p.htm = md_str_c("POST");
    p.htu = md_str_c("https://mandate.example/v1/tasks");
    p.now = 1800000000;
    p.skew = 5;
    if (md_dpop_verify(&p, &r, &err) == MD_OK && r.jkt[0] == '\0') abort();
    md_err_clear(&err);
    p.access_token = md_str_c("eyJ.e30.x");
    p.jkt = md_str_c("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    if (md_dpop_verify(&p, &r, &err) == MD_OK) abort(); /* no key has that thumbprint */
    md_buf_free(&b);
    md_arena_free(&a);
    return 0;
}
