/*
 * task_cmd.c: `mandate task start|end|delegate|revoke|show|list|tree|introspect`
 * and `mandate agent quarantine` — tasks and their mandates through mandated's
 * API (docs/CONFIG.md, "Tasks and mandates"), and their help.
 *
 * Two kinds of caller.  An agent (start, end, delegate; introspect too) proves
 * who it is with a JWT-SVID whose audience is mandated's issuer: one given
 * (--svid, else $MANDATE_SVID; TOKEN, @FILE or @-), or one fetched first from
 * the Workload API socket (--socket, else $MANDATE_AGENT_SOCKET) for the
 * issuer named by the RFC 8414 metadata at the daemon's address.  An
 * administrator (revoke, show, list, tree, introspect, agent quarantine)
 * sends the admin token (--token-file, else $MANDATE_TOKEN_FILE).  Agent
 * commands never read the admin token.
 *
 * Output: human-readable on stdout by default; start and delegate print
 * "task ID", "mandate JWT", "expires TIME" and "scope S..." lines, or with
 * --mandate-only the mandate alone (M=$(mandate task start ...)).  With --json
 * exactly one JSON document on stdout whatever happens: the server's answer,
 * or client.h's error object.  Exit codes are client.h's MD_EXIT_*, plus 2
 * from introspect for a token that is not an active mandate.
 *
 * Invariants: every option and every token is checked before anything is
 * sent (exit 1, no connection); a token goes into a header or a form only
 * once it was found to be a compact JWS (so it cannot smuggle a header or a
 * form field); buffers that held a token are wiped before they are freed; a
 * 2xx answer that is not what the contract says is reported as a server error
 * (exit 4), never printed as if it were one; text from the server reaches the
 * terminal with its control characters replaced.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "client.h"
#include "cmd.h"
#include "identity/spiffe.h"
#include "task/scope.h"

#define TASK_ID_LEN 32             /* a task id: 32 lowercase hex digits */
#define TASK_TEXT_MAX 512          /* bytes of an --intent or a --reason (mandated's limits) */
#define TASK_AUDIENCE_MAX 255      /* bytes of an --audience */
#define TASK_AGENT_KEY_MAX 2048    /* bytes of an agent's id or SPIFFE ID */
#define TASK_TOKEN_MAX (64 * 1024) /* bytes of a token given on the command line or in a file */
#define TASK_LIMIT_MAX 100000      /* the largest --limit mandated takes */
#define TASK_TREE_DEPTH_MAX 1024   /* deeper nesting in an answer is not drawn */
#define TASK_EXIT_INACTIVE 2       /* introspect: not an active mandate */
#define FORM_CT "application/x-www-form-urlencoded"
#define GRANT_TOKEN_EXCHANGE "urn:ietf:params:oauth:grant-type:token-exchange"
#define TOKEN_TYPE_ACCESS "urn:ietf:params:oauth:token-type:access_token"
#define TOKEN_TYPE_JWT "urn:ietf:params:oauth:token-type:jwt"
#define SVID_ENV "MANDATE_SVID"

/* ---------------------------------------------------------------- help */

