/*
 * task_client.c: load for tasks and delegation through a running mandated.
 *
 *   task_client SOCKET PORT ISSUER ADMIN_TOKEN_FILE SECONDS THREADS TREE
 *
 * Gets its JWT-SVID from the Workload API (it must be registered by its own
 * hash), then over TCP (keep-alive, one connection per thread):
 *   1. starts tasks (POST /v1/tasks) for SECONDS seconds on THREADS threads;
 *   2. exchanges one root mandate for child mandates (POST /oauth/token,
 *      RFC 8693, the agent delegating to itself) for SECONDS seconds;
 *   3. builds a tree of TREE descendants under a new root (delegations of
 *      delegations, 10 per node, depth <= 4), then revokes the root through
 *      the admin API and times that call, and checks that a leaf introspects
 *      inactive.
 * Prints one line: key=value pairs (rates per second, p50/p99 in µs, ms).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LAT_MAX (1 << 20)
#define BUF (64 * 1024)

static const char *sock_path, *issuer;
static int port, nthreads;
static double seconds;
static char svid[4096], admin[256], root_mandate[4096];
static atomic_long ok_count, err_count, nlat;
static double *lat;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dial_tcp(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* One request; the body of the answer into out.  Returns the status, or -1. */
static int request(int fd, const char *head, const char *body, char *out, size_t outsz)
{
    char *req = malloc(strlen(head) + strlen(body) + 64);
    int n = sprintf(req, "%sContent-Length: %zu\r\n\r\n%s", head, strlen(body), body);
    ssize_t w = write(fd, req, (size_t)n);
    free(req);
    if (w != n) return -1;
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, out + got, outsz - 1 - got);
        if (r <= 0) return -1;
        got += (size_t)r;
        out[got] = '\0';
        char *end = strstr(out, "\r\n\r\n"), *cl = strcasestr(out, "\r\nContent-Length:");
        if (end == NULL || cl == NULL) continue;
        size_t hl = (size_t)(end + 4 - out), want = hl + strtoul(cl + 17, NULL, 10);
        if (got < want) continue;
        int status = atoi(out + 9);
        memmove(out, out + hl, got - hl);
        out[got - hl] = '\0';
        return status;
    }
}

/* The string value of "key":"..." in JSON text (no escapes in what we read). */
static int json_str(const char *j, const char *key, char *out, size_t outsz)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    const char *p = strstr(j, pat);
    if (p == NULL) return -1;
    p += strlen(pat);
    const char *e = strchr(p, '"');
    if (e == NULL || (size_t)(e - p) >= outsz) return -1;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return 0;
}

static int start_task(int fd, char *mandate, size_t msz, char *id, size_t idsz)
{
    static char out[BUF];
    char head[4608];
    snprintf(head, sizeof(head),
             "POST /v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: "
             "application/json\r\n",
             svid);
    int st =
        request(fd, head, "{\"intent\":\"bench\",\"scope\":[\"tickets:read\"],\"audience\":\"tickets-api\"}",
                out, sizeof(out));
    if (st != 201) return -1;
    if (mandate != NULL && json_str(out, "mandate", mandate, msz) != 0) return -1;
    if (id != NULL && json_str(out, "task_id", id, idsz) != 0) return -1;
    return 0;
}

static int exchange(int fd, const char *parent, char *child, size_t csz, char *out, size_t outsz)
{
    char head[4608], *body = malloc(16384);
    snprintf(head, sizeof(head),
             "POST /oauth/token HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: application/x-www-form-urlencoded\r\n",
             svid);
    snprintf(body, 16384,
             "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Atoken-exchange&subject_token=%s"
             "&subject_token_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Atoken-type%%3Aaccess_token&actor_token=%s"
             "&actor_token_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Atoken-type%%3Ajwt",
             parent, svid);
    int st = request(fd, head, body, out, outsz);
    free(body);
    if (st != 200) return -1;
    return child == NULL ? 0 : json_str(out, "access_token", child, csz);
}

typedef enum { PHASE_START, PHASE_EXCHANGE } phase_t;
static phase_t phase;

