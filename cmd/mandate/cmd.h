/*
 * cmd.h: the `mandate` command-line tool's subcommands.
 * Each md_cmd_*() takes argv starting at its own name and returns the exit code.
 */
#ifndef MD_CMD_H
#define MD_CMD_H

int md_cmd_cedar(int argc, char **argv);
/* `mandate agent ...` (agent_cmd.c): the agent registry through mandated's admin API. */
int md_cmd_agent(int argc, char **argv);
/* The help text of "agent", "agent register", ...; NULL when command is not one of them. */
const char *md_cmd_agent_help(const char *command);
/* `mandate svid ...` (svid_cmd.c): JWT-SVIDs and their keys from mandated's Workload API socket. */
int md_cmd_svid(int argc, char **argv);
/* The help text of "svid", "svid fetch", "svid bundle"; NULL when command is not one of them. */
const char *md_cmd_svid_help(const char *command);
/* `mandate task ...` (task_cmd.c): tasks and mandates, as an agent (SVID) or an administrator. */
int md_cmd_task(int argc, char **argv);
/* The help text of "task", "task start", ..., and "agent quarantine"; NULL for any other command. */
const char *md_cmd_task_help(const char *command);
/* `mandate agent quarantine ID` (task_cmd.c; argv starts at "quarantine"). */
int md_cmd_agent_quarantine(int argc, char **argv);
/* Print the help text of a command ("cedar", "cedar authorize", ...). */
void md_cmd_help(const char *command);

#endif
