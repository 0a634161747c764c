/*
 * cmd.h: the `mandate` command-line tool's subcommands.
 * Each md_cmd_*() takes argv starting at its own name and returns the exit code.
 */
#ifndef MD_CMD_H
#define MD_CMD_H

int md_cmd_cedar(int argc, char **argv);
/* Print the help text of a command ("cedar", "cedar authorize", ...). */
void md_cmd_help(const char *command);

#endif
