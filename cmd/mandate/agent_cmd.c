/*
 * agent_cmd.c: `mandate agent register|list|show|update|remove` — the agent
 * registry through mandated's admin API (/v1/admin/agents), and their help.
 *
 * Output: human-readable on stdout by default; with --json exactly one JSON
 * document on stdout whatever happens: the server's answer, or an error
 * object {"error": CODE, "message": TEXT, "status": HTTP status or 0}.
 * Without --json errors go to stderr.  Exit codes are client.h's MD_EXIT_*.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "cmd.h"

/* ---------------------------------------------------------------- help */

static const struct {
    const char *command;
    const char *text;
} agent_helps[] = {
    {"agent", "usage: mandate agent <register|list|show|update|remove|quarantine> [options]\n"
              "\n"
              "Manage agent registration entries in mandated's registry (admin token required).\n"
              "  register   add an agent: SPIFFE ID, selectors, owner, environment, scope ceiling\n"
              "  list       every registered agent\n"
              "  show ID    one agent\n"
              "  update ID  change an agent's selectors, owner, env, labels, scope, TTL or state\n"
              "  remove ID  delete an agent\n"
              "  quarantine ID  stop an agent and revoke every task it holds\n"
              "ID is the short id mandated assigned (ag_ and 16 hex digits) or the SPIFFE ID.\n"
              "\n"
              "Options of every agent command:\n"
              "  --addr URL         the daemon (default $MANDATE_ADDR, else http://127.0.0.1:7744);\n"
              "                     https://... verifies the server's certificate\n"
              "  --token-file FILE  the admin token (default $MANDATE_TOKEN_FILE); refused when\n"
              "                     group or others may read it\n"
              "  --cacert FILE      PEM CA certificates for https (default $MANDATE_CACERT, else the\n"
              "                     system's)\n"
              "  --json             print the server's JSON (errors as {\"error\",\"message\",\"status\"})\n"
              "\n"
              "Exit status: 0 done, 1 usage or input error, 3 the server refused (4xx),\n"
              "4 server error (5xx) or no connection.\n"},
    {"agent register",
     "usage: mandate agent register --spiffe-id ID --owner PERSON --env ENV\n"
     "                              [--selector SEL]... [--max-scope S1,S2]... [--label KEY=VALUE]...\n"
     "                              [--ttl DURATION] [--state active|quarantined] [common options]\n"
     "\n"
     "Registers an agent.  For example:\n"
     "  mandate agent register --spiffe-id spiffe://example.org/agent/triage \\\n"
     "      --selector unix:uid:1000 --selector unix:sha256:<hex> \\\n"
     "      --owner alice@example.org --env prod --max-scope tickets:read,tickets:write\n"
     "\n"
     "  --spiffe-id ID   the agent's SPIFFE ID (spiffe://trust-domain/path)\n"
     "  --selector SEL   what an attested process must be, at most one of each type:\n"
     "                   unix:uid:N, unix:gid:N, unix:user:NAME, unix:path:/abs/exe,\n"
     "                   unix:sha256:<64 hex digits of the executable>\n"
     "  --owner PERSON   who is accountable for it (e.g. an email address)\n"
     "  --env ENV        its environment ([A-Za-z0-9._-], e.g. prod)\n"
     "  --max-scope S    the widest scope it may ever hold, comma-separated and/or repeated;\n"
     "                   each scope [a-z0-9_.:-]+\n"
     "  --label K=V      a label (repeatable)\n"
     "  --ttl DURATION   lifetime of its SVIDs: seconds or 30s, 5m, 1h (default 5m)\n"
     "  --state STATE    active (default) or quarantined\n"
     "Prints the new agent (its id first).\n"
     "Exit status: 0 registered, 1 usage error, 3 refused (invalid, or the SPIFFE ID or the\n"
     "selectors clash with another agent: 409), 4 server or connection error.\n"},
    {"agent list", "usage: mandate agent list [common options]\n"
                   "\n"
                   "Lists every registered agent, ordered by SPIFFE ID: id, SPIFFE ID, owner,\n"
                   "environment, state and scope ceiling.  --json prints {\"agents\": [...]}.\n"
                   "Exit status: 0, or 1/3/4 as for every agent command.\n"},
    {"agent show", "usage: mandate agent show ID [common options]\n"
                   "\n"
                   "Shows one agent.  ID: its short id (ag_...) or its SPIFFE ID.\n"
                   "Exit status: 0, 3 when there is no such agent (404), 1/4 as usual.\n"},
    {"agent update",
     "usage: mandate agent update ID [--selector SEL]... [--no-selectors] [--owner PERSON] [--env ENV]\n"
     "                            [--label K=V]... [--no-labels] [--max-scope S]... [--no-max-scope]\n"
     "                            [--ttl DURATION] [--state active|quarantined] [common options]\n"
     "\n"
     "Changes what the options name and nothing else.  A list option replaces the whole\n"
     "list: --selector and --label give the complete new selectors or labels, --max-scope\n"
     "the complete new ceiling; --no-selectors, --no-labels and --no-max-scope empty them.\n"
     "The SPIFFE ID never changes (register a new agent instead).  --state quarantined\n"
     "stops the agent from being issued anything.\n"
     "Exit status: 0 updated, 1 usage error (or no change given), 3 refused or not found,\n"
     "4 server or connection error.\n"},
    {"agent remove", "usage: mandate agent remove ID [common options]\n"
                     "\n"
                     "Deletes an agent's registration.  Prints what was removed.\n"
                     "Exit status: 0 removed, 3 when there is no such agent (404), 1/4 as usual.\n"},
};

