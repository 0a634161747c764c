/*
 * svid_client.c: load for the Workload API.  THREADS threads each send
 * POST /v1/svid over the Unix socket for SECONDS seconds and count the
 * JWT-SVIDs they get; every answer other than 200 is counted as an error.
 *
 *   svid_client SOCKET SECONDS THREADS keepalive|connect
 *
 * keepalive: one connection per thread, requests back to back on it (each
 *            request is still attested on its own);
 * connect:   a new connection per request, as `mandate svid fetch` does.
 * Prints one line: svids=N errors=N per_s=R p50_us=X p99_us=Y.
 */
#include <errno.h>
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

static const char *sock_path;
static double seconds;
static int keepalive;
static atomic_long ok_count, err_count;
static double *lat; /* microseconds, all threads */
static atomic_long nlat;

static const char body[] = "{\"audience\":[\"bench\"]}";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dial(void)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

/* One request on fd; 1 for a 200, 0 for another status, -1 when the connection failed. */
static int one(int fd, char *buf, size_t bufsz)
{
    char req[256];
    int n = snprintf(req, sizeof(req),
                     "POST /v1/svid HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n%s\r\n%s",
                     sizeof(body) - 1, keepalive ? "" : "Connection: close\r\n", body);
    if (write(fd, req, (size_t)n) != n) return -1;
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, buf + got, bufsz - 1 - got);
        if (r <= 0) return -1;
        got += (size_t)r;
        buf[got] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end == NULL) continue;
        char *cl = strcasestr(buf, "\r\nContent-Length:");
        if (cl == NULL) return -1;
        size_t want = (size_t)(end + 4 - buf) + strtoul(cl + 17, NULL, 10);
        if (got < want) continue;
        return strncmp(buf, "HTTP/1.1 200 ", 13) == 0 ? 1 : 0;
    }
}

static void *run(void *arg)
{
    char buf[16384];
    double end = now_s() + seconds;
    int fd = -1;
    (void)arg;
    while (now_s() < end) {
        if (fd < 0 && (fd = dial()) < 0) {
            atomic_fetch_add(&err_count, 1);
            continue;
        }
        double t0 = now_s();
        int r = one(fd, buf, sizeof(buf));
        double us = (now_s() - t0) * 1e6;
        if (r == 1) {
            atomic_fetch_add(&ok_count, 1);
            long i = atomic_fetch_add(&nlat, 1);
            if (i < LAT_MAX) lat[i] = us;
        } else
            atomic_fetch_add(&err_count, 1);
        if (r < 0 || !keepalive) {
            close(fd);
            fd = -1;
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

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: svid_client SOCKET SECONDS THREADS keepalive|connect\n");
        return 1;
    }
    sock_path = argv[1];
    seconds = atof(argv[2]);
    int threads = atoi(argv[3]);
    keepalive = strcmp(argv[4], "keepalive") == 0;
    if (threads < 1 || threads > 256 || seconds <= 0) return 1;
    lat = calloc(LAT_MAX, sizeof(*lat));
    pthread_t t[256];
    double t0 = now_s();
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, run, NULL);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    double el = now_s() - t0;
    long n = atomic_load(&nlat) < LAT_MAX ? atomic_load(&nlat) : LAT_MAX;
    qsort(lat, (size_t)n, sizeof(*lat), cmp);
    printf("svids=%ld errors=%ld per_s=%.0f p50_us=%.0f p99_us=%.0f\n", atomic_load(&ok_count),
           atomic_load(&err_count), (double)atomic_load(&ok_count) / el, n ? lat[n / 2] : 0.0,
           n ? lat[(size_t)((double)n * 0.99)] : 0.0);
    free(lat);
    return 0;
}
