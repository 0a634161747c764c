/*
 * fuzz_policy.c: libFuzzer target for the policy parser and the evaluator.
 * Parses the input as a policy set; when it parses, prints every policy
 * back and authorizes a fixed request against a small entity store, so the
 * evaluator sees every expression the parser accepts.
 */
#include <stdlib.h>

#include "cedar/authz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char entities_json[] =
    "[{\"uid\":{\"type\":\"User\",\"id\":\"alice\"},\"attrs\":{\"age\":42,\"name\":\"alice\","
    "\"tags\":[\"a\",\"b\"],\"rec\":{\"x\":1}},\"parents\":[{\"type\":\"Group\",\"id\":\"g\"}],"
    "\"tags\":{\"t\":\"v\"}},{\"uid\":{\"type\":\"Group\",\"id\":\"g\"},\"attrs\":{},\"parents\":[]}]";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static md_entities_t *es;
    md_err_t err = {0};
    if (es == NULL &&
        md_entities_parse_json(entities_json, sizeof(entities_json) - 1, "fuzz", NULL, &es, &err))
        abort();
    md_policyset_t *ps = NULL;
    if (md_policyset_parse((const char *)data, size, "fuzz", &ps, &err) != MD_OK) return 0;
    md_buf_t b;
    md_buf_init(&b);
    for (uint32_t i = 0; i < ps->npolicies; i++)
        md_policy_to_cedar(&b, ps->policies[i]);
    md_buf_free(&b);
    md_arena_t arena;
    md_arena_init(&arena, 4096);
    md_uid_t p = {MD_STR("User"), MD_STR("alice"), 0}, a = {MD_STR("Action"), MD_STR("view"), 0},
             r = {MD_STR("Group"), MD_STR("g"), 0};
    p.hash = md_uid_hash(p.type, p.id);
    a.hash = md_uid_hash(a.type, a.id);
    r.hash = md_uid_hash(r.type, r.id);
    md_request_t req = {&p, &a, &r, {.kind = MD_CV_RECORD}};
    md_response_t resp;
    for (int pass = 0; pass < 2; pass++) {
        if (md_authorize(ps, es, &req, &arena, &resp) != MD_OK) break;
        md_arena_reset(&arena);
        if (md_policyset_index(ps) != MD_OK) break;
    }
    md_arena_free(&arena);
    md_policyset_free(ps);
    return 0;
}
