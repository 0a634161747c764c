/*
 * cedar_cmd.c: `mandate cedar ...` — the Cedar engine from the command line.
 *
 *   mandate cedar authorize --policies P --entities E [--schema S] --request R
 *   mandate cedar run-tests [--root DIR] FILE.json...
 *   mandate cedar check-parse --policies P [--schema S]
 *
 * Exit codes: authorize 0 allow, 2 deny, 1 usage or input error;
 * run-tests 0 when every request agrees, 1 otherwise; check-parse 0 or 1.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cedar/authz.h"
#include "core/json.h"
#include "cmd.h"

#define FILE_LIMIT (64u << 20)

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* Load a schema, choosing the format by `json` or by the file name. */
static md_schema_t *load_schema(const char *path, int json_format, md_err_t *err)
{
    char *text = NULL;
    size_t len = 0;
    md_schema_t *s = NULL;
    if (md_file_read(path, FILE_LIMIT, &text, &len, err) != MD_OK) return NULL;
    bool js = json_format > 0 || (json_format < 0 && has_suffix(path, ".json"));
    int rc =
        js ? md_schema_parse_json(text, len, path, &s, err) : md_schema_parse_cedar(text, len, path, &s, err);
    free(text);
    return rc == MD_OK ? s : NULL;
}

static md_policyset_t *load_policies(const char *path, md_err_t *err)
{
    char *text = NULL;
    size_t len = 0;
    md_policyset_t *ps = NULL;
    if (md_file_read(path, FILE_LIMIT, &text, &len, err) != MD_OK) return NULL;
    int rc = md_policyset_parse(text, len, path, &ps, err);
    free(text);
    if (rc == MD_OK && md_policyset_index(ps) != MD_OK) {
        md_err_set(err, MD_ENOMEM, "out of memory while indexing policies");
        md_policyset_free(ps);
        return NULL;
    }
    return rc == MD_OK ? ps : NULL;
}

static md_entities_t *load_entities(const char *path, const md_schema_t *schema, md_err_t *err)
{
    char *text = NULL;
    size_t len = 0;
    md_entities_t *es = NULL;
    if (md_file_read(path, FILE_LIMIT, &text, &len, err) != MD_OK) return NULL;
    int rc = md_entities_parse_json(text, len, path, schema, &es, err);
    free(text);
    return rc == MD_OK ? es : NULL;
}

/*
 * Template links, in the Cedar CLI's format:
 * [{"template_id": "policy0", "link_id": "alice-docs",
 *   "args": {"?principal": "User::\"alice\"", "?resource": {"type": "Folder", "id": "docs"}}}]
 */
static int load_links(md_policyset_t *ps, const char *path, md_err_t *err)
{
    json_error_t je;
    json_t *j = md_json_load_file(path, &je);
    int rc = MD_EINVAL;
    md_arena_t tmp;
    md_arena_init(&tmp, 4096);
    if (j == NULL) {
        md_err_set(err, MD_EINVAL, "%s:%d:%d: invalid JSON: %s", path, je.line, je.column, je.text);
        goto out;
    }
    if (!json_is_array(j)) {
        md_err_set(err, MD_EINVAL, "%s: expected an array of links", path);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(j); i++) {
        const json_t *l = json_array_get(j, i), *args = json_object_get(l, "args");
        const json_t *tid = json_object_get(l, "template_id"), *lid = json_object_get(l, "link_id");
        if (!json_is_string(tid) || !json_is_string(lid) || (args && !json_is_object(args))) {
            md_err_set(err, MD_EINVAL, "%s: link %zu: expected {\"template_id\", \"link_id\", \"args\"}",
                       path, i);
            goto out;
        }
        const md_uid_t *slot[2] = {NULL, NULL};
        static const char *const names[2] = {"?principal", "?resource"};
        for (int k = 0; k < 2; k++) {
            const json_t *v = args ? json_object_get(args, names[k]) : NULL;
            char where[64];
            snprintf(where, sizeof(where), "link %zu %s", i, names[k]);
            if (v == NULL) continue;
            if (json_is_string(v)
                    ? md_uid_parse(json_string_value(v), json_string_length(v), &tmp, &slot[k], err) != MD_OK
                    : md_json_to_uid(v, &tmp, where, &slot[k], err) != MD_OK) {
                md_err_set(err, MD_EINVAL, "%s: link %zu: bad %s", path, i, names[k]);
                goto out;
            }
        }
        md_str_t t = {json_string_value(tid), json_string_length(tid)};
        md_str_t n = {json_string_value(lid), json_string_length(lid)};
        if (md_policyset_link(ps, t, n, slot[0], slot[1], err) != MD_OK) goto out;
    }
    rc = md_policyset_index(ps) == MD_OK ? MD_OK : md_err_set(err, MD_ENOMEM, "out of memory");
out:
    json_decref(j);
    md_arena_free(&tmp);
    return rc;
}

