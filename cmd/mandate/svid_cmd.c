/*
 * svid_cmd.c: `mandate svid fetch|bundle` — the agent's side of mandated's
 * Workload API (POST /v1/svid, GET /v1/bundle over the Unix socket), and
 * their help.
 *
 * The calling process is the one attested: no token is sent, mandated reads
 * who we are from the socket.  Output: `fetch` prints the JWT-SVID alone on
 * one line (for TOKEN=$(mandate svid fetch ...)), `bundle` the JWKS; with
 * --json the server's JSON, and errors as client.h's reporting does (one
 * JSON document on stdout whatever happens).  Exit codes: MD_EXIT_*.
 *
 * Invariants: nothing is sent before every option checked out; a 2xx answer
 * that is not what the contract says (no compact JWT in "svid", no "keys"
 * array) is reported as a server error, never printed as if it were one.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "cmd.h"

#define SVID_AUDIENCE_MAX 255 /* bytes of one --audience */
#define SVID_TTL_MAX 86400    /* seconds we ask for at most; mandated applies its own, lower, limits */

/* ---------------------------------------------------------------- help */

static const struct {
    const char *command;
    const char *text;
} svid_helps[] = {
    {"svid", "usage: mandate svid <fetch|bundle> [options]\n"
             "\n"
             "Talk to mandated's Workload API, the Unix socket where an agent process gets its\n"
             "identity.  No token: mandated identifies the calling process by the socket (its\n"
             "uid, gid and executable) and matches it against the registered agents.\n"
             "  fetch    get a JWT-SVID: a short-lived JWT naming this process's SPIFFE ID\n"
             "  bundle   print the keys that verify JWT-SVIDs (a JWKS)\n"
             "\n"
             "Options of every svid command:\n"
             "  --socket PATH  the Workload API socket (default $MANDATE_AGENT_SOCKET): an absolute\n"
             "                 path, or unix:/PATH or unix:///PATH\n"
             "  --json         print the server's JSON (errors as {\"error\",\"message\",\"status\"})\n"
             "\n"
             "Exit status: 0 done, 1 usage or input error, 3 the server refused (4xx;\n"
             "attestation_failed: this process is not a registered agent), 4 server error (5xx)\n"
             "or no connection.\n"},
    {"svid fetch",
     "usage: mandate svid fetch --audience AUD [--audience AUD]... [--ttl SECONDS] [--socket PATH] [--json]\n"
     "\n"
     "Fetches a JWT-SVID for this process and prints it alone on one line, so that\n"
     "  TOKEN=$(mandate svid fetch --audience https://tools.example.org)\n"
     "works.  --json prints the whole answer instead:\n"
     "{\"spiffe_id\", \"svid\", \"audience\", \"expires_at\", \"kid\"}.\n"
     "\n"
     "  --audience AUD  who the SVID is for (its aud claim); repeatable, at least one, each\n"
     "                  once; 1 to 255 bytes of UTF-8 without control characters\n"
     "  --ttl SECONDS   the lifetime asked for, 1 to 86400; mandated may give less\n"
     "  --socket PATH   the Workload API socket (default $MANDATE_AGENT_SOCKET)\n"
     "Exit status: 0 fetched, 1 usage error, 3 refused (attestation_failed: this process\n"
     "is not a registered agent), 4 server or connection error.\n"},
    {"svid bundle", "usage: mandate svid bundle [--socket PATH] [--json]\n"
                    "\n"
                    "Prints the JWKS whose keys verify mandated's JWT-SVIDs ({\"keys\": [...]}), as\n"
                    "the server sent it.  The output is JSON either way; --json changes how errors\n"
                    "are printed.\n"
                    "Exit status: 0, or 1/3/4 as for every svid command.\n"},
};

const char *md_cmd_svid_help(const char *command)
{
    for (size_t i = 0; i < sizeof(svid_helps) / sizeof(svid_helps[0]); i++)
        if (strcmp(svid_helps[i].command, command) == 0) return svid_helps[i].text;
    return NULL;
}

/* ---------------------------------------------------------------- options */

enum { OPT_SOCKET = 256, OPT_JSON, OPT_AUDIENCE, OPT_TTL };

static const struct option svid_opts[] = {
    {"socket", required_argument, NULL, OPT_SOCKET},
    {"json", no_argument, NULL, OPT_JSON},
    {"audience", required_argument, NULL, OPT_AUDIENCE},
    {"ttl", required_argument, NULL, OPT_TTL},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct svid_args {
    bool json;
    const char *socket; /* borrowed from argv; NULL: $MANDATE_AGENT_SOCKET */
    json_t *audience;   /* owned: the --audience values, in order */
    long long ttl;      /* 0: not given */
} svid_args_t;

/* Why an --audience value is refused; NULL when it is fine. */
static const char *audience_problem(const char *s)
{
    size_t n = strlen(s), i = 0;
    if (n == 0) return "--audience must not be empty";
    if (n > SVID_AUDIENCE_MAX) return "--audience is longer than 255 bytes";
    while (i < n) {
        int32_t cp = md_utf8_next(s, n, &i);
        if (cp < 0) return "--audience is not valid UTF-8";
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) return "--audience has a control character";
    }
    return NULL;
}

/* "120" → 120; -1 unless a decimal integer from 1 to SVID_TTL_MAX (no sign, no unit). */
static long long parse_ttl(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 9 || strspn(s, "0123456789") != n) return -1;
    long long v = atoll(s);
    return v >= 1 && v <= SVID_TTL_MAX ? v : -1;
}

