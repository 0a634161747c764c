/*
 * oidc_tool.c: a small driver over src/identity/oidc for the end-to-end test
 * against a real oidc-provider (run.sh).  Not a product tool.
 *
 *   oidc_tool check CONFIG                  build the registry: "configuration OK" or every error
 *   oidc_tool verify CONFIG NOW TOKEN       one blocking verification (fresh registry)
 *   oidc_tool serve CONFIG                  one registry for the whole run; reads commands on stdin:
 *       verify NOW TOKEN      blocking md_oidc_verify()
 *       averify NOW TOKEN     md_oidc_verify_start() on the tool's event_base
 *       stats                 fetches, errors, refreshes refused by the rate limit, keys, per issuer
 *       quit
 *   oidc_tool race CONFIG NOW THREADS TOKEN cold registry, THREADS threads verify TOKEN at once (half
 *                                           blocking, half async on their own event_base)
 * Answers, one line each:  ok SPIFFE_ID OWNER SUBJECT KID   |   refused CODE_NAME message
 * Exit status (verify): 0 ok, 1 refused, 2 usage or setup error.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "core/config.h"
#include "core/log.h"
#include "identity/oidc.h"

static int usage(void)
{
    fprintf(stderr, "usage: oidc_tool check|verify|serve|race ... (see oidc_tool.c)\n");
    return 2;
}

static md_oidc_registry_t *load(const char *path)
{
    md_conf_diag_t d;
    md_config_t *cfg = NULL;
    md_oidc_registry_t *reg = NULL;

    md_conf_diag_init(&d);
    if (md_config_load(path, NULL, &cfg, &d) == MD_OK) {
        if (md_oidc_registry_new(cfg, NULL, &reg, &d) != MD_OK) reg = NULL;
    }
    if (reg == NULL) fprintf(stderr, "%s", d.text.p ? d.text.p : "cannot load the configuration\n");
    md_conf_diag_free(&d);
    md_config_free(cfg);
    return reg;
}

static void print_result(int rc, const md_oidc_result_t *r, const md_err_t *err)
{
    if (rc == MD_OK)
        printf("ok %s %s %s %s\n", r->spiffe_id, r->owner, r->subject ? r->subject : "-",
               r->kid ? r->kid : "-");
    else
        printf("refused %s %s\n", md_oidc_err_name(rc), err->msg);
    fflush(stdout);
}

typedef struct async_call {
    bool done;
    int rc;
    char line[1200];
} async_call_t;

static void async_done(void *arg, int rc, md_oidc_result_t *r, const md_err_t *err)
{
    async_call_t *c = arg;
    c->done = true;
    c->rc = rc;
    if (rc == MD_OK)
        snprintf(c->line, sizeof(c->line), "ok %s %s %s %s", r->spiffe_id, r->owner,
                 r->subject ? r->subject : "-", r->kid ? r->kid : "-");
    else
        snprintf(c->line, sizeof(c->line), "refused %s %s", md_oidc_err_name(rc), err->msg);
}

/* Verify through the async API on base; returns the code and writes the answer line. */
static int verify_async(md_oidc_registry_t *reg, struct event_base *base, int64_t now, const char *token,
                        char *line, size_t linesz)
{
    async_call_t c = {false, 0, ""};
    md_oidc_result_t r = {0};
    md_err_t err = {0};
    md_oidc_wait_t *w = NULL;
    int rc = md_oidc_verify_start(reg, base, md_str_c(token), now, async_done, &c, &w, &r, &err);

    if (rc == MD_OIDC_PENDING) {
        while (!c.done)
            event_base_loop(base, EVLOOP_ONCE);
        snprintf(line, linesz, "%s", c.line);
        return c.rc;
    }
    async_done(&c, rc, &r, &err);
    md_oidc_result_free(&r);
    snprintf(line, linesz, "%s", c.line);
    return rc;
}

