/*
 * fuzz_schema.c: libFuzzer target for both schema parsers.  The first byte
 * picks the format (even: Cedar text, odd: JSON); the rest is the schema.
 * A schema that parses is printed back type by type.
 */
#include "cedar/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    md_schema_t *s = NULL;
    md_err_t err = {0};
    int rc = (data[0] & 1) ? md_schema_parse_json((const char *)data + 1, size - 1, "fuzz", &s, &err)
                           : md_schema_parse_cedar((const char *)data + 1, size - 1, "fuzz", &s, &err);
    if (rc == MD_OK) {
        md_buf_t b;
        md_buf_init(&b);
        for (uint32_t i = 0; i < s->netypes; i++)
            md_ty_to_cedar(&b, s->etypes[i].shape);
        for (uint32_t i = 0; i < s->nactions; i++)
            md_ty_to_cedar(&b, s->actions[i].context);
        md_buf_free(&b);
        md_schema_free(s);
    }
    return 0;
}