/* ---- authorize ---- */

static int cmd_authorize(int argc, char **argv)
{
    static const struct option opts[] = {
        {"policies", required_argument, NULL, 'p'}, {"entities", required_argument, NULL, 'e'},
        {"schema", required_argument, NULL, 's'},   {"request", required_argument, NULL, 'r'},
        {"links", required_argument, NULL, 'l'},    {"no-validate", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    const char *pp = NULL, *ep = NULL, *sp = NULL, *rp = NULL, *lp = NULL;
    bool validate = true;
    int c, status = 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:e:s:r:l:nh", opts, NULL)) != -1) {
        switch (c) {
        case 'l': lp = optarg; break;
        case 'p': pp = optarg; break;
        case 'e': ep = optarg; break;
        case 's': sp = optarg; break;
        case 'r': rp = optarg; break;
        case 'n': validate = false; break;
        case 'h': md_cmd_help("cedar authorize"); return 0;
        default: return 1;
        }
    }
    if (pp == NULL || rp == NULL || optind != argc) {
        fprintf(stderr, "usage: mandate cedar authorize --policies P.cedar --entities E.json [--schema S] "
                        "--request R.json\n");
        return 1;
    }
    md_err_t err = {0};
    md_schema_t *schema = NULL;
    md_policyset_t *ps = NULL;
    md_entities_t *es = NULL;
    json_t *rj = NULL;
    md_arena_t arena;
    md_buf_t out;
    md_arena_init(&arena, 16384);
    md_buf_init(&out);

    if (sp && (schema = load_schema(sp, -1, &err)) == NULL) goto fail;
    if ((ps = load_policies(pp, &err)) == NULL) goto fail;
    if (lp && load_links(ps, lp, &err) != MD_OK) goto fail;
    if (ep) {
        if ((es = load_entities(ep, schema, &err)) == NULL) goto fail;
    } else if ((es = md_entities_new_empty()) == NULL) {
        md_err_set(&err, MD_ENOMEM, "out of memory");
        goto fail;
    }
    json_error_t je;
    rj = md_json_load_file(rp, &je);
    if (rj == NULL) {
        md_err_set(&err, MD_EINVAL, "%s:%d:%d: invalid JSON: %s", rp, je.line, je.column, je.text);
        goto fail;
    }
    md_request_t req;
    if (md_request_from_json(rj, schema, validate, &arena, &req, &err) != MD_OK) goto fail;
    md_response_t resp;
    if (md_authorize(ps, es, &req, &arena, &resp) != MD_OK) {
        md_err_set(&err, MD_ENOMEM, "out of memory during authorization");
        goto fail;
    }
    md_response_to_json(&out, &resp);
    printf("%s\n", out.p);
    status = resp.allow ? 0 : 2;
    goto done;
fail:
    fprintf(stderr, "mandate: %s\n", err.msg);
    status = 1;
done:
    json_decref(rj);
    md_buf_free(&out);
    md_arena_free(&arena);
    md_entities_free(es);
    md_policyset_free(ps);
    md_schema_free(schema);
    return status;
}

/* ---- check-parse ---- */

static int cmd_check_parse(int argc, char **argv)
{
    static const struct option opts[] = {{"policies", required_argument, NULL, 'p'},
                                         {"schema", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *pp = NULL, *sp = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p': pp = optarg; break;
        case 's': sp = optarg; break;
        case 'h': md_cmd_help("cedar check-parse"); return 0;
        default: return 1;
        }
    }
    if ((pp == NULL && sp == NULL) || optind != argc) {
        fprintf(stderr, "usage: mandate cedar check-parse --policies P.cedar [--schema S]\n");
        return 1;
    }
    int status = 0;
    md_err_t err = {0};
    if (sp) {
        md_schema_t *s = load_schema(sp, -1, &err);
        if (s == NULL) {
            printf("%s\n", err.msg);
            status = 1;
        }
        md_schema_free(s);
    }
    if (pp) {
        char *text = NULL;
        size_t len = 0;
        md_err_clear(&err);
        if (md_file_read(pp, FILE_LIMIT, &text, &len, &err) != MD_OK) {
            printf("%s\n", err.msg);
            return 1;
        }
        md_buf_t out;
        md_buf_init(&out);
        if (md_policyset_check(text, len, pp, &out, 100) > 0) {
            fputs(out.p ? out.p : "", stdout);
            status = 1;
        }
        md_buf_free(&out);
        free(text);
    }
    return status;
}

/* ---- run-tests ---- */

typedef struct tally {
    uint64_t passed, failed;
    uint64_t tests, tests_failed_load;
    uint64_t should_validate_true, should_validate_false;
} tally_t;

static char *join(const char *root, const char *rel)
{
    if (rel[0] == '/' || root == NULL) return strdup(rel);
    size_t n = strlen(root) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", root, rel);
    return p;
}

/* Compare a list of expected policy ids with what we produced (as sets). */
static bool same_ids(const json_t *expect, const md_str_t *got, uint32_t ngot)
{
    size_t n = json_array_size(expect);
    /* every expected id is produced */
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_array_get(expect, i);
        if (!json_is_string(x)) return false;
        md_str_t s = {json_string_value(x), json_string_length(x)};
        bool found = false;
        for (uint32_t k = 0; k < ngot && !found; k++)
            found = md_str_eq(s, got[k]);
        if (!found) return false;
    }
    /* every produced id is expected */
    for (uint32_t k = 0; k < ngot; k++) {
        bool found = false;
        for (size_t i = 0; i < n && !found; i++) {
            const json_t *x = json_array_get(expect, i);
            found = md_str_eq(got[k], (md_str_t){json_string_value(x), json_string_length(x)});
        }
        if (!found) return false;
    }
    return true;
}