const char *md_cmd_agent_help(const char *command)
{
    for (size_t i = 0; i < sizeof(agent_helps) / sizeof(agent_helps[0]); i++)
        if (strcmp(agent_helps[i].command, command) == 0) return agent_helps[i].text;
    return NULL;
}

/* ---------------------------------------------------------------- output */

typedef struct agent_ctx {
    bool json;
    md_client_opts_t copts;
} agent_ctx_t;

/* Report an error found before or without an answer; returns the exit code. */
static int fail(const agent_ctx_t *ctx, int code, const char *kind, const char *msg)
{
    return md_client_fail(ctx->json, code, kind, msg);
}

static int usage(const agent_ctx_t *ctx, const char *command, const char *msg)
{
    return md_client_usage(ctx->json, command, msg);
}

static void print_time(const char *label, json_t *v)
{
    char buf[32] = "-";
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        time_t t = (time_t)json_integer_value(v);
        struct tm tm;
        if (gmtime_r(&t, &tm) != NULL) strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    printf("%-11s%s\n", label, buf);
}

static const char *str_or(json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}

/* The scope ceiling as "a, b, c" (into b). */
static void join_strings(json_t *arr, const char *sep, md_buf_t *b)
{
    size_t i;
    json_t *v;
    md_buf_reset(b);
    json_array_foreach(arr, i, v)
    {
        if (i) md_buf_adds(b, sep);
        md_buf_adds(b, json_string_value(v) ? json_string_value(v) : "?");
    }
    if (b->p == NULL) md_buf_adds(b, "");
}

static void print_agent(json_t *a)
{
    md_buf_t b;
    size_t i;
    json_t *v;
    const char *key;

    md_buf_init(&b);
    printf("%-11s%s\n", "id:", str_or(a, "id", "?"));
    printf("%-11s%s\n", "spiffe_id:", str_or(a, "spiffe_id", "?"));
    printf("%-11s%s\n", "state:", str_or(a, "state", "?"));
    printf("%-11s%s\n", "owner:", str_or(a, "owner", "?"));
    printf("%-11s%s\n", "env:", str_or(a, "env", "?"));
    json_t *sels = json_object_get(a, "selectors");
    if (json_array_size(sels) == 0) printf("%-11s%s\n", "selectors:", "(none: never matched by attestation)");
    json_array_foreach(sels, i, v) printf("%-11s%s\n", i == 0 ? "selectors:" : "", json_string_value(v));
    json_t *labels = json_object_get(a, "labels");
    if (json_object_size(labels) == 0) printf("%-11s%s\n", "labels:", "-");
    i = 0;
    json_object_foreach(labels, key, v)
    {
        printf("%-11s%s=%s\n", i++ == 0 ? "labels:" : "", key,
               json_string_value(v) ? json_string_value(v) : "");
    }
    join_strings(json_object_get(a, "scope_ceiling"), ", ", &b);
    printf("%-11s%s\n", "max_scope:", b.n ? b.p : "(none)");
    json_t *ttl = json_object_get(a, "svid_ttl");
    printf("%-11s%llds\n", "svid_ttl:", json_is_integer(ttl) ? (long long)json_integer_value(ttl) : 0LL);
    print_time("created:", json_object_get(a, "created_at"));
    print_time("updated:", json_object_get(a, "updated_at"));
    md_buf_free(&b);
}