static const struct {
    const char *command;
    const char *text;
} task_helps[] = {
    {"task", "usage: mandate task <start|end|delegate|introspect|revoke|show|list|tree> [options]\n"
             "\n"
             "Tasks and their mandates.  A mandate is the short-lived token (a JWT) an agent holds for\n"
             "one task and presents to the one service it is for.\n"
             "  start       start a task as this agent and get its mandate\n"
             "  end ID      end a task this agent holds, and everything delegated from it\n"
             "  delegate    give a sub-agent a mandate for part of a task (RFC 8693 token exchange)\n"
             "  introspect  is a mandate active, and what does it say (RFC 7662)\n"
             "  revoke ID   revoke a task and its delegations (admin)\n"
             "  show ID     one task (admin)\n"
             "  list        tasks, newest first (admin)\n"
             "  tree ID     the delegation tree a task belongs to, from that task down (admin)\n"
             "ID is a task id: 32 lowercase hex digits.  See also `mandate agent quarantine`.\n"
             "\n"
             "As an agent (start, end, delegate, introspect) a command authenticates with a JWT-SVID\n"
             "whose audience is mandated's issuer:\n"
             "  --svid TOKEN|@FILE  the SVID, or a file holding it on its first line (@- reads standard\n"
             "                      input); default $MANDATE_SVID, which takes the same forms\n"
             "  --socket PATH       else fetch one from the Workload API socket (default\n"
             "                      $MANDATE_AGENT_SOCKET), for the issuer that the daemon's\n"
             "                      /.well-known/oauth-authorization-server names\n"
             "As an administrator (revoke, show, list, tree, introspect) it sends the admin token:\n"
             "  --token-file FILE   default $MANDATE_TOKEN_FILE; refused when group or others may read it\n"
             "Options of every task command:\n"
             "  --addr URL          the daemon (default $MANDATE_ADDR, else http://127.0.0.1:7744)\n"
             "  --cacert FILE       PEM CA certificates for https (default $MANDATE_CACERT)\n"
             "  --json              print the server's JSON (errors as {\"error\",\"message\",\"status\"})\n"
             "A token FILE (@FILE) is refused when group or others may read it, as --token-file is.\n"
             "\n"
             "Exit status: 0 done, 1 usage or input error (nothing sent), 2 introspect: not an active\n"
             "mandate, 3 the server refused (4xx), 4 server error (5xx) or no connection.\n"},
    {"task start",
     "usage: mandate task start --intent TEXT --scope S[,S2...] [--scope S3]... --audience SVC\n"
     "                          [--ttl DURATION] [--on-behalf-of TOKEN|@FILE] [--mandate-only]\n"
     "                          [--svid TOKEN|@FILE | --socket PATH] [--addr URL] [--json]\n"
     "\n"
     "Starts a task as the agent the SVID names and prints its mandate:\n"
     "  task 5f0c...            the task id\n"
     "  mandate eyJ...          the mandate (a JWT for Authorization: Bearer)\n"
     "  expires 2026-11-28T13:15:00Z\n"
     "  scope tickets:read tickets:write\n"
     "For example:\n"
     "  M=$(mandate task start --intent 'answer ticket 42' --scope tickets:read,tickets:write \\\n"
     "      --audience tickets-api --ttl 10m --mandate-only)\n"
     "\n"
     "  --intent TEXT      what the task is for, 1 to 512 bytes without control characters\n"
     "  --scope S          the scopes asked for, comma- or space-separated and/or repeated, each\n"
     "                     once; within the agent's scope ceiling\n"
     "  --audience SVC     the one service the mandate is for (1 to 255 bytes)\n"
     "  --ttl DURATION     its lifetime: seconds or 90s, 5m, 1h (mandated caps it: tasks.max_ttl)\n"
     "  --on-behalf-of TOKEN|@FILE  the user's ID token, when the task is done for a user\n"
     "  --mandate-only     print the mandate alone\n"
     "Exit status: 0 started, 1 usage error, 3 refused (invalid_scope: beyond the agent's\n"
     "ceiling, access_denied: the start_task policy), 4 server or connection error.\n"},
    {"task end", "usage: mandate task end ID [--svid TOKEN|@FILE | --socket PATH] [--addr URL] [--json]\n"
                 "\n"
                 "Ends a task the calling agent holds, and every task delegated from it.  Prints\n"
                 "how many tasks changed.\n"
                 "Exit status: 0 ended, 1 usage error, 3 refused (403: another agent's task, 404: no\n"
                 "such task, 409: not active), 4 server or connection error.\n"},
    {"task delegate",
     "usage: mandate task delegate --mandate TOKEN|@FILE --to-svid TOKEN|@FILE [--scope S]...\n"
     "                             [--ttl DURATION] [--audience SVC] [--mandate-only]\n"
     "                             [--svid TOKEN|@FILE | --socket PATH] [--addr URL] [--json]\n"
     "\n"
     "Delegates part of a task to a sub-agent: an RFC 8693 token exchange at POST /oauth/token,\n"
     "authenticated with the SVID of the agent holding --mandate.  Prints the child task's\n"
     "id, mandate, expiry and scope as `task start` does; the sub-agent uses that mandate.\n"
     "\n"
     "  --mandate TOKEN|@FILE  the parent mandate (the subject token)\n"
     "  --to-svid TOKEN|@FILE  the sub-agent's JWT-SVID for mandated's issuer (the actor token)\n"
     "  --scope S              the delegated scopes (default: the parent's within the sub-agent's\n"
     "                         ceiling); never wider than either\n"
     "  --ttl DURATION         the child's lifetime, within what is left of the parent's\n"
     "  --audience SVC         must be the parent's (the default)\n"
     "  --mandate-only         print the child mandate alone\n"
     "Exit status: 0 delegated, 1 usage error, 3 refused (HTTP 400 invalid_scope, invalid_target,\n"
     "invalid_grant or invalid_request, with the server's description), 4 server or connection\n"
     "error.\n"},
    {"task introspect",
     "usage: mandate task introspect TOKEN|@FILE [--svid TOKEN|@FILE | --socket PATH |\n"
     "                               --token-file FILE] [--addr URL] [--json]\n"
     "\n"
     "Asks mandated whether a mandate is active (RFC 7662, POST /oauth/introspect) and prints\n"
     "`active` and its claims (task, holder, subject, audience, scope, times, the actor chain\n"
     "of a delegated mandate, the user), or `inactive`: a bad signature, expired, ended,\n"
     "revoked or unknown.  As an agent (--svid, --socket) or an administrator (--token-file);\n"
     "without either option: $MANDATE_SVID, else $MANDATE_TOKEN_FILE, else an SVID fetched\n"
     "from $MANDATE_AGENT_SOCKET.\n"
     "Exit status: 0 active, 2 inactive, 1 usage error, 3 refused (the caller is not\n"
     "authenticated), 4 server or connection error.\n"},
    {"task revoke",
     "usage: mandate task revoke ID [--reason TEXT] [--token-file FILE] [--addr URL] [--json]\n"
     "\n"
     "Revokes a task and every task delegated from it (admin).  Mandates of revoked\n"
     "tasks stop working at once.  --reason (1 to 512 bytes, no control characters)\n"
     "is recorded with the task.  Prints how many tasks changed.\n"
     "Exit status: 0 revoked, 1 usage error, 3 refused (404: no such task),\n"
     "4 server or connection error.\n"},
    {"task show", "usage: mandate task show ID [--token-file FILE] [--addr URL] [--json]\n"
                  "\n"
                  "Shows one task (admin): state, intent, holder, subject, audience, scope, depth,\n"
                  "parent, root, reason, times and the user it is done for.\n"
                  "Exit status: 0, 3 when there is no such task (404), 1/4 as usual.\n"},
    {"task list",
     "usage: mandate task list [--holder SPIFFE_ID] [--root ID] [--state active|ended|revoked|expired]\n"
     "                         [--limit N] [--token-file FILE] [--addr URL] [--json]\n"
     "\n"
     "Lists tasks, newest first (admin): id, state, depth, holder, audience, scope and expiry.\n"
     "  --holder SPIFFE_ID  only the tasks this agent holds\n"
     "  --root ID           only the tasks of this delegation tree\n"
     "  --state STATE       only tasks in this state\n"
     "  --limit N           at most N tasks, 1 to 100000 (default 1000)\n"
     "--json prints {\"tasks\": [...]}.\n"
     "Exit status: 0, or 1/3/4 as for every task command.\n"},
    {"task tree",
     "usage: mandate task tree ID [--ascii] [--token-file FILE] [--addr URL] [--json]\n"
     "\n"
     "Draws a task and the tasks delegated from it (admin), one line each: id, state,\n"
     "holder, scope, and the intent where it differs from the parent's:\n"
     "  5f0c... active  spiffe://example.org/agent/bot  tickets:read tickets:write  (answer ticket 42)\n"
     "  ├── 41d6... revoked spiffe://example.org/agent/sub  tickets:read\n"
     "  │   └── 4921... revoked spiffe://example.org/agent/sub  tickets:read\n"
     "  └── 77aa... ended   spiffe://example.org/agent/sub  tickets:write\n"
     "  --ascii  draw with |-- and `-- instead of box-drawing characters\n"
     "--json prints the server's nested object (each task with its \"children\").\n"
     "Exit status: 0, 3 when there is no such task (404), 1/4 as usual.\n"},
    {"agent quarantine",
     "usage: mandate agent quarantine ID [--reason TEXT] [--token-file FILE] [--addr URL] [--json]\n"
     "\n"
     "Quarantines an agent (admin): mandated issues it no SVID and no task any more, and\n"
     "revokes every task it holds with their delegations.  ID: its short id (ag_...) or its\n"
     "SPIFFE ID.  --reason (1 to 512 bytes, no control characters) is recorded with the\n"
     "revoked tasks.  Undo with `mandate agent update ID --state active` (revoked tasks stay\n"
     "revoked).  Prints how many tasks were revoked.\n"
     "Exit status: 0 quarantined, 1 usage error, 3 refused (404: no such agent), 4 server or\n"
     "connection error.\n"},
};

const char *md_cmd_task_help(const char *command)
{
    for (size_t i = 0; i < sizeof(task_helps) / sizeof(task_helps[0]); i++)
        if (strcmp(task_helps[i].command, command) == 0) return task_helps[i].text;
    return NULL;
}

/* ---------------------------------------------------------------- options */

enum {
    OPT_ADDR = 256,
    OPT_TOKEN,
    OPT_CACERT,
    OPT_JSON,
    OPT_SVID,
    OPT_SOCKET,
    OPT_INTENT,
    OPT_SCOPE,
    OPT_AUDIENCE,
    OPT_TTL,
    OPT_OBO,
    OPT_MANDATE_ONLY,
    OPT_MANDATE,
    OPT_TO_SVID,
    OPT_REASON,
    OPT_HOLDER,
    OPT_ROOT,
    OPT_STATE,
    OPT_LIMIT,
    OPT_ASCII,
};

#define BIT(o) (1u << ((o)-256))
#define COMMON (BIT(OPT_ADDR) | BIT(OPT_CACERT) | BIT(OPT_JSON))
#define AS_AGENT (COMMON | BIT(OPT_SVID) | BIT(OPT_SOCKET))
#define AS_ADMIN (COMMON | BIT(OPT_TOKEN))

