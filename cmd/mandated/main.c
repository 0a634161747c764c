/*
 * main.c: `mandated`, the mandate daemon: command line, configuration
 * check (-n), then src/server runs the daemon until SIGTERM.
 *
 * It runs in the foreground and logs to stderr (run it under a supervisor
 * such as systemd); it writes nothing outside its data directory.  Files it
 * creates are private to its user (umask 077).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/event.h>

#include "core/config.h"
#include "core/log.h"
#include "server/server.h"
#include "server/snapshot.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: mandated --config FILE [--data-dir DIR] [--log-format json|text] [-n]\n"
               "       mandated --version | -h\n"
               "\n"
               "  -c, --config FILE       the configuration file (YAML; must be mode 0600 or stricter)\n"
               "  -d, --data-dir DIR      where state lives (overrides data_dir in the file)\n"
               "      --log-format FMT    json or text (overrides log_format in the file)\n"
               "  -n, --check             check the configuration, print `configuration OK` or\n"
               "                          each error, and exit 0 or 1\n"
               "      --new-admin-token   issue a new admin token (replacing the old one) in\n"
               "                          DIR/admin.token, then serve\n"
               "  -V, --version           print the version\n"
               "  -h, --help              this text\n"
               "\n"
               "Signals: SIGHUP reloads the configuration; SIGTERM and SIGINT stop gracefully.\n"
               "See docs/CONFIG.md for every configuration key.\n");
}

static void print_diag(const md_conf_diag_t *diag)
{
    if (diag->text.p != NULL) fputs(diag->text.p, stderr);
    if (diag->dropped > 0) fprintf(stderr, "... and %d more errors\n", diag->dropped);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"data-dir", required_argument, NULL, 'd'},
        {"log-format", required_argument, NULL, 'L'},
        {"check", no_argument, NULL, 'n'},
        {"new-admin-token", no_argument, NULL, 'T'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    md_server_opts_t opts = {NULL, {NULL, -1}, false};
    bool check = false;
    md_conf_diag_t diag;
    md_config_t *cfg = NULL;
    int ch, status = 1;

    umask(077);
    while ((ch = getopt_long(argc, argv, "c:d:nVh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c': opts.config_path = optarg; break;
        case 'd': opts.ov.data_dir = optarg; break;
        case 'L':
            if (strcmp(optarg, "json") == 0)
                opts.ov.log_format = MD_LOG_JSON;
            else if (strcmp(optarg, "text") == 0)
                opts.ov.log_format = MD_LOG_TEXT;
            else {
                fprintf(stderr, "mandated: --log-format must be json or text\n");
                return 1;
            }
            break;
        case 'n': check = true; break;
        case 'T': opts.new_admin_token = true; break;
        case 'V': printf("mandated %s\n", MD_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "mandated: unexpected argument `%s`\n", argv[optind]);
        usage(stderr);
        return 1;
    }
    if (opts.config_path == NULL) {
        fprintf(stderr, "mandated: --config FILE is required\n");
        usage(stderr);
        return 1;
    }
    if (opts.ov.log_format >= 0) md_log_set_format((md_log_format_t)opts.ov.log_format);

    md_conf_diag_init(&diag);
    if (md_config_load(opts.config_path, &opts.ov, &cfg, &diag) != MD_OK) {
        print_diag(&diag);
        goto out;
    }
    if (check) {
        /* build the snapshot too, so TLS files are loaded and matched */
        md_snapshot_t *snap = NULL;
        if (md_snapshot_build(cfg, 0, NULL, &snap, &diag) != MD_OK) {
            cfg = NULL;
            print_diag(&diag);
            goto out;
        }
        cfg = NULL;
        md_snapshot_unref(snap);
        printf("configuration OK\n");
        status = 0;
        goto out;
    }
    status = md_server_run(&opts, cfg);
    cfg = NULL;
    libevent_global_shutdown();
out:
    md_config_free(cfg);
    md_conf_diag_free(&diag);
    return status;
}