static void print_table(json_t *agents)
{
    static const char *const heads[] = {"ID", "SPIFFE ID", "OWNER", "ENV", "STATE", "MAX SCOPE"};
    size_t n = json_array_size(agents), w[6];
    md_buf_t b;

    if (n == 0) {
        printf("no agents registered\n");
        return;
    }
    md_buf_init(&b);
    for (int c = 0; c < 6; c++)
        w[c] = strlen(heads[c]);
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(agents, i);
        const char *cols[5] = {str_or(a, "id", "?"), str_or(a, "spiffe_id", "?"), str_or(a, "owner", "?"),
                               str_or(a, "env", "?"), str_or(a, "state", "?")};
        for (int c = 0; c < 5; c++)
            if (strlen(cols[c]) > w[c]) w[c] = strlen(cols[c]);
    }
    printf("%-*s  %-*s  %-*s  %-*s  %-*s  %s\n", (int)w[0], heads[0], (int)w[1], heads[1], (int)w[2],
           heads[2], (int)w[3], heads[3], (int)w[4], heads[4], heads[5]);
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(agents, i);
        join_strings(json_object_get(a, "scope_ceiling"), ",", &b);
        printf("%-*s  %-*s  %-*s  %-*s  %-*s  %s\n", (int)w[0], str_or(a, "id", "?"), (int)w[1],
               str_or(a, "spiffe_id", "?"), (int)w[2], str_or(a, "owner", "?"), (int)w[3],
               str_or(a, "env", "?"), (int)w[4], str_or(a, "state", "?"), b.n ? b.p : "-");
    }
    md_buf_free(&b);
}

/* ---------------------------------------------------------------- requests */

/*
 * Send one request; on success *doc is the answer's JSON (NULL for an empty
 * body).  Returns MD_EXIT_OK, or the exit code after reporting the error.
 */
static int call(const agent_ctx_t *ctx, const char *method, const char *path, json_t *body, json_t **doc)
{
    md_client_t c;
    md_err_t err = {0};

    *doc = NULL;
    if (md_client_init(&c, &ctx->copts, &err) != MD_OK) return fail(ctx, MD_EXIT_USAGE, "usage", err.msg);
    int code = md_client_call(&c, ctx->json, method, path, body, doc);
    md_client_free(&c);
    return code;
}

/* "/v1/admin/agents/<percent-encoded id>" */
static const char *agent_path(md_buf_t *b, const char *id)
{
    md_buf_reset(b);
    md_buf_adds(b, "/v1/admin/agents/");
    md_client_path_segment(b, id);
    return b->oom ? NULL : b->p;
}

/* ---------------------------------------------------------------- options */

enum {
    OPT_ADDR = 256,
    OPT_TOKEN,
    OPT_CACERT,
    OPT_JSON,
    OPT_SPIFFE,
    OPT_SELECTOR,
    OPT_OWNER,
    OPT_ENV,
    OPT_LABEL,
    OPT_SCOPE,
    OPT_TTL,
    OPT_STATE,
    OPT_NO_SELECTORS,
    OPT_NO_LABELS,
    OPT_NO_SCOPE,
};

