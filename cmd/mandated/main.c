/*
 * main.c: `mandated`, the mandate daemon: command line, configuration
 * check (-n: the file, and the secret files on disk it points at, without
 * creating or changing anything), then src/server runs the daemon until
 * SIGTERM.
 *
 * It runs in the foreground and logs to stderr (run it under a supervisor
 * such as systemd); it writes nothing outside its data directory.  Files it
 * creates are private to its user (umask 077).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/config.h"
#include "core/log.h"
#include "keys/keyfile.h"
#include "keys/keys.h"
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

/*
 * For -n: what start-up would refuse on disk, reported like configuration
 * errors, reading nothing secret and creating or changing nothing: the data
 * dir when it exists (a folder, not a link, ours, private), admin.token in it
 * when it exists, and the KEK when it exists or keys.kek_file names one (a
 * regular private file of ours with one link, exactly 32 bytes, in a folder
 * nobody else can write to).  See keys/keyfile.h.
 */
static void check_files(const md_config_t *cfg, md_conf_diag_t *diag)
{
    int dline = md_config_line(cfg, "data_dir"), kline = md_config_line(cfg, "keys.kek_file");
    md_err_t err = {0};
    int dirfd = -1, fd = -1, rc;

    rc = md_keyfile_dir_open(cfg->data_dir, true, &dirfd, &err);
    if (rc != MD_OK && rc != MD_ENOENT) md_conf_diag_add(diag, cfg->file, dline, "data_dir", "%s", err.msg);
    if (dirfd >= 0) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", cfg->data_dir, MD_KEYFILE_ADMIN_TOKEN);
        md_err_clear(&err);
        rc = md_keyfile_open(dirfd, MD_KEYFILE_ADMIN_TOKEN, path, &fd, &err);
        if (rc != MD_OK && rc != MD_ENOENT)
            md_conf_diag_add(diag, cfg->file, dline, "data_dir", "admin token: %s", err.msg);
        if (fd >= 0) close(fd);
        close(dirfd);
    }
    /* the default KEK is created at the first start; a named one must be there */
    md_err_clear(&err);
    if (md_keys_kek_check(cfg->keys_kek_file, kline > 0, &err) != MD_OK)
        md_conf_diag_add(diag, cfg->file, kline, "keys.kek_file", "%s", err.msg);
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
        check_files(cfg, &diag);
        /* build the snapshot too, so TLS files are loaded and matched */
        md_snapshot_t *snap = NULL;
        int rc = md_snapshot_build(cfg, 0, NULL, &snap, &diag);
        cfg = NULL;
        md_snapshot_unref(snap);
        if (rc != MD_OK || diag.count > 0 || diag.dropped > 0) {
            print_diag(&diag);
            goto out;
        }
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