static void print_ids(md_buf_t *b, const md_str_t *ids, uint32_t n)
{
    md_buf_addc(b, '[');
    for (uint32_t i = 0; i < n; i++) {
        if (i) md_buf_addc(b, ',');
        md_buf_add_json_str(b, ids[i]);
    }
    md_buf_addc(b, ']');
}

static void run_one(const char *root, const char *file, tally_t *t, int verbose)
{
    json_error_t je;
    md_err_t err = {0};
    json_t *tj = md_json_load_file(file, &je);
    md_schema_t *schema = NULL;
    md_policyset_t *ps = NULL;
    md_entities_t *es = NULL;
    char *pp = NULL, *ep = NULL, *sp = NULL;
    md_arena_t arena;
    md_arena_init(&arena, 64 * 1024);

    t->tests++;
    if (tj == NULL) {
        printf("FAIL %s: invalid test file: %s (line %d)\n", file, je.text, je.line);
        t->tests_failed_load++;
        t->failed++;
        goto out;
    }
    const json_t *reqs = json_object_get(tj, "requests");
    size_t nreq = json_array_size(reqs);
    const char *pol = json_string_value(json_object_get(tj, "policies"));
    const char *ent = json_string_value(json_object_get(tj, "entities"));
    const char *sch = json_string_value(json_object_get(tj, "schema"));
    const char *pfmt = json_string_value(json_object_get(tj, "policyFormat"));
    const char *sfmt = json_string_value(json_object_get(tj, "schemaFormat"));
    const json_t *sv = json_object_get(tj, "shouldValidate");
    if (json_is_true(sv)) t->should_validate_true++;
    if (json_is_false(sv)) t->should_validate_false++;

    if (pol == NULL || ent == NULL || sch == NULL || !json_is_array(reqs)) {
        md_err_set(&err, MD_EINVAL, "test file lacks policies, entities, schema or requests");
        goto load_failed;
    }
    if (pfmt && strcmp(pfmt, "cedar") != 0) {
        md_err_set(&err, MD_EINVAL, "policyFormat \"%s\" is not supported (only \"cedar\")", pfmt);
        goto load_failed;
    }
    pp = join(root, pol);
    ep = join(root, ent);
    sp = join(root, sch);
    if (pp == NULL || ep == NULL || sp == NULL) {
        md_err_set(&err, MD_ENOMEM, "out of memory");
        goto load_failed;
    }
    if ((schema = load_schema(sp, sfmt ? strcmp(sfmt, "json") == 0 : 0, &err)) == NULL) goto load_failed;
    if ((ps = load_policies(pp, &err)) == NULL) goto load_failed;
    if ((es = load_entities(ep, schema, &err)) == NULL) goto load_failed;

    for (size_t i = 0; i < nreq; i++) {
        const json_t *rq = json_array_get(reqs, i);
        const char *desc = json_string_value(json_object_get(rq, "description"));
        const json_t *vr = json_object_get(rq, "validateRequest");
        bool validate = vr == NULL || json_is_true(vr);
        md_request_t req;
        md_err_t rerr = {0};
        md_arena_reset(&arena);
        if (md_request_from_json(rq, schema, validate, &arena, &req, &rerr) != MD_OK) {
            printf("FAIL %s: request \"%s\": %s\n", file, desc ? desc : "?", rerr.msg);
            t->failed++;
            continue;
        }
        md_response_t resp;
        if (md_authorize(ps, es, &req, &arena, &resp) != MD_OK) {
            printf("FAIL %s: request \"%s\": out of memory\n", file, desc ? desc : "?");
            t->failed++;
            continue;
        }
        const char *want = json_string_value(json_object_get(rq, "decision"));
        bool want_allow = want && (strcmp(want, "allow") == 0 || strcmp(want, "Allow") == 0);
        md_str_t *reasons = md_arena_alloc(&arena, (resp.nreasons + 1) * sizeof(md_str_t));
        md_str_t *errors = md_arena_alloc(&arena, (resp.nerrors + 1) * sizeof(md_str_t));
        if (reasons == NULL || errors == NULL) {
            printf("FAIL %s: request \"%s\": out of memory\n", file, desc ? desc : "?");
            t->failed++;
            continue;
        }
        for (uint32_t k = 0; k < resp.nreasons; k++)
            reasons[k] = resp.reasons[k]->id;
        for (uint32_t k = 0; k < resp.nerrors; k++)
            errors[k] = resp.errors[k].policy->id;
        bool ok_dec = want != NULL && want_allow == resp.allow;
        bool ok_reason = same_ids(json_object_get(rq, "reason"), reasons, resp.nreasons);
        bool ok_err = same_ids(json_object_get(rq, "errors"), errors, resp.nerrors);
        if (ok_dec && ok_reason && ok_err) {
            t->passed++;
            continue;
        }
        t->failed++;
        md_buf_t b;
        md_buf_init(&b);
        md_buf_printf(&b, "FAIL %s: request \"%s\":", file, desc ? desc : "?");
        if (!ok_dec)
            md_buf_printf(&b, " decision %s (expected %s)", resp.allow ? "allow" : "deny", want ? want : "?");
        if (!ok_reason) {
            char *ex = json_dumps(json_object_get(rq, "reason"), JSON_COMPACT);
            md_buf_adds(&b, " reason ");
            print_ids(&b, reasons, resp.nreasons);
            md_buf_printf(&b, " (expected %s)", ex ? ex : "?");
            free(ex);
        }
        if (!ok_err) {
            char *ex = json_dumps(json_object_get(rq, "errors"), JSON_COMPACT);
            md_buf_adds(&b, " errors ");
            print_ids(&b, errors, resp.nerrors);
            md_buf_printf(&b, " (expected %s)", ex ? ex : "?");
            free(ex);
        }
        if (verbose)
            for (uint32_t k = 0; k < resp.nerrors; k++)
                md_buf_printf(&b, "\n    %.*s: %.*s", (int)resp.errors[k].policy->id.n,
                              resp.errors[k].policy->id.p, (int)resp.errors[k].message.n,
                              resp.errors[k].message.p);
        printf("%s\n", b.p ? b.p : "");
        md_buf_free(&b);
    }
    goto out;
load_failed:
    printf("FAIL %s: cannot load test: %s\n", file, err.msg);
    t->tests_failed_load++;
    t->failed += nreq ? nreq : 1;
out:
    free(pp);
    free(ep);
    free(sp);
    md_arena_free(&arena);
    md_entities_free(es);
    md_policyset_free(ps);
    md_schema_free(schema);
    json_decref(tj);
}