static const struct option task_opts[] = {
    {"addr", required_argument, NULL, OPT_ADDR},
    {"token-file", required_argument, NULL, OPT_TOKEN},
    {"cacert", required_argument, NULL, OPT_CACERT},
    {"json", no_argument, NULL, OPT_JSON},
    {"svid", required_argument, NULL, OPT_SVID},
    {"socket", required_argument, NULL, OPT_SOCKET},
    {"intent", required_argument, NULL, OPT_INTENT},
    {"scope", required_argument, NULL, OPT_SCOPE},
    {"audience", required_argument, NULL, OPT_AUDIENCE},
    {"ttl", required_argument, NULL, OPT_TTL},
    {"on-behalf-of", required_argument, NULL, OPT_OBO},
    {"mandate-only", no_argument, NULL, OPT_MANDATE_ONLY},
    {"mandate", required_argument, NULL, OPT_MANDATE},
    {"to-svid", required_argument, NULL, OPT_TO_SVID},
    {"reason", required_argument, NULL, OPT_REASON},
    {"holder", required_argument, NULL, OPT_HOLDER},
    {"root", required_argument, NULL, OPT_ROOT},
    {"state", required_argument, NULL, OPT_STATE},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"ascii", no_argument, NULL, OPT_ASCII},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* What the options said.  Strings are borrowed from argv (or the environment). */
typedef struct task_args {
    const char *command; /* "task start", ... */
    bool json, mandate_only, ascii;
    md_client_opts_t copts;
    const char *svid_arg, *socket, *obo_arg, *mandate_arg, *to_svid_arg; /* TOKEN, @FILE or @- */
    const char *intent, *audience, *reason, *holder, *root, *state;
    json_t *scopes;      /* owned: the --scope tokens in the order given; NULL: none */
    long long ttl;       /* seconds; 0: not given */
    long long limit;     /* 0: not given */
    const char *subject; /* the positional argument: a task id, an agent, a token */
} task_args_t;

/* One subcommand. */
typedef struct task_cmd {
    const char *command;
    unsigned allowed;    /* the OPT_ bits it takes */
    int npos;            /* positional arguments: 0 or 1 */
    const char *missing; /* the message when the positional argument is missing */
    bool task_id;        /* the positional argument is a task id */
    int (*run)(task_args_t *a);
} task_cmd_t;

static int usage(const task_args_t *a, const char *msg)
{
    return md_client_usage(a->json, a->command, msg);
}

static int report(const task_args_t *a, int code, const char *kind, const char *msg)
{
    return md_client_fail(a->json, code, kind, msg);
}

static bool is_task_id(const char *s)
{
    if (strlen(s) != TASK_ID_LEN) return false;
    for (size_t i = 0; i < TASK_ID_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

/* Why text given as option opt is refused (into msg), or NULL: 1..max bytes of UTF-8 without
 * control characters (C0, DEL, C1). */
static const char *text_problem(const char *s, const char *opt, size_t max, char *msg, size_t cap)
{
    size_t n = strlen(s), i = 0;
    if (n == 0) {
        snprintf(msg, cap, "%s must not be empty", opt);
        return msg;
    }
    if (n > max) {
        snprintf(msg, cap, "%s is longer than %zu bytes", opt, max);
        return msg;
    }
    while (i < n) {
        int32_t cp = md_utf8_next(s, n, &i);
        if (cp < 0) {
            snprintf(msg, cap, "%s is not valid UTF-8", opt);
            return msg;
        }
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
            snprintf(msg, cap, "%s has a control character", opt);
            return msg;
        }
    }
    return NULL;
}

/* Add the scopes of one --scope (comma- and/or space-separated).  -1 when ok, else the exit code. */
static int add_scopes(task_args_t *a, const char *arg)
{
    char msg[300];
    const char *p = arg;
    bool any = false;

    if (a->scopes == NULL && (a->scopes = json_array()) == NULL)
        return report(a, MD_EXIT_USAGE, "usage", "out of memory");
    while (*p) {
        size_t n = strcspn(p, ", ");
        if (n > 0) {
            md_str_t tok = {p, n};
            if (!md_scope_token_valid(tok)) {
                snprintf(msg, sizeof(msg),
                         "--scope: `%.*s` is not a scope (1 to %d bytes of printable ASCII without space, \" "
                         "and \\)",
                         n > 64 ? 64 : (int)n, p, MD_SCOPE_TOKEN_MAX);
                for (char *c = msg; *c; c++) /* the echo must stay printable */
                    if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) *c = '?';
                return usage(a, msg);
            }
            for (size_t i = 0; i < json_array_size(a->scopes); i++) {
                const char *s = json_string_value(json_array_get(a->scopes, i));
                if (strlen(s) == n && memcmp(s, p, n) == 0) {
                    snprintf(msg, sizeof(msg), "--scope %.*s is given twice", (int)n, p);
                    return usage(a, msg);
                }
            }
            if (json_array_size(a->scopes) >= MD_SCOPE_MAX) {
                snprintf(msg, sizeof(msg), "--scope: more than %d scopes", MD_SCOPE_MAX);
                return usage(a, msg);
            }
            if (json_array_append_new(a->scopes, json_stringn(p, n)) != 0)
                return report(a, MD_EXIT_USAGE, "usage", "out of memory");
            any = true;
        }
        p += n;
        if (*p) p++;
    }
    if (!any) return usage(a, "--scope: no scope given (write S1,S2 or \"S1 S2\")");
    return -1;
}

/*
 * Parse the options after the subcommand name.  Returns -1 when ok, or an
 * exit code (help printed, or the usage error reported).
 */
static int parse_args(const task_cmd_t *cmd, int argc, char **argv, task_args_t *a)
{
    char msg[600];
    const char *problem;
    int ch, idx = 0, rc;

    memset(a, 0, sizeof(*a));
    a->command = cmd->command;
    /* --json is looked for first so that usage errors are reported in the right form */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--json") == 0) a->json = true;
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", task_opts, &idx)) != -1) {
        if (ch == 'h') {
            fputs(md_cmd_task_help(cmd->command), stdout);
            return MD_EXIT_OK;
        }
        if (ch == '?' || ch == ':') {
            snprintf(msg, sizeof(msg), "unknown option or missing value: %s", argv[optind - 1]);
            return usage(a, msg);
        }
        if (!(cmd->allowed & BIT(ch))) {
            snprintf(msg, sizeof(msg), "`%s` does not take --%s", cmd->command, task_opts[idx].name);
            return usage(a, msg);
        }
        switch (ch) {
        case OPT_ADDR: a->copts.addr = optarg; break;
        case OPT_TOKEN: a->copts.token_file = optarg; break;
        case OPT_CACERT: a->copts.cacert = optarg; break;
        case OPT_JSON: a->json = true; break;
        case OPT_SVID: a->svid_arg = optarg; break;
        case OPT_SOCKET: a->socket = optarg; break;
        case OPT_OBO: a->obo_arg = optarg; break;
        case OPT_MANDATE: a->mandate_arg = optarg; break;
        case OPT_TO_SVID: a->to_svid_arg = optarg; break;
        case OPT_MANDATE_ONLY: a->mandate_only = true; break;
        case OPT_ASCII: a->ascii = true; break;
        case OPT_INTENT:
            if ((problem = text_problem(optarg, "--intent", TASK_TEXT_MAX, msg, sizeof(msg))) != NULL)
                return usage(a, problem);
            a->intent = optarg;
            break;
        case OPT_AUDIENCE:
            if ((problem = text_problem(optarg, "--audience", TASK_AUDIENCE_MAX, msg, sizeof(msg))) != NULL)
                return usage(a, problem);
            a->audience = optarg;
            break;
        case OPT_REASON:
            if ((problem = text_problem(optarg, "--reason", TASK_TEXT_MAX, msg, sizeof(msg))) != NULL)
                return usage(a, problem);
            a->reason = optarg;
            break;
        case OPT_SCOPE:
            if ((rc = add_scopes(a, optarg)) >= 0) return rc;
            break;
        case OPT_TTL:
            a->ttl = md_client_parse_duration(optarg);
            if (a->ttl <= 0) return usage(a, "--ttl must be a duration such as 300, 90s, 5m or 1h");
            break;
        case OPT_HOLDER: {
            md_spiffe_id_t id;
            md_spiffe_error_t e = md_spiffe_parse(md_str_c(optarg), &id);
            if (e != MD_SPIFFE_OK) {
                snprintf(msg, sizeof(msg), "--holder must be a SPIFFE ID (spiffe://trust-domain/path): %s",
                         md_spiffe_strerror(e));
                return usage(a, msg);
            }
            a->holder = optarg;
            break;
        }
        case OPT_ROOT:
            if (!is_task_id(optarg)) return usage(a, "--root must be a task id: 32 lowercase hex digits");
            a->root = optarg;
            break;
        case OPT_STATE:
            if (strcmp(optarg, "active") && strcmp(optarg, "ended") && strcmp(optarg, "revoked") &&
                strcmp(optarg, "expired"))
                return usage(a, "--state must be active, ended, revoked or expired");
            a->state = optarg;
            break;
        case OPT_LIMIT: {
            size_t n = strlen(optarg);
            a->limit = n > 0 && n <= 6 && strspn(optarg, "0123456789") == n ? atoll(optarg) : 0;
            if (a->limit < 1 || a->limit > TASK_LIMIT_MAX) return usage(a, "--limit must be 1 to 100000");
            break;
        }
        }
    }
    int left = argc - optind;
    if (left > cmd->npos) {
        snprintf(msg, sizeof(msg), "unexpected argument `%s`", argv[optind + cmd->npos]);
        for (char *c = msg; *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f) *c = '?';
        return usage(a, msg);
    }
    if (left < cmd->npos) return usage(a, cmd->missing);
    if (cmd->npos == 1) {
        a->subject = argv[optind];
        if (cmd->task_id && !is_task_id(a->subject))
            return usage(a, "the task id must be 32 lowercase hex digits");
    }
    if (a->svid_arg != NULL && a->socket != NULL)
        return usage(a, "give --svid or --socket, not both (--socket fetches an SVID)");
    if (a->copts.token_file != NULL && (a->svid_arg != NULL || a->socket != NULL))
        return usage(a, "give --token-file (as an administrator) or --svid/--socket (as an agent), not both");
    if (a->json && a->mandate_only) return usage(a, "give --json or --mandate-only, not both");
    return -1;
}

