/*
 * server.h: the mandated daemon's serving process.
 *
 * md_server_run() owns the daemon's life once the configuration has been
 * read: it prepares the data directory (0700) and its lock, opens and
 * migrates the store, makes sure an admin token exists, binds the listening
 * socket, starts the worker threads and then waits for signals:
 *
 *   SIGHUP           reload the config file: build a new snapshot beside the
 *                    running one and swap it in; an invalid file is logged
 *                    and the running configuration kept
 *   SIGTERM, SIGINT  stop accepting, let requests in flight finish, exit 0
 *
 * Nothing is written outside the data directory; logs go to stderr.
 */
#ifndef MD_SERVER_SERVER_H
#define MD_SERVER_SERVER_H

#include <stdbool.h>

#include "core/config.h"

#define MD_VERSION "0.1.0"

typedef struct md_server_opts {
    const char *config_path;  /* re-read on SIGHUP */
    md_config_overrides_t ov; /* re-applied on SIGHUP */
    bool new_admin_token;     /* issue a new admin token, replacing the old one */
} md_server_opts_t;

/*
 * Run the daemon with cfg (taken over).  Returns the process exit status:
 * 0 after a graceful stop, 1 when start-up failed (the reason is logged).
 */
int md_server_run(const md_server_opts_t *opts, md_config_t *cfg);

#endif