static void *run(void *arg)
{
    char out[BUF], child[4096];
    double end = now_s() + seconds;
    int fd = dial_tcp();
    (void)arg;
    while (fd >= 0 && now_s() < end) {
        double t0 = now_s();
        int r = phase == PHASE_START ? start_task(fd, NULL, 0, NULL, 0)
                                     : exchange(fd, root_mandate, child, sizeof(child), out, sizeof(out));
        double us = (now_s() - t0) * 1e6;
        if (r == 0) {
            atomic_fetch_add(&ok_count, 1);
            long i = atomic_fetch_add(&nlat, 1);
            if (i < LAT_MAX) lat[i] = us;
        } else {
            atomic_fetch_add(&err_count, 1);
            close(fd);
            fd = dial_tcp();
        }
    }
    if (fd >= 0) close(fd);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void measure(const char *name)
{
    pthread_t t[64];
    atomic_store(&ok_count, 0);
    atomic_store(&err_count, 0);
    atomic_store(&nlat, 0);
    double t0 = now_s();
    for (int i = 0; i < nthreads; i++)
        pthread_create(&t[i], NULL, run, NULL);
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    double el = now_s() - t0;
    long n = atomic_load(&nlat) < LAT_MAX ? atomic_load(&nlat) : LAT_MAX;
    qsort(lat, (size_t)n, sizeof(*lat), cmp);
    printf("%s_per_s=%.0f %s_p50_us=%.0f %s_p99_us=%.0f %s_errors=%ld ", name,
           (double)atomic_load(&ok_count) / el, name, n ? lat[n / 2] : 0.0, name,
           n ? lat[(size_t)((double)n * 0.99)] : 0.0, name, atomic_load(&err_count));
    fflush(stdout);
}

static int fetch_svid(void)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char body[256], head[256], out[BUF];
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) return -1;
    snprintf(body, sizeof(body), "{\"audience\":\"%s\",\"ttl\":3600}", issuer);
    snprintf(head, sizeof(head),
             "POST /v1/svid HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n");
    int st = request(fd, head, body, out, sizeof(out));
    close(fd);
    return st == 200 ? json_str(out, "svid", svid, sizeof(svid)) : -1;
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: task_client SOCKET PORT ISSUER ADMIN_TOKEN_FILE SECONDS THREADS TREE\n");
        return 1;
    }
    sock_path = argv[1];
    port = atoi(argv[2]);
    issuer = argv[3];
    seconds = atof(argv[5]);
    nthreads = atoi(argv[6]);
    int tree = atoi(argv[7]);
    FILE *f = fopen(argv[4], "r");
    if (f == NULL || fgets(admin, sizeof(admin), f) == NULL) return 1;
    fclose(f);
    admin[strcspn(admin, "\r\n")] = '\0';
    if (nthreads < 1 || nthreads > 64 || fetch_svid() != 0) {
        fprintf(stderr, "task_client: no SVID (is this binary registered?)\n");
        return 1;
    }
    lat = calloc(LAT_MAX, sizeof(*lat));
    int fd = dial_tcp();
    char id[64], out[BUF];
    if (fd < 0 || start_task(fd, root_mandate, sizeof(root_mandate), id, sizeof(id)) != 0) {
        fprintf(stderr, "task_client: cannot start a task\n");
        return 1;
    }
    phase = PHASE_START;
    measure("start");
    phase = PHASE_EXCHANGE;
    measure("exchange");

    /* the tree: breadth-first, 10 children per node, until TREE descendants */
    char root_id[64], (*level)[4096] = malloc(sizeof(*level) * (size_t)(tree + 1));
    if (start_task(fd, level[0], sizeof(level[0]), root_id, sizeof(root_id)) != 0) return 1;
    int made = 0, head = 0, count = 1;
    double tb = now_s();
    while (made < tree && head < count) {
        for (int k = 0; k < 10 && made < tree; k++) {
            if (exchange(fd, level[head], level[count], sizeof(level[count]), out, sizeof(out)) != 0) {
                fprintf(stderr, "task_client: exchange %d failed: %s\n", made, out);
                return 1;
            }
            count++;
            made++;
        }
        head++;
    }
    double build_s = now_s() - tb;
    char hdr[512];
    snprintf(hdr, sizeof(hdr),
             "POST /v1/admin/tasks/%s/revoke HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: application/json\r\n",
             root_id, admin);
    double t0 = now_s();
    int st = request(fd, hdr, "{\"reason\":\"bench\"}", out, sizeof(out));
    double revoke_ms = (now_s() - t0) * 1e3;
    /* a leaf must now introspect inactive */
    char *body = malloc(8192);
    snprintf(hdr, sizeof(hdr),
             "POST /oauth/introspect HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: application/x-www-form-urlencoded\r\n",
             admin);
    snprintf(body, 8192, "token=%s", level[count - 1]);
    int st2 = request(fd, hdr, body, out, sizeof(out));
    int inactive = st2 == 200 && strstr(out, "\"active\":false") != NULL;
    printf("tree_descendants=%d tree_build_s=%.1f revoke_status=%d revoke_tree_ms=%.1f leaf_inactive=%d\n",
           made, build_s, st, revoke_ms, inactive);
    free(body);
    free(level);
    close(fd);
    return st == 200 && inactive ? 0 : 2;
}