/* ---------------------------------------------------------------- tokens and authentication */

/*
 * A token given as opt: TOKEN, @FILE (its first line; refused when group or
 * others may read it) or @- (standard input).  It must be a compact JWS.  *out
 * is owned (md_client_secret_free).  Returns -1 when ok, or the exit code.
 */
static int load_token(const task_args_t *a, const char *opt, const char *arg, char **out)
{
    md_err_t err = {0};
    char msg[700];

    *out = NULL;
    if (arg[0] == '@') {
        if (md_client_read_secret(arg + 1, TASK_TOKEN_MAX, out, &err) != MD_OK) {
            snprintf(msg, sizeof(msg), "%s: %s", opt, err.msg);
            return report(a, MD_EXIT_USAGE, "usage", msg);
        }
    } else if (strlen(arg) > TASK_TOKEN_MAX) {
        snprintf(msg, sizeof(msg), "%s is longer than %d bytes", opt, TASK_TOKEN_MAX);
        return usage(a, msg);
    } else if ((*out = strdup(arg)) == NULL) {
        return report(a, MD_EXIT_USAGE, "usage", "out of memory");
    }
    if (!md_client_is_jws(*out)) {
        md_client_secret_free(*out);
        *out = NULL;
        snprintf(msg, sizeof(msg), "%s is not a JWT (three base64url parts separated by dots)", opt);
        return usage(a, msg);
    }
    return -1;
}

/* How an agent command authenticates: an SVID in hand, or a Workload API client to fetch one. */
typedef struct agent_auth {
    char *svid;       /* owned; NULL: fetch one through sock */
    md_client_t sock; /* initialised when svid is NULL */
    bool have_sock;
} agent_auth_t;

static void agent_auth_free(agent_auth_t *au)
{
    md_client_secret_free(au->svid);
    if (au->have_sock) md_client_free(&au->sock);
    memset(au, 0, sizeof(*au));
}

/*
 * Decide how the agent authenticates, without sending anything: --svid, else
 * --socket, else $MANDATE_SVID, else $MANDATE_AGENT_SOCKET.  Returns -1 when
 * ok, or the exit code.
 */
static int agent_auth_resolve(const task_args_t *a, agent_auth_t *au)
{
    const char *env_svid = getenv(SVID_ENV), *env_sock = getenv(MD_CLIENT_SOCKET_ENV);
    md_err_t err = {0};

    memset(au, 0, sizeof(*au));
    if (a->svid_arg != NULL) return load_token(a, "--svid", a->svid_arg, &au->svid);
    if (a->socket == NULL && env_svid != NULL && env_svid[0] != '\0')
        return load_token(a, SVID_ENV, env_svid, &au->svid);
    if (a->socket == NULL && (env_sock == NULL || env_sock[0] == '\0'))
        return usage(a, "no SVID: give --svid TOKEN|@FILE or set " SVID_ENV
                        ", or give --socket PATH or set " MD_CLIENT_SOCKET_ENV " to fetch one");
    if (md_client_init_unix(&au->sock, a->socket, &err) != MD_OK)
        return report(a, MD_EXIT_USAGE, "usage", err.msg);
    au->have_sock = true;
    return -1;
}

/*
 * Fetch an SVID for mandated's issuer if none is in hand: the issuer from the
 * daemon's RFC 8414 metadata (through tcp), the SVID from the Workload API.
 * Returns MD_EXIT_OK, or the exit code after reporting.
 */
static int agent_auth_fetch(const task_args_t *a, md_client_t *tcp, agent_auth_t *au)
{
    json_t *meta = NULL, *body = NULL, *doc = NULL;
    const char *issuer, *svid;
    char msg[128];
    int rc;

    if (au->svid != NULL) return MD_EXIT_OK;
    rc = md_client_call(tcp, a->json, "GET", "/.well-known/oauth-authorization-server", NULL, &meta);
    if (rc != MD_EXIT_OK) goto out;
    issuer = json_string_value(json_object_get(meta, "issuer"));
    if (issuer == NULL || text_problem(issuer, "issuer", TASK_AGENT_KEY_MAX, msg, sizeof(msg)) != NULL) {
        rc = report(a, MD_EXIT_SERVER, "bad_response", "the server's metadata names no issuer");
        goto out;
    }
    if ((body = json_pack("{s:[s]}", "audience", issuer)) == NULL) {
        rc = report(a, MD_EXIT_USAGE, "usage", "out of memory");
        goto out;
    }
    rc = md_client_call(&au->sock, a->json, "POST", "/v1/svid", body, &doc);
    if (rc != MD_EXIT_OK) goto out;
    svid = json_string_value(json_object_get(doc, "svid"));
    if (!md_client_is_jws(svid)) {
        rc = report(a, MD_EXIT_SERVER, "bad_response", "the Workload API's answer holds no JWT-SVID");
        goto out;
    }
    if ((au->svid = strdup(svid)) == NULL) rc = report(a, MD_EXIT_USAGE, "usage", "out of memory");
out:
    if (doc != NULL) {
        json_t *s = json_object_get(doc, "svid");
        if (json_is_string(s)) /* jansson's own copy of the SVID: wiped before the free */
            OPENSSL_cleanse((char *)json_string_value(s), json_string_length(s));
    }
    json_decref(doc);
    json_decref(body);
    json_decref(meta);
    return rc;
}

