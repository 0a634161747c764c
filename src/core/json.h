/*
 * json.h: loading JSON with jansson, plus what jansson cannot do alone.
 *
 * jansson refuses NUL characters in object keys, but Cedar allows any
 * string as an attribute name, including "\u0000".  md_json_loadb() rewrites
 * such keys before jansson sees them: in keys only, U+0000 becomes the pair
 * U+FDD0 U+FDD0 and a literal U+FDD0 becomes U+FDD0 U+FDD1 (U+FDD0 is a
 * Unicode noncharacter).  md_json_key() undoes it.  Every key read from a
 * document loaded this way must go through md_json_key().
 */
#ifndef MD_CORE_JSON_H
#define MD_CORE_JSON_H

#include <jansson.h>

#include "core/core.h"

/* Parse with duplicate keys rejected and NUL allowed in strings and keys. */
json_t *md_json_loadb(const char *text, size_t len, json_error_t *je);
json_t *md_json_load_file(const char *path, json_error_t *je);
/* The real key; copied into the arena only when it had to be decoded
 * (otherwise it points into the json_t and lives as long as it). p == NULL on OOM. */
md_str_t md_json_key(const char *key, size_t klen, md_arena_t *a);

#endif
