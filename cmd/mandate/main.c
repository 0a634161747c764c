/*
 * main.c: `mandate`, the command-line tool.  Dispatches to subcommands and
 * holds the help texts (`mandate help <command>`).
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

#define MANDATE_VERSION "0.1.0"

static const struct help {
    const char *command;
    const char *text;
} helps[] = {
    {"", "usage: mandate <command> [args]\n"
         "\n"
         "commands:\n"
         "  agent register     register an agent with mandated (SPIFFE ID, selectors, owner, scope)\n"
         "  agent list         list registered agents\n"
         "  agent show         show one agent\n"
         "  agent update       change an agent\n"
         "  agent remove       remove an agent\n"
         "  agent quarantine   stop an agent and revoke every task it holds\n"
         "  cedar authorize    decide one request against Cedar policies\n"
         "  cedar run-tests    run Cedar integration-test files\n"
         "  cedar check-parse  check that policies (and a schema) parse\n"
         "  svid fetch         fetch a JWT-SVID for this process from mandated's Workload API\n"
         "  svid bundle        print the keys that verify JWT-SVIDs (JWKS)\n"
         "  task start         start a task as this agent and get its mandate\n"
         "  task end           end a task this agent holds\n"
         "  task delegate      give a sub-agent a mandate for part of a task (RFC 8693)\n"
         "  task introspect    is a mandate active, and what does it say (RFC 7662)\n"
         "  task revoke        revoke a task and its delegations\n"
         "  task show          show one task\n"
         "  task list          list tasks\n"
         "  task tree          draw a task's delegation tree\n"
         "  help <command>     show help for a command\n"
         "  version            print the version\n"
         "\n"
         "Commands that talk to mandated (agent ..., task ...) take --addr URL (default $MANDATE_ADDR,\n"
         "else http://127.0.0.1:7744), --token-file FILE (default $MANDATE_TOKEN_FILE; refused\n"
         "when group or others may read it), --cacert FILE (default $MANDATE_CACERT) and --json.\n"
         "Commands an agent runs (svid ...) talk to the Workload API socket instead: they take\n"
         "--socket PATH (default $MANDATE_AGENT_SOCKET) and --json, and send no token (mandated\n"
         "identifies the calling process).  Task commands an agent runs (task start, end,\n"
         "delegate) send a JWT-SVID instead of the admin token: --svid TOKEN|@FILE (default\n"
         "$MANDATE_SVID), or one fetched through --socket; see `mandate help task`.\n"
         "Their exit status: 0 done, 1 usage or input error, 3 the server refused the request\n"
         "(4xx), 4 server error (5xx) or no connection.\n"},
    {"cedar", "usage: mandate cedar <authorize|run-tests|check-parse> [args]\n"
              "  see `mandate help cedar authorize` and friends\n"},
    {"cedar authorize",
     "usage: mandate cedar authorize --policies P.cedar --entities E.json [--schema S] [--links L.json]\n"
     "                                --request R.json\n"
     "\n"
     "Decides one request.  R.json holds {\"principal\": {\"type\",\"id\"}, \"action\": {...},\n"
     "\"resource\": {...}, \"context\": {...}}.  With --schema (Cedar text, or JSON when the\n"
     "file name ends in .json) entities and context are parsed with the schema and the\n"
     "request is validated against it (--no-validate skips request validation).\n"
     "--links links templates: [{\"template_id\": \"policy0\", \"link_id\": \"l1\",\n"
     "\"args\": {\"?principal\": \"User::\\\"alice\\\"\", \"?resource\": {\"type\": ..., \"id\": ...}}}].\n"
     "Prints {\"decision\":\"allow\"|\"deny\",\"reasons\":[...],\"errors\":[{\"policy\",\"message\"}]}.\n"
     "Exit status: 0 allow, 2 deny, 1 usage or input error.\n"},
    {"cedar run-tests",
     "usage: mandate cedar run-tests [--root DIR] [--verbose] [--files-from LIST|-] FILE.json...\n"
     "\n"
     "Runs Cedar integration-test files (the cedar-integration-tests format); paths\n"
     "inside them are relative to --root.  Compares the decision, the reasons (as a\n"
     "set) and the erroring policy ids (as a set) for every request, prints each\n"
     "disagreement and ends with `N passed, N failed` counting requests.\n"
     "Exit status: 0 when all agree, 1 otherwise.\n"},
    {"cedar check-parse", "usage: mandate cedar check-parse --policies P.cedar [--schema S]\n"
                          "\n"
                          "Exits 0 when the files parse; otherwise prints each error as\n"
                          "file:line:col: message and exits 1.\n"},
};

/* The help text of a command, from this table or a subcommand's file; NULL when there is none. */
static const char *help_text(const char *command)
{
    for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++)
        if (strcmp(helps[i].command, command) == 0) return helps[i].text;
    const char *text = md_cmd_agent_help(command);
    if (text == NULL) text = md_cmd_task_help(command);
    return text != NULL ? text : md_cmd_svid_help(command);
}

void md_cmd_help(const char *command)
{
    const char *text = help_text(command);
    if (text != NULL)
        fputs(text, stdout);
    else
        fprintf(stderr, "mandate: no help for `%s`\n", command);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        md_cmd_help("");
        return 1;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "cedar") == 0) return md_cmd_cedar(argc - 1, argv + 1);
    if (strcmp(cmd, "agent") == 0) return md_cmd_agent(argc - 1, argv + 1);
    if (strcmp(cmd, "svid") == 0) return md_cmd_svid(argc - 1, argv + 1);
    if (strcmp(cmd, "task") == 0) return md_cmd_task(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("mandate %s\n", MANDATE_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        if (argc == 2) {
            md_cmd_help("");
            return 0;
        }
        char buf[256] = "";
        for (int i = 2; i < argc; i++) {
            if (i > 2) strncat(buf, " ", sizeof(buf) - strlen(buf) - 1);
            strncat(buf, argv[i], sizeof(buf) - strlen(buf) - 1);
        }
        const char *text = help_text(buf);
        if (text != NULL) {
            fputs(text, stdout);
            return 0;
        }
        fprintf(stderr, "mandate: unknown command `%s`\n", buf);
        return 1;
    }
    fprintf(stderr, "mandate: unknown command `%s` (see `mandate help`)\n", cmd);
    return 1;
}