/*
 * Parse the options after the subcommand name; fetch: --audience and --ttl
 * are allowed.  Returns -1 when ok, or an exit code (usage reported).
 */
static int parse_args(const char *command, int argc, char **argv, bool fetch, svid_args_t *a)
{
    char msg[512];
    const char *problem;
    int ch, idx = 0;

    memset(a, 0, sizeof(*a));
    /* --json is looked for first so that usage errors are reported in the right form */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--json") == 0) a->json = true;
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", svid_opts, &idx)) != -1) {
        if (ch == 'h') {
            fputs(md_cmd_svid_help(command), stdout);
            return MD_EXIT_OK;
        }
        if (ch == '?' || ch == ':') {
            snprintf(msg, sizeof(msg), "unknown option or missing value: %s", argv[optind - 1]);
            return md_client_usage(a->json, command, msg);
        }
        if (!fetch && (ch == OPT_AUDIENCE || ch == OPT_TTL)) {
            snprintf(msg, sizeof(msg), "`%s` does not take --%s", command, svid_opts[idx].name);
            return md_client_usage(a->json, command, msg);
        }
        switch (ch) {
        case OPT_SOCKET: a->socket = optarg; break;
        case OPT_JSON: a->json = true; break;
        case OPT_TTL:
            a->ttl = parse_ttl(optarg);
            if (a->ttl < 0)
                return md_client_usage(a->json, command,
                                       "--ttl must be a whole number of seconds from 1 to 86400");
            break;
        case OPT_AUDIENCE:
            if ((problem = audience_problem(optarg)) != NULL)
                return md_client_usage(a->json, command, problem);
            for (size_t i = 0; i < json_array_size(a->audience); i++)
                if (strcmp(json_string_value(json_array_get(a->audience, i)), optarg) == 0)
                    return md_client_usage(a->json, command, "an --audience is given twice");
            if (a->audience == NULL) a->audience = json_array();
            if (a->audience == NULL || json_array_append_new(a->audience, json_string(optarg)) != 0)
                return md_client_fail(a->json, MD_EXIT_USAGE, "usage", "out of memory");
            break;
        }
    }
    if (optind < argc) {
        snprintf(msg, sizeof(msg), "unexpected argument `%s`", argv[optind]);
        return md_client_usage(a->json, command, msg);
    }
    if (fetch && a->audience == NULL)
        return md_client_usage(a->json, command, "at least one --audience is required");
    return -1;
}

/* ---------------------------------------------------------------- requests */

/* One request to the Workload API; as md_client_call (reports, returns an MD_EXIT_* code). */
static int call(const svid_args_t *a, const char *method, const char *path, const json_t *body, json_t **doc)
{
    md_client_t c;
    md_err_t err = {0};

    *doc = NULL;
    if (md_client_init_unix(&c, a->socket, &err) != MD_OK)
        return md_client_fail(a->json, MD_EXIT_USAGE, "usage", err.msg);
    int code = md_client_call(&c, a->json, method, path, body, doc);
    md_client_free(&c);
    return code;
}

static void print_json(const json_t *doc)
{
    json_dumpf(doc, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
}

/* ---------------------------------------------------------------- commands */

static int cmd_fetch(int argc, char **argv)
{
    svid_args_t a;
    json_t *body = NULL, *doc = NULL;
    int rc = parse_args("svid fetch", argc, argv, true, &a);
    if (rc >= 0) goto out;
    body = json_pack("{s:O}", "audience", a.audience);
    if (body == NULL || (a.ttl > 0 && json_object_set_new(body, "ttl", json_integer(a.ttl)) != 0)) {
        rc = md_client_fail(a.json, MD_EXIT_USAGE, "usage", "out of memory");
        goto out;
    }
    rc = call(&a, "POST", "/v1/svid", body, &doc);
    if (rc != MD_EXIT_OK) goto out;
    const char *svid = json_string_value(json_object_get(doc, "svid"));
    if (!json_is_object(doc) || !md_client_is_jws(svid)) {
        rc = md_client_fail(a.json, MD_EXIT_SERVER, "bad_response",
                            "the server's answer holds no JWT-SVID (a compact JWT in \"svid\")");
        goto out;
    }
    if (a.json)
        print_json(doc);
    else
        printf("%s\n", svid);
out:
    json_decref(doc);
    json_decref(body);
    json_decref(a.audience);
    return rc;
}

static int cmd_bundle(int argc, char **argv)
{
    svid_args_t a;
    json_t *doc = NULL;
    int rc = parse_args("svid bundle", argc, argv, false, &a);
    if (rc >= 0) goto out;
    rc = call(&a, "GET", "/v1/bundle", NULL, &doc);
    if (rc != MD_EXIT_OK) goto out;
    if (!json_is_object(doc) || !json_is_array(json_object_get(doc, "keys"))) {
        rc = md_client_fail(a.json, MD_EXIT_SERVER, "bad_response",
                            "the server's answer is not a JWKS (no \"keys\" array)");
        goto out;
    }
    print_json(doc);
out:
    json_decref(doc);
    json_decref(a.audience);
    return rc;
}

int md_cmd_svid(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        fputs(md_cmd_svid_help("svid"), argc < 2 ? stderr : stdout);
        return argc < 2 ? MD_EXIT_USAGE : MD_EXIT_OK;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "fetch") == 0) return cmd_fetch(argc - 1, argv + 1);
    if (strcmp(sub, "bundle") == 0) return cmd_bundle(argc - 1, argv + 1);
    fprintf(stderr, "mandate: unknown command `svid %s` (see `mandate help svid`)\n", sub);
    return MD_EXIT_USAGE;
}
