/*
 * fuzz_identity.c: libFuzzer target for registration entries (JSON),
 * selectors and SPIFFE IDs.  An entry that parses is serialised and parsed
 * again, and must survive the round trip.
 */
#include <stdlib.h>

#include "identity/entry.h"
#include "identity/selector.h"
#include "identity/spiffe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    md_arena_t a;
    md_err_t err = {0};
    md_spiffe_id_t id;
    md_selector_t sel;
    md_arena_init(&a, 4096);
    /* results unused: these two are fuzzed for crashes only */
    if (md_spiffe_parse((md_str_t){(const char *)data, size}, &id) == MD_SPIFFE_OK && id.trust_domain.n == 0)
        abort(); /* a valid ID always has a trust domain */
    if (md_selector_parse((md_str_t){(const char *)data, size}, &a, &sel, &err) != MD_OK) md_err_clear(&err);
    md_entry_t e;
    md_err_clear(&err);
    if (md_entry_parse((const char *)data, size, &a, &e, &err) == MD_OK) {
        json_t *j = md_entry_to_json(&e);
        if (j) {
            char *text = json_dumps(j, JSON_COMPACT);
            md_entry_t again;
            md_err_clear(&err);
            if (text && md_entry_parse(text, strlen(text), &a, &again, &err) != MD_OK) abort();
            free(text);
            json_decref(j);
        }
    }
    md_arena_free(&a);
    return 0;
}