/* The client for the daemon: admin (the token file) or agent (no token read: the SVID is set later). */
static int open_client(const task_args_t *a, bool admin, md_client_t *c)
{
    md_client_opts_t o = a->copts;
    md_err_t err = {0};
    o.need_token = admin;
    if (!admin) o.token_file = ""; /* never the admin token: not from $MANDATE_TOKEN_FILE either */
    if (md_client_init(c, &o, &err) != MD_OK) return report(a, MD_EXIT_USAGE, "usage", err.msg);
    return -1;
}

/*
 * Open the daemon's client as an agent: resolve the SVID source, then (the
 * only step that talks) fetch the SVID if needed, and set it as the bearer
 * token.  Returns MD_EXIT_OK with *c open, or the exit code (c freed).
 */
static int open_agent(const task_args_t *a, md_client_t *c)
{
    agent_auth_t au;
    int rc = open_client(a, false, c);
    if (rc >= 0) return rc;
    if ((rc = agent_auth_resolve(a, &au)) >= 0) {
        md_client_free(c);
        return rc;
    }
    if ((rc = agent_auth_fetch(a, c, &au)) != MD_EXIT_OK) {
        agent_auth_free(&au);
        md_client_free(c);
        return rc;
    }
    c->token = au.svid; /* the client owns and wipes it now */
    au.svid = NULL;
    agent_auth_free(&au);
    return MD_EXIT_OK;
}

/* ---------------------------------------------------------------- requests */

/* Append name=value to a form body, percent-encoded (everything but A-Z a-z 0-9 - . _ ~). */
static void form_add(md_buf_t *b, const char *name, const char *value)
{
    if (b->n > 0) md_buf_addc(b, '&');
    md_client_path_segment(b, name);
    md_buf_addc(b, '=');
    md_client_path_segment(b, value);
}

static int call_form(const task_args_t *a, md_client_t *c, const char *path, md_buf_t *form, json_t **doc)
{
    if (form->oom) return report(a, MD_EXIT_USAGE, "usage", "out of memory");
    return md_client_call_raw(c, a->json, "POST", path, FORM_CT, form->p, form->n, doc);
}

/* "/v1/.../<percent-encoded segment><suffix>" into b; NULL on OOM. */
static const char *make_path(md_buf_t *b, const char *prefix, const char *segment, const char *suffix)
{
    md_buf_reset(b);
    md_buf_adds(b, prefix);
    md_client_path_segment(b, segment);
    md_buf_adds(b, suffix);
    return b->oom ? NULL : b->p;
}

static void print_json(const json_t *doc)
{
    json_dumpf(doc, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
}

/* ---------------------------------------------------------------- output */

static const char *str_or(const json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}

/* Display columns of s: its code points (bytes that are not UTF-8 continuation bytes). */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80) w++;
    return w;
}

/* Print s with control bytes as '?', then spaces up to width columns. */
static void put_field(const char *s, size_t width)
{
    size_t w = text_width(s);
    for (const char *p = s; *p; p++)
        fputc((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p, stdout);
    for (; w < width; w++)
        fputc(' ', stdout);
}

/* "label value\n" with the value cleaned. */
static void put_line(const char *label, const char *value)
{
    printf("%-14s", label);
    put_field(value, 0);
    fputc('\n', stdout);
}

/* A Unix time as 2026-11-28T13:05:00Z into buf; "-" when absent or 0. */
static const char *iso_time(const json_t *v, char buf[32])
{
    snprintf(buf, 32, "-");
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        time_t t = (time_t)json_integer_value(v);
        struct tm tm;
        if (gmtime_r(&t, &tm) != NULL) strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    return buf;
}

/* A scope as one string: a string as is, an array space-joined (into b). */
static const char *scope_text(const json_t *v, md_buf_t *b)
{
    size_t i;
    json_t *s;
    md_buf_reset(b);
    if (json_is_string(v)) return json_string_value(v);
    json_array_foreach(v, i, s)
    {
        if (i) md_buf_addc(b, ' ');
        md_buf_adds(b, json_string_value(s) ? json_string_value(s) : "?");
    }
    md_buf_adds(b, "");
    return b->oom ? "?" : b->p;
}

/* The user a task is done for: "SUB (ISSUER) EMAIL" into b. */
static const char *user_text(const json_t *u, md_buf_t *b)
{
    md_buf_reset(b);
    md_buf_printf(b, "%s (%s)", str_or(u, "sub", "?"), str_or(u, "iss", "?"));
    if (json_is_string(json_object_get(u, "email"))) md_buf_printf(b, " %s", str_or(u, "email", ""));
    return b->oom ? "?" : b->p;
}

/* What start and delegate print: the task, its mandate, expiry and scope. */
static void print_issued(const task_args_t *a, const json_t *doc, const char *task_id, const char *mandate,
                         const json_t *expires, const json_t *scope)
{
    char t[32];
    md_buf_t b;
    if (a->json) {
        print_json(doc);
        return;
    }
    if (a->mandate_only) {
        printf("%s\n", mandate);
        return;
    }
    md_buf_init(&b);
    printf("task %s\nmandate %s\nexpires %s\nscope ", task_id, mandate, iso_time(expires, t));
    put_field(scope_text(scope, &b), 0);
    fputc('\n', stdout);
    md_buf_free(&b);
}

static void print_task(const json_t *t)
{
    char buf[32];
    md_buf_t b;
    md_buf_init(&b);
    put_line("id:", str_or(t, "id", "?"));
    put_line("state:", str_or(t, "state", "?"));
    put_line("intent:", str_or(t, "intent", "?"));
    put_line("holder:", str_or(t, "holder", "?"));
    put_line("agent_id:", str_or(t, "agent_id", "-"));
    put_line("subject:", str_or(t, "subject", "?"));
    put_line("audience:", str_or(t, "audience", "?"));
    put_line("scope:", scope_text(json_object_get(t, "scope"), &b));
    json_t *d = json_object_get(t, "depth");
    printf("%-14s%lld\n", "depth:", json_is_integer(d) ? (long long)json_integer_value(d) : 0LL);
    put_line("parent:", str_or(t, "parent", "-"));
    put_line("root:", str_or(t, "root", "?"));
    put_line("reason:", str_or(t, "reason", "-"));
    put_line("created:", iso_time(json_object_get(t, "created_at"), buf));
    put_line("expires:", iso_time(json_object_get(t, "expires_at"), buf));
    put_line("ended:", iso_time(json_object_get(t, "ended_at"), buf));
    json_t *u = json_object_get(t, "on_behalf_of");
    if (json_is_object(u)) put_line("on_behalf_of:", user_text(u, &b));
    if (json_is_string(json_object_get(t, "jkt"))) put_line("jkt:", str_or(t, "jkt", "?"));
    md_buf_free(&b);
}

/* The scope of a list row with commas, so that each column is one word. */
static const char *table_scope(const json_t *t, md_buf_t *b)
{
    const char *s = scope_text(json_object_get(t, "scope"), b);
    if (s != b->p) {
        md_buf_reset(b);
        md_buf_adds(b, s);
        md_buf_adds(b, "");
        if (b->oom) return "?";
    }
    for (char *p = b->p; *p; p++)
        if (*p == ' ') *p = ',';
    return b->p[0] ? b->p : "-";
}

static void print_table(const json_t *tasks)
{
    static const char *const heads[] = {"ID", "STATE", "DEPTH", "HOLDER", "AUDIENCE", "SCOPE", "EXPIRES"};
    enum { NCOL = 7 };
    size_t n = json_array_size(tasks), w[NCOL];
    char depth[24], exp[32];
    md_buf_t b;

    if (n == 0) {
        printf("no tasks\n");
        return;
    }
    md_buf_init(&b);
    for (int c = 0; c < NCOL; c++)
        w[c] = strlen(heads[c]);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            for (int c = 0; c < NCOL; c++) {
                put_field(heads[c], c + 1 < NCOL ? w[c] : 0);
                fputs(c + 1 < NCOL ? "  " : "\n", stdout);
            }
        }
        for (size_t i = 0; i < n; i++) {
            const json_t *t = json_array_get(tasks, i), *d = json_object_get(t, "depth");
            snprintf(depth, sizeof(depth), "%lld",
                     json_is_integer(d) ? (long long)json_integer_value(d) : 0LL);
            const char *cols[NCOL] = {str_or(t, "id", "?"),
                                      str_or(t, "state", "?"),
                                      depth,
                                      str_or(t, "holder", "?"),
                                      str_or(t, "audience", "?"),
                                      table_scope(t, &b),
                                      iso_time(json_object_get(t, "expires_at"), exp)};
            for (int c = 0; c < NCOL; c++) {
                if (pass == 0) {
                    if (text_width(cols[c]) > w[c]) w[c] = text_width(cols[c]);
                } else {
                    put_field(cols[c], c + 1 < NCOL ? w[c] : 0);
                    fputs(c + 1 < NCOL ? "  " : "\n", stdout);
                }
            }
        }
    }
    md_buf_free(&b);
}