static int cmd_run_tests(int argc, char **argv)
{
    static const struct option opts[] = {{"root", required_argument, NULL, 'r'},
                                         {"files-from", required_argument, NULL, 'f'},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *root = NULL, *list = NULL;
    int c, verbose = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "r:f:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'r': root = optarg; break;
        case 'f': list = optarg; break;
        case 'v': verbose = 1; break;
        case 'h': md_cmd_help("cedar run-tests"); return 0;
        default: return 1;
        }
    }
    if (optind >= argc && list == NULL) {
        fprintf(stderr, "usage: mandate cedar run-tests [--root DIR] [--files-from LIST|-] FILE.json...\n");
        return 1;
    }
    tally_t t = {0};
    for (int i = optind; i < argc; i++)
        run_one(root, argv[i], &t, verbose);
    if (list) {
        FILE *f = strcmp(list, "-") == 0 ? stdin : fopen(list, "r");
        if (f == NULL) {
            fprintf(stderr, "mandate: %s: cannot open\n", list);
            return 1;
        }
        char line[4096];
        while (fgets(line, sizeof(line), f)) {
            line[strcspn(line, "\r\n")] = '\0';
            if (line[0]) run_one(root, line, &t, verbose);
        }
        if (f != stdin) fclose(f);
    }
    printf("tests: %llu files, %llu failed to load; shouldValidate: %llu true, %llu false (not checked: the "
           "validator is not built yet)\n",
           (unsigned long long)t.tests, (unsigned long long)t.tests_failed_load,
           (unsigned long long)t.should_validate_true, (unsigned long long)t.should_validate_false);
    printf("%llu passed, %llu failed\n", (unsigned long long)t.passed, (unsigned long long)t.failed);
    return t.failed ? 1 : 0;
}

int md_cmd_cedar(int argc, char **argv)
{
    if (argc < 2) {
        md_cmd_help("cedar");
        return 1;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "authorize") == 0) return cmd_authorize(argc - 1, argv + 1);
    if (strcmp(sub, "run-tests") == 0) return cmd_run_tests(argc - 1, argv + 1);
    if (strcmp(sub, "check-parse") == 0) return cmd_check_parse(argc - 1, argv + 1);
    if (strcmp(sub, "help") == 0 || strcmp(sub, "--help") == 0) {
        md_cmd_help("cedar");
        return 0;
    }
    fprintf(stderr, "mandate: unknown command `cedar %s` (see `mandate help cedar`)\n", sub);
    return 1;
}