static const struct option agent_opts[] = {
    {"addr", required_argument, NULL, OPT_ADDR},
    {"token-file", required_argument, NULL, OPT_TOKEN},
    {"cacert", required_argument, NULL, OPT_CACERT},
    {"json", no_argument, NULL, OPT_JSON},
    {"spiffe-id", required_argument, NULL, OPT_SPIFFE},
    {"selector", required_argument, NULL, OPT_SELECTOR},
    {"owner", required_argument, NULL, OPT_OWNER},
    {"env", required_argument, NULL, OPT_ENV},
    {"label", required_argument, NULL, OPT_LABEL},
    {"max-scope", required_argument, NULL, OPT_SCOPE},
    {"ttl", required_argument, NULL, OPT_TTL},
    {"state", required_argument, NULL, OPT_STATE},
    {"no-selectors", no_argument, NULL, OPT_NO_SELECTORS},
    {"no-labels", no_argument, NULL, OPT_NO_LABELS},
    {"no-max-scope", no_argument, NULL, OPT_NO_SCOPE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* What the options said, as JSON members to send. */
typedef struct agent_args {
    const char *spiffe_id, *owner, *env, *state;
    json_t *selectors, *labels, *scopes; /* owned; NULL: not given */
    long long ttl;                       /* -1: not given */
    bool no_selectors, no_labels, no_scope;
    const char *positional; /* the ID of show/update/remove */
} agent_args_t;

static void args_free(agent_args_t *a)
{
    json_decref(a->selectors);
    json_decref(a->labels);
    json_decref(a->scopes);
}

/*
 * Parse the options after the subcommand name.  allowed: the OPT_ bits this
 * subcommand takes; npos: 0 or 1 positional.  Returns -1 when ok, or an exit code.
 */
static int parse_args(agent_ctx_t *ctx, const char *command, int argc, char **argv, unsigned allowed,
                      int npos, agent_args_t *a)
{
    int ch;
    char msg[512];

    memset(a, 0, sizeof(*a));
    a->ttl = -1;
    /* --json is looked for first so that usage errors are reported in the right form */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--json") == 0) ctx->json = true;
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", agent_opts, NULL)) != -1) {
        if (ch == 'h') {
            fputs(md_cmd_agent_help(command), stdout);
            return MD_EXIT_OK;
        }
        if (ch == '?' || ch == ':') {
            snprintf(msg, sizeof(msg), "unknown option or missing value: %s", argv[optind - 1]);
            return usage(ctx, command, msg);
        }
        if (ch >= OPT_SPIFFE && !(allowed & (1u << (ch - 256)))) {
            snprintf(msg, sizeof(msg), "`%s` does not take %s", command, argv[optind - 1]);
            return usage(ctx, command, msg);
        }
        switch (ch) {
        case OPT_ADDR: ctx->copts.addr = optarg; break;
        case OPT_TOKEN: ctx->copts.token_file = optarg; break;
        case OPT_CACERT: ctx->copts.cacert = optarg; break;
        case OPT_JSON: ctx->json = true; break;
        case OPT_SPIFFE: a->spiffe_id = optarg; break;
        case OPT_OWNER: a->owner = optarg; break;
        case OPT_ENV: a->env = optarg; break;
        case OPT_STATE:
            if (strcmp(optarg, "active") != 0 && strcmp(optarg, "quarantined") != 0)
                return usage(ctx, command, "--state must be active or quarantined");
            a->state = optarg;
            break;
        case OPT_TTL:
            a->ttl = md_client_parse_duration(optarg);
            if (a->ttl <= 0)
                return usage(ctx, command, "--ttl must be a duration such as 300, 90s, 5m or 1h");
            break;
        case OPT_SELECTOR:
            if (a->selectors == NULL) a->selectors = json_array();
            if (a->selectors == NULL || json_array_append_new(a->selectors, json_string(optarg)) != 0)
                return usage(ctx, command, "out of memory");
            break;
        case OPT_LABEL: {
            const char *eq = strchr(optarg, '=');
            if (eq == NULL || eq == optarg) return usage(ctx, command, "--label must be KEY=VALUE");
            if (a->labels == NULL) a->labels = json_object();
            char key[128];
            size_t kl = (size_t)(eq - optarg);
            if (kl >= sizeof(key)) return usage(ctx, command, "--label: the key is too long");
            memcpy(key, optarg, kl);
            key[kl] = '\0';
            if (a->labels == NULL) return usage(ctx, command, "out of memory");
            if (json_object_get(a->labels, key) != NULL) {
                snprintf(msg, sizeof(msg), "--label %s is given twice", key);
                return usage(ctx, command, msg);
            }
            if (json_object_set_new(a->labels, key, json_string(eq + 1)) != 0)
                return usage(ctx, command, "--label: the value is not valid UTF-8");
            break;
        }
        case OPT_SCOPE: {
            if (a->scopes == NULL) a->scopes = json_array();
            if (a->scopes == NULL) return usage(ctx, command, "out of memory");
            const char *p = optarg;
            for (;;) {
                size_t n = strcspn(p, ",");
                if (n == 0) return usage(ctx, command, "--max-scope: an empty scope (write S1,S2)");
                if (json_array_append_new(a->scopes, json_stringn(p, n)) != 0)
                    return usage(ctx, command, "--max-scope: not valid UTF-8");
                if (p[n] == '\0') break;
                p += n + 1;
            }
            break;
        }
        case OPT_NO_SELECTORS: a->no_selectors = true; break;
        case OPT_NO_LABELS: a->no_labels = true; break;
        case OPT_NO_SCOPE: a->no_scope = true; break;
        }
    }
    int left = argc - optind;
    if (left > npos) {
        snprintf(msg, sizeof(msg), "unexpected argument `%s`", argv[optind + npos]);
        return usage(ctx, command, msg);
    }
    if (left < npos) return usage(ctx, command, "name the agent: its id (ag_...) or its SPIFFE ID");
    if (npos == 1) a->positional = argv[optind];
    if ((a->selectors && a->no_selectors) || (a->labels && a->no_labels) || (a->scopes && a->no_scope))
        return usage(ctx, command, "a list option and its --no- form contradict each other");
    return -1;
}

#define BIT(o) (1u << ((o)-256))
#define ENTRY_OPTS                                                                                           \
    (BIT(OPT_SELECTOR) | BIT(OPT_OWNER) | BIT(OPT_ENV) | BIT(OPT_LABEL) | BIT(OPT_SCOPE) | BIT(OPT_TTL) |    \
     BIT(OPT_STATE))

/* Put the entry members the options gave into body. */
static int fill_body(json_t *body, agent_args_t *a)
{
    int bad = 0;
    if (a->spiffe_id) bad |= json_object_set_new(body, "spiffe_id", json_string(a->spiffe_id));
    if (a->selectors) bad |= json_object_set(body, "selectors", a->selectors);
    if (a->no_selectors) bad |= json_object_set_new(body, "selectors", json_array());
    if (a->owner) bad |= json_object_set_new(body, "owner", json_string(a->owner));
    if (a->env) bad |= json_object_set_new(body, "env", json_string(a->env));
    if (a->labels) bad |= json_object_set(body, "labels", a->labels);
    if (a->no_labels) bad |= json_object_set_new(body, "labels", json_object());
    if (a->scopes) bad |= json_object_set(body, "scope_ceiling", a->scopes);
    if (a->no_scope) bad |= json_object_set_new(body, "scope_ceiling", json_array());
    if (a->ttl > 0) bad |= json_object_set_new(body, "svid_ttl", json_integer(a->ttl));
    if (a->state) bad |= json_object_set_new(body, "state", json_string(a->state));
    return bad ? -1 : 0;
}

static void print_json(json_t *doc)
{
    json_dumpf(doc, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
}

/* ---------------------------------------------------------------- commands */

static int cmd_register(agent_ctx_t *ctx, int argc, char **argv)
{
    agent_args_t a;
    json_t *body = NULL, *doc = NULL;
    int rc = parse_args(ctx, "agent register", argc, argv, ENTRY_OPTS | BIT(OPT_SPIFFE), 0, &a);
    if (rc >= 0) goto out;
    if (a.spiffe_id == NULL || a.owner == NULL || a.env == NULL) {
        rc = usage(ctx, "agent register", "--spiffe-id, --owner and --env are required");
        goto out;
    }
    body = json_object();
    if (body == NULL || fill_body(body, &a) != 0) {
        rc = fail(ctx, MD_EXIT_USAGE, "usage", "out of memory or invalid UTF-8 in an option");
        goto out;
    }
    if (json_object_get(body, "selectors") == NULL) json_object_set_new(body, "selectors", json_array());
    if (json_object_get(body, "scope_ceiling") == NULL)
        json_object_set_new(body, "scope_ceiling", json_array());
    ctx->copts.need_token = true;
    rc = call(ctx, "POST", "/v1/admin/agents", body, &doc);
    if (rc != MD_EXIT_OK) goto out;
    if (ctx->json) {
        print_json(doc);
    } else {
        printf("registered agent %s (%s)\n", str_or(doc, "id", "?"), str_or(doc, "spiffe_id", "?"));
        print_agent(doc);
    }
out:
    json_decref(doc);
    json_decref(body);
    args_free(&a);
    return rc;
}

static int cmd_list(agent_ctx_t *ctx, int argc, char **argv)
{
    agent_args_t a;
    json_t *doc = NULL;
    int rc = parse_args(ctx, "agent list", argc, argv, 0, 0, &a);
    if (rc >= 0) goto out;
    ctx->copts.need_token = true;
    rc = call(ctx, "GET", "/v1/admin/agents", NULL, &doc);
    if (rc != MD_EXIT_OK) goto out;
    if (ctx->json)
        print_json(doc);
    else
        print_table(json_object_get(doc, "agents"));
out:
    json_decref(doc);
    args_free(&a);
    return rc;
}

/* show and remove: one agent by ID. */
static int cmd_one(agent_ctx_t *ctx, const char *command, const char *method, int argc, char **argv)
{
    agent_args_t a;
    json_t *doc = NULL;
    md_buf_t path;
    md_buf_init(&path);
    int rc = parse_args(ctx, command, argc, argv, 0, 1, &a);
    if (rc >= 0) goto out;
    ctx->copts.need_token = true;
    const char *p = agent_path(&path, a.positional);
    if (p == NULL) {
        rc = fail(ctx, MD_EXIT_USAGE, "usage", "out of memory");
        goto out;
    }
    rc = call(ctx, method, p, NULL, &doc);
    if (rc != MD_EXIT_OK) goto out;
    if (ctx->json)
        print_json(doc);
    else if (strcmp(method, "DELETE") == 0)
        printf("removed agent %s (%s)\n", str_or(doc, "id", "?"), str_or(doc, "spiffe_id", "?"));
    else
        print_agent(doc);
out:
    json_decref(doc);
    md_buf_free(&path);
    args_free(&a);
    return rc;
}

static int cmd_update(agent_ctx_t *ctx, int argc, char **argv)
{
    agent_args_t a;
    json_t *body = NULL, *doc = NULL;
    md_buf_t path;
    md_buf_init(&path);
    int rc = parse_args(ctx, "agent update", argc, argv,
                        ENTRY_OPTS | BIT(OPT_NO_SELECTORS) | BIT(OPT_NO_LABELS) | BIT(OPT_NO_SCOPE), 1, &a);
    if (rc >= 0) goto out;
    body = json_object();
    if (body == NULL || fill_body(body, &a) != 0) {
        rc = fail(ctx, MD_EXIT_USAGE, "usage", "out of memory or invalid UTF-8 in an option");
        goto out;
    }
    if (json_object_size(body) == 0) {
        rc = usage(ctx, "agent update", "nothing to change: give at least one of the update options");
        goto out;
    }
    ctx->copts.need_token = true;
    const char *p = agent_path(&path, a.positional);
    if (p == NULL) {
        rc = fail(ctx, MD_EXIT_USAGE, "usage", "out of memory");
        goto out;
    }
    rc = call(ctx, "PATCH", p, body, &doc);
    if (rc != MD_EXIT_OK) goto out;
    if (ctx->json) {
        print_json(doc);
    } else {
        printf("updated agent %s (%s)\n", str_or(doc, "id", "?"), str_or(doc, "spiffe_id", "?"));
        print_agent(doc);
    }
out:
    json_decref(doc);
    json_decref(body);
    md_buf_free(&path);
    args_free(&a);
    return rc;
}

int md_cmd_agent(int argc, char **argv)
{
    agent_ctx_t ctx;
    memset(&ctx, 0, sizeof(ctx));
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        fputs(md_cmd_agent_help("agent"), argc < 2 ? stderr : stdout);
        return argc < 2 ? MD_EXIT_USAGE : MD_EXIT_OK;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "register") == 0) return cmd_register(&ctx, argc - 1, argv + 1);
    if (strcmp(sub, "list") == 0) return cmd_list(&ctx, argc - 1, argv + 1);
    if (strcmp(sub, "show") == 0) return cmd_one(&ctx, "agent show", "GET", argc - 1, argv + 1);
    if (strcmp(sub, "update") == 0) return cmd_update(&ctx, argc - 1, argv + 1);
    if (strcmp(sub, "remove") == 0) return cmd_one(&ctx, "agent remove", "DELETE", argc - 1, argv + 1);
    if (strcmp(sub, "quarantine") == 0) return md_cmd_agent_quarantine(argc - 1, argv + 1);
    fprintf(stderr, "mandate: unknown command `agent %s` (see `mandate help agent`)\n", sub);
    return MD_EXIT_USAGE;
}