/* The widest holder in a tree. */
static void tree_holder_width(const json_t *node, int depth, size_t *w)
{
    size_t i;
    json_t *child;
    if (depth > TASK_TREE_DEPTH_MAX) return;
    if (text_width(str_or(node, "holder", "?")) > *w) *w = text_width(str_or(node, "holder", "?"));
    json_array_foreach(json_object_get(node, "children"), i, child) tree_holder_width(child, depth + 1, w);
}

typedef struct tree_style {
    const char *tee, *last, *bar, *space;
    size_t holder_w;
} tree_style_t;

/* One task line under prefix, then its children. */
static void tree_draw(const json_t *node, const char *parent_intent, md_buf_t *prefix, bool root, bool last,
                      const tree_style_t *st, int depth)
{
    const char *intent = str_or(node, "intent", "");
    json_t *children = json_object_get(node, "children"), *child;
    size_t at = prefix->n, i, n = json_array_size(children);
    md_buf_t b;

    md_buf_init(&b);
    put_field(prefix->p ? prefix->p : "", 0);
    if (!root) fputs(last ? st->last : st->tee, stdout);
    put_field(str_or(node, "id", "?"), 0);
    fputc(' ', stdout);
    put_field(str_or(node, "state", "?"), 7);
    fputc(' ', stdout);
    put_field(str_or(node, "holder", "?"), st->holder_w);
    fputs("  ", stdout);
    put_field(scope_text(json_object_get(node, "scope"), &b), 0);
    if (parent_intent == NULL || strcmp(parent_intent, intent) != 0) {
        fputs("  (", stdout);
        put_field(intent, 0);
        fputc(')', stdout);
    }
    fputc('\n', stdout);
    md_buf_free(&b);
    if (depth >= TASK_TREE_DEPTH_MAX) {
        if (n > 0) printf("%s    ... (deeper tasks not drawn)\n", prefix->p ? prefix->p : "");
        return;
    }
    if (!root) md_buf_adds(prefix, last ? st->space : st->bar);
    json_array_foreach(children, i, child) tree_draw(child, intent, prefix, false, i + 1 == n, st, depth + 1);
    prefix->n = at;
    if (prefix->p != NULL) prefix->p[at] = '\0';
}

static void print_tree(const task_args_t *a, const json_t *top)
{
    tree_style_t st = a->ascii ? (tree_style_t){"|-- ", "`-- ", "|   ", "    ", 0}
                               : (tree_style_t){"├── ", "└── ", "│   ", "    ", 0};
    md_buf_t prefix;
    md_buf_init(&prefix);
    tree_holder_width(top, 0, &st.holder_w);
    tree_draw(top, NULL, &prefix, true, true, &st, 0);
    md_buf_free(&prefix);
}

static void print_introspection(const json_t *doc)
{
    char buf[32];
    md_buf_t b;
    const json_t *task = json_object_get(doc, "task"), *act;
    int n = 0;

    md_buf_init(&b);
    printf("active\n");
    put_line("task:", str_or(task, "id", str_or(doc, "jti", "?")));
    put_line("intent:", str_or(task, "intent", "?"));
    json_t *d = json_object_get(task, "depth");
    printf("%-14s%lld\n", "depth:", json_is_integer(d) ? (long long)json_integer_value(d) : 0LL);
    put_line("parent:", str_or(task, "parent", "-"));
    put_line("holder:", str_or(doc, "client_id", "?"));
    put_line("subject:", str_or(doc, "sub", "?"));
    put_line("audience:", scope_text(json_object_get(doc, "aud"), &b));
    put_line("scope:", str_or(doc, "scope", ""));
    put_line("issued:", iso_time(json_object_get(doc, "iat"), buf));
    put_line("expires:", iso_time(json_object_get(doc, "exp"), buf));
    put_line("issuer:", str_or(doc, "iss", "?"));
    put_line("token_type:", str_or(doc, "token_type", "?"));
    /* the actor chain: the current holder outermost, prior holders nested */
    for (act = json_object_get(doc, "act"); json_is_object(act) && n < TASK_TREE_DEPTH_MAX;
         act = json_object_get(act, "act"), n++)
        put_line(n == 0 ? "actors:" : "", str_or(act, "sub", "?"));
    const json_t *u = json_object_get(doc, "obo");
    if (json_is_object(u)) put_line("on_behalf_of:", user_text(u, &b));
    md_buf_free(&b);
}

/* ---------------------------------------------------------------- commands */

static int cmd_start(task_args_t *a)
{
    md_client_t c;
    json_t *body = NULL, *doc = NULL;
    char *obo = NULL;
    int rc;

    if (a->intent == NULL || a->scopes == NULL || a->audience == NULL)
        return usage(a, "--intent, --scope and --audience are required");
    if (a->obo_arg != NULL && (rc = load_token(a, "--on-behalf-of", a->obo_arg, &obo)) >= 0) return rc;
    body = json_pack("{s:s, s:O, s:s}", "intent", a->intent, "scope", a->scopes, "audience", a->audience);
    if (body == NULL || (a->ttl > 0 && json_object_set_new(body, "ttl", json_integer(a->ttl)) != 0) ||
        (obo != NULL && json_object_set_new(body, "on_behalf_of", json_string(obo)) != 0)) {
        rc = report(a, MD_EXIT_USAGE, "usage", "out of memory or invalid UTF-8 in an option");
        goto out;
    }
    if ((rc = open_agent(a, &c)) != MD_EXIT_OK) goto out;
    rc = md_client_call(&c, a->json, "POST", "/v1/tasks", body, &doc);
    md_client_free(&c);
    if (rc != MD_EXIT_OK) goto out;
    const char *id = str_or(doc, "task_id", ""),
               *mandate = json_string_value(json_object_get(doc, "mandate"));
    if (!is_task_id(id) || !md_client_is_jws(mandate)) {
        rc = report(a, MD_EXIT_SERVER, "bad_response", "the server's answer holds no task id and mandate");
        goto out;
    }
    print_issued(a, doc, id, mandate, json_object_get(doc, "expires_at"), json_object_get(doc, "scope"));
out:
    json_decref(doc);
    json_decref(body);
    md_client_secret_free(obo);
    return rc;
}

