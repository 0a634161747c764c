/*
 * fuzz_entities.c: libFuzzer target for entity JSON, parsed without a
 * schema and with a fixed schema (schema-based parsing), then every
 * entity's ancestors are queried.
 */
#include <stdlib.h>

#include "cedar/entities.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char schema_text[] =
    "entity Group in [Group] { name?: String };\n"
    "entity User in [Group] { age: Long, ip?: ipaddr, score?: decimal, "
    "at?: datetime, d?: duration, friends?: Set<User>, rec?: { a: Long, b?: Bool } } "
    "tags String;\n"
    "entity Color enum [\"red\", \"green\"];\n"
    "action view appliesTo { principal: [User], resource: [Group] };\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static md_schema_t *schema;
    md_err_t err = {0};
    if (schema == NULL && md_schema_parse_cedar(schema_text, sizeof(schema_text) - 1, "fuzz", &schema, &err))
        abort();
    for (int with = 0; with < 2; with++) {
        md_entities_t *es = NULL;
        md_err_clear(&err);
        if (md_entities_parse_json((const char *)data, size, "fuzz", with ? schema : NULL, &es, &err) !=
            MD_OK)
            continue;
        for (uint32_t i = 0; i < es->n; i++)
            for (uint32_t k = 0; k < es->n; k++)
                (void)md_entities_in(es, es->list[i].uid, es->list[k].uid);
        md_entities_free(es);
    }
    return 0;
}