static int cmd_serve(const char *config)
{
    md_oidc_registry_t *reg = load(config);
    struct event_base *base;
    char *line = NULL;
    size_t cap = 0;

    if (reg == NULL) return 2;
    if ((base = event_base_new()) == NULL) return 2;
    printf("ready\n");
    fflush(stdout);
    while (getline(&line, &cap, stdin) > 0) {
        char cmd[16] = "", *token;
        long long now = 0;
        line[strcspn(line, "\r\n")] = '\0';
        if (sscanf(line, "%15s", cmd) != 1) continue;
        if (strcmp(cmd, "quit") == 0) break;
        if (strcmp(cmd, "stats") == 0) {
            for (size_t i = 0; i < md_oidc_registry_count(reg); i++) {
                md_oidc_issuer_stats_t st;
                if (md_oidc_registry_stats(reg, i, &st) != MD_OK) continue;
                printf("stats %s fetches=%llu errors=%llu limited=%llu keys=%zu\n", st.issuer,
                       (unsigned long long)st.fetches, (unsigned long long)st.fetch_errors,
                       (unsigned long long)st.refreshes_limited, st.keys);
            }
            printf("end\n");
            fflush(stdout);
            continue;
        }
        if ((strcmp(cmd, "verify") != 0 && strcmp(cmd, "averify") != 0) ||
            sscanf(line, "%*s %lld", &now) != 1 || (token = strchr(line, ' ')) == NULL ||
            (token = strchr(token + 1, ' ')) == NULL) {
            printf("error bad command\n");
            fflush(stdout);
            continue;
        }
        token++;
        if (cmd[0] == 'a') {
            char out[1200];
            (void)verify_async(reg, base, now, token, out, sizeof(out));
            printf("%s\n", out);
            fflush(stdout);
        } else {
            md_oidc_result_t r = {0};
            md_err_t err = {0};
            int rc = md_oidc_verify(reg, md_str_c(token), now, &r, &err);
            print_result(rc, &r, &err);
            md_oidc_result_free(&r);
        }
    }
    free(line);
    event_base_free(base);
    md_oidc_registry_unref(reg);
    return 0;
}

typedef struct racer {
    md_oidc_registry_t *reg;
    const char *token;
    int64_t now;
    bool async;
    pthread_barrier_t *go;
    int rc;
    char line[1200];
} racer_t;

static void *race_one(void *arg)
{
    racer_t *r = arg;
    struct event_base *base = r->async ? event_base_new() : NULL;

    pthread_barrier_wait(r->go);
    if (r->async) {
        r->rc = verify_async(r->reg, base, r->now, r->token, r->line, sizeof(r->line));
        event_base_free(base);
    } else {
        md_oidc_result_t res = {0};
        md_err_t err = {0};
        r->rc = md_oidc_verify(r->reg, md_str_c(r->token), r->now, &res, &err);
        snprintf(r->line, sizeof(r->line), "%s %s", md_oidc_err_name(r->rc),
                 r->rc == MD_OK ? res.spiffe_id : err.msg);
        md_oidc_result_free(&res);
    }
    return NULL;
}

static int cmd_race(const char *config, int64_t now, int n, const char *token)
{
    md_oidc_registry_t *reg = load(config);
    pthread_t *th = calloc((size_t)n, sizeof(*th));
    racer_t *rs = calloc((size_t)n, sizeof(*rs));
    pthread_barrier_t go;
    int ok = 0;

    if (reg == NULL || th == NULL || rs == NULL) return 2;
    pthread_barrier_init(&go, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        rs[i] = (racer_t){reg, token, now, i % 2 == 1, &go, 0, ""};
        if (pthread_create(&th[i], NULL, race_one, &rs[i]) != 0) return 2;
    }
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        if (rs[i].rc == MD_OK)
            ok++;
        else
            fprintf(stderr, "racer %d: %s\n", i, rs[i].line);
    }
    pthread_barrier_destroy(&go);
    printf("race %d of %d ok\n", ok, n);
    md_oidc_registry_unref(reg);
    free(th);
    free(rs);
    return ok == n ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) return usage();
    md_log_set_level(MD_LOG_WARN);
    if (evthread_use_pthreads() != 0) return 2; /* before any event_base, as the daemon does */
    if (strcmp(argv[1], "check") == 0 && argc == 3) {
        md_oidc_registry_t *reg = load(argv[2]);
        if (reg == NULL) return 1;
        printf("configuration OK\n");
        md_oidc_registry_unref(reg);
        return 0;
    }
    if (strcmp(argv[1], "verify") == 0 && argc == 5) {
        md_oidc_registry_t *reg = load(argv[2]);
        md_oidc_result_t r = {0};
        md_err_t err = {0};
        if (reg == NULL) return 2;
        int rc = md_oidc_verify(reg, md_str_c(argv[4]), strtoll(argv[3], NULL, 10), &r, &err);
        print_result(rc, &r, &err);
        md_oidc_result_free(&r);
        md_oidc_registry_unref(reg);
        return rc == MD_OK ? 0 : 1;
    }
    if (strcmp(argv[1], "serve") == 0 && argc == 3) return cmd_serve(argv[2]);
    if (strcmp(argv[1], "race") == 0 && argc == 6)
        return cmd_race(argv[2], strtoll(argv[3], NULL, 10), atoi(argv[4]), argv[5]);
    return usage();
}