static int cmd_end(task_args_t *a)
{
    md_client_t c;
    md_buf_t path;
    json_t *doc = NULL;
    int rc;

    md_buf_init(&path);
    if (make_path(&path, "/v1/tasks/", a->subject, "/end") == NULL) {
        rc = report(a, MD_EXIT_USAGE, "usage", "out of memory");
        goto out;
    }
    if ((rc = open_agent(a, &c)) != MD_EXIT_OK) goto out;
    rc = md_client_call(&c, a->json, "POST", path.p, NULL, &doc);
    md_client_free(&c);
    if (rc != MD_EXIT_OK) goto out;
    if (a->json)
        print_json(doc);
    else
        printf("ended task %s (%lld tasks changed)\n", a->subject,
               (long long)json_integer_value(json_object_get(doc, "tasks_changed")));
out:
    json_decref(doc);
    md_buf_free(&path);
    return rc;
}

static int cmd_delegate(task_args_t *a)
{
    md_client_t c;
    md_buf_t form, scope;
    json_t *doc = NULL;
    char *mandate = NULL, *actor = NULL, ttl[24];
    int rc;

    md_buf_init(&form);
    md_buf_init(&scope);
    if (a->mandate_arg == NULL || a->to_svid_arg == NULL) {
        rc = usage(a, "--mandate and --to-svid are required");
        goto out;
    }
    if ((rc = load_token(a, "--mandate", a->mandate_arg, &mandate)) >= 0 ||
        (rc = load_token(a, "--to-svid", a->to_svid_arg, &actor)) >= 0)
        goto out;
    form_add(&form, "grant_type", GRANT_TOKEN_EXCHANGE);
    form_add(&form, "subject_token", mandate);
    form_add(&form, "subject_token_type", TOKEN_TYPE_ACCESS);
    form_add(&form, "actor_token", actor);
    form_add(&form, "actor_token_type", TOKEN_TYPE_JWT);
    if (a->scopes != NULL) form_add(&form, "scope", scope_text(a->scopes, &scope));
    if (a->ttl > 0) {
        snprintf(ttl, sizeof(ttl), "%lld", a->ttl);
        form_add(&form, "ttl", ttl);
    }
    if (a->audience != NULL) form_add(&form, "audience", a->audience);
    if ((rc = open_agent(a, &c)) != MD_EXIT_OK) goto out;
    rc = call_form(a, &c, "/oauth/token", &form, &doc);
    md_client_free(&c);
    if (rc != MD_EXIT_OK) goto out;
    const char *id = str_or(doc, "task_id", ""),
               *token = json_string_value(json_object_get(doc, "access_token"));
    json_t *in = json_object_get(doc, "expires_in");
    if (!is_task_id(id) || !md_client_is_jws(token) || !json_is_integer(in) || json_integer_value(in) < 0) {
        rc = report(a, MD_EXIT_SERVER, "bad_response",
                    "the server's answer holds no task id, access token and lifetime");
        goto out;
    }
    json_t *exp = json_integer((json_int_t)time(NULL) + json_integer_value(in));
    print_issued(a, doc, id, token, exp, json_object_get(doc, "scope"));
    json_decref(exp);
out:
    if (form.p != NULL) OPENSSL_cleanse(form.p, form.n);
    md_buf_free(&form);
    md_buf_free(&scope);
    md_client_secret_free(mandate);
    md_client_secret_free(actor);
    json_decref(doc);
    return rc;
}

static int cmd_introspect(task_args_t *a)
{
    md_client_t c;
    md_buf_t form;
    json_t *doc = NULL;
    char *token = NULL;
    const char *env_svid = getenv(SVID_ENV), *env_tf = getenv("MANDATE_TOKEN_FILE");
    bool admin;
    int rc;

    md_buf_init(&form);
    if ((rc = load_token(a, "the token", a->subject, &token)) >= 0) goto out;
    /* as whom: the options say; else $MANDATE_SVID, else the admin token, else the Workload API */
    if (a->svid_arg != NULL || a->socket != NULL)
        admin = false;
    else if (a->copts.token_file != NULL)
        admin = true;
    else
        admin = !(env_svid != NULL && env_svid[0] != '\0') && env_tf != NULL && env_tf[0] != '\0';
    if (!admin && a->svid_arg == NULL && a->socket == NULL && !(env_svid != NULL && env_svid[0] != '\0') &&
        (getenv(MD_CLIENT_SOCKET_ENV) == NULL || getenv(MD_CLIENT_SOCKET_ENV)[0] == '\0')) {
        rc =
            usage(a, "no credentials: give --token-file FILE (as an administrator), or --svid TOKEN|@FILE or "
                     "--socket PATH (as an agent), or set their variables");
        goto out;
    }
    form_add(&form, "token", token);
    if (admin) {
        if ((rc = open_client(a, true, &c)) >= 0) goto out;
    } else if ((rc = open_agent(a, &c)) != MD_EXIT_OK) {
        goto out;
    }
    rc = call_form(a, &c, "/oauth/introspect", &form, &doc);
    md_client_free(&c);
    if (rc != MD_EXIT_OK) goto out;
    json_t *active = json_object_get(doc, "active");
    if (!json_is_boolean(active)) {
        rc = report(a, MD_EXIT_SERVER, "bad_response", "the server's answer has no \"active\" member");
        goto out;
    }
    rc = json_is_true(active) ? MD_EXIT_OK : TASK_EXIT_INACTIVE;
    if (a->json)
        print_json(doc);
    else if (rc == MD_EXIT_OK)
        print_introspection(doc);
    else
        printf("inactive\n");
out:
    if (form.p != NULL) OPENSSL_cleanse(form.p, form.n);
    md_buf_free(&form);
    md_client_secret_free(token);
    json_decref(doc);
    return rc;
}

/* An admin request; on MD_EXIT_OK *doc is the answer. */
static int admin_call(const task_args_t *a, const char *method, const char *path, const json_t *body,
                      json_t **doc)
{
    md_client_t c;
    int rc;
    *doc = NULL;
    if ((rc = open_client(a, true, &c)) >= 0) return rc;
    rc = md_client_call(&c, a->json, method, path, body, doc);
    md_client_free(&c);
    return rc;
}

static int cmd_revoke(task_args_t *a)
{
    md_buf_t path;
    json_t *body = NULL, *doc = NULL;
    int rc;

    md_buf_init(&path);
    if (make_path(&path, "/v1/admin/tasks/", a->subject, "/revoke") == NULL ||
        (a->reason != NULL && (body = json_pack("{s:s}", "reason", a->reason)) == NULL)) {
        rc = report(a, MD_EXIT_USAGE, "usage", "out of memory");
        goto out;
    }
    if ((rc = admin_call(a, "POST", path.p, body, &doc)) != MD_EXIT_OK) goto out;
    if (a->json)
        print_json(doc);
    else
        printf("revoked task %s (%lld tasks changed)\n", a->subject,
               (long long)json_integer_value(json_object_get(doc, "tasks_changed")));
out:
    json_decref(doc);
    json_decref(body);
    md_buf_free(&path);
    return rc;
}

/*
 * GET /v1/admin/tasks/<subject><suffix> and print the answer: as JSON with
 * --json, else with render.  An answer that is not an object with a string
 * "id" is the server's fault (exit 4, saying it is not `what`).
 */
static int get_task_doc(task_args_t *a, const char *suffix, const char *what,
                        void (*render)(const task_args_t *a, const json_t *doc))
{
    md_buf_t path;
    json_t *doc = NULL;
    int rc;

    md_buf_init(&path);
    if (make_path(&path, "/v1/admin/tasks/", a->subject, suffix) == NULL) {
        rc = report(a, MD_EXIT_USAGE, "usage", "out of memory");
        goto out;
    }
    if ((rc = admin_call(a, "GET", path.p, NULL, &doc)) != MD_EXIT_OK) goto out;
    if (!json_is_object(doc) || !json_is_string(json_object_get(doc, "id"))) {
        rc = report(a, MD_EXIT_SERVER, "bad_response", what);
        goto out;
    }
    if (a->json)
        print_json(doc);
    else
        render(a, doc);
out:
    json_decref(doc);
    md_buf_free(&path);
    return rc;
}

static void render_task(const task_args_t *a, const json_t *doc)
{
    (void)a;
    print_task(doc);
}

static int cmd_show(task_args_t *a)
{
    return get_task_doc(a, "", "the server's answer is not a task", render_task);
}

static int cmd_list(task_args_t *a)
{
    md_buf_t path;
    json_t *doc = NULL;
    char sep = '?';
    int rc;

    /* the values are sent as they are: mandated does not percent-decode this query, and
     * parse_args admitted only characters that need no encoding (SPIFFE IDs, hex, words) */
    md_buf_init(&path);
    md_buf_adds(&path, "/v1/admin/tasks");
    if (a->holder != NULL) {
        md_buf_printf(&path, "%cholder=%s", sep, a->holder);
        sep = '&';
    }
    if (a->root != NULL) {
        md_buf_printf(&path, "%croot=%s", sep, a->root);
        sep = '&';
    }
    if (a->state != NULL) {
        md_buf_printf(&path, "%cstate=%s", sep, a->state);
        sep = '&';
    }
    if (a->limit > 0) md_buf_printf(&path, "%climit=%lld", sep, a->limit);
    if (path.oom) {
        rc = report(a, MD_EXIT_USAGE, "usage", "out of memory");
        goto out;
    }
    if ((rc = admin_call(a, "GET", path.p, NULL, &doc)) != MD_EXIT_OK) goto out;
    if (!json_is_array(json_object_get(doc, "tasks"))) {
        rc = report(a, MD_EXIT_SERVER, "bad_response", "the server's answer has no \"tasks\" array");
        goto out;
    }
    if (a->json)
        print_json(doc);
    else
        print_table(json_object_get(doc, "tasks"));
out:
    json_decref(doc);
    md_buf_free(&path);
    return rc;
}

static int cmd_tree(task_args_t *a)
{
    return get_task_doc(a, "/tree", "the server's answer is not a task tree", print_tree);
}

static int cmd_quarantine(task_args_t *a)
{
    md_buf_t path;
    json_t *body = NULL, *doc = NULL;
    char msg[128];
    const char *problem;
    int rc;

    md_buf_init(&path);
    if ((problem = text_problem(a->subject, "the agent's id", TASK_AGENT_KEY_MAX, msg, sizeof(msg))) !=
        NULL) {
        rc = usage(a, problem);
        goto out;
    }
    if (make_path(&path, "/v1/admin/agents/", a->subject, "/quarantine") == NULL ||
        (a->reason != NULL && (body = json_pack("{s:s}", "reason", a->reason)) == NULL)) {
        rc = report(a, MD_EXIT_USAGE, "usage", "out of memory");
        goto out;
    }
    if ((rc = admin_call(a, "POST", path.p, body, &doc)) != MD_EXIT_OK) goto out;
    if (a->json)
        print_json(doc);
    else {
        printf("quarantined agent ");
        put_field(str_or(doc, "id", "?"), 0);
        printf(" (");
        put_field(str_or(doc, "spiffe_id", "?"), 0);
        printf("): %lld tasks revoked\n",
               (long long)json_integer_value(json_object_get(doc, "tasks_revoked")));
    }
out:
    json_decref(doc);
    json_decref(body);
    md_buf_free(&path);
    return rc;
}

/* ---------------------------------------------------------------- dispatch */

static const task_cmd_t task_cmds[] = {
    {"task start",
     AS_AGENT | BIT(OPT_INTENT) | BIT(OPT_SCOPE) | BIT(OPT_AUDIENCE) | BIT(OPT_TTL) | BIT(OPT_OBO) |
         BIT(OPT_MANDATE_ONLY),
     0, NULL, false, cmd_start},
    {"task end", AS_AGENT, 1, "name the task: its id (32 lowercase hex digits)", true, cmd_end},
    {"task delegate",
     AS_AGENT | BIT(OPT_MANDATE) | BIT(OPT_TO_SVID) | BIT(OPT_SCOPE) | BIT(OPT_TTL) | BIT(OPT_AUDIENCE) |
         BIT(OPT_MANDATE_ONLY),
     0, NULL, false, cmd_delegate},
    {"task introspect", AS_AGENT | BIT(OPT_TOKEN), 1, "give the mandate to introspect: TOKEN, @FILE or @-",
     false, cmd_introspect},
    {"task revoke", AS_ADMIN | BIT(OPT_REASON), 1, "name the task: its id (32 lowercase hex digits)", true,
     cmd_revoke},
    {"task show", AS_ADMIN, 1, "name the task: its id (32 lowercase hex digits)", true, cmd_show},
    {"task list", AS_ADMIN | BIT(OPT_HOLDER) | BIT(OPT_ROOT) | BIT(OPT_STATE) | BIT(OPT_LIMIT), 0, NULL,
     false, cmd_list},
    {"task tree", AS_ADMIN | BIT(OPT_ASCII), 1, "name the task: its id (32 lowercase hex digits)", true,
     cmd_tree},
    {"agent quarantine", AS_ADMIN | BIT(OPT_REASON), 1, "name the agent: its id (ag_...) or its SPIFFE ID",
     false, cmd_quarantine},
};

/* Run one subcommand; argv starts at its own name. */
static int run(const task_cmd_t *cmd, int argc, char **argv)
{
    task_args_t a;
    int rc = parse_args(cmd, argc, argv, &a);
    if (rc < 0) rc = cmd->run(&a);
    json_decref(a.scopes);
    return rc;
}

int md_cmd_task(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        fputs(md_cmd_task_help("task"), argc < 2 ? stderr : stdout);
        return argc < 2 ? MD_EXIT_USAGE : MD_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(task_cmds) / sizeof(task_cmds[0]); i++)
        if (strncmp(task_cmds[i].command, "task ", 5) == 0 && strcmp(task_cmds[i].command + 5, argv[1]) == 0)
            return run(&task_cmds[i], argc - 1, argv + 1);
    fprintf(stderr, "mandate: unknown command `task %s` (see `mandate help task`)\n", argv[1]);
    return MD_EXIT_USAGE;
}

int md_cmd_agent_quarantine(int argc, char **argv)
{
    for (size_t i = 0; i < sizeof(task_cmds) / sizeof(task_cmds[0]); i++)
        if (strcmp(task_cmds[i].command, "agent quarantine") == 0) return run(&task_cmds[i], argc, argv);
    return MD_EXIT_USAGE; /* not reached: the table has it */
}
