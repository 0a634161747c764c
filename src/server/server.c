/*
 * server.c: the daemon's life: start-up, worker threads, signals, reload,
 * graceful stop (see server.h).
 *
 * Threads: the main thread blocks SIGHUP/SIGINT/SIGTERM before it starts
 * any other thread (so every thread inherits the mask) and then takes them
 * with sigtimedwait(); signal handlers never run.  Each worker runs its own
 * event_base and accepts from the one listening socket, which the main
 * thread bound (a conflict on the port fails start-up with a clear message,
 * and no other process can join the port the way SO_REUSEPORT would allow).
 *
 * Reload: the main thread builds a new snapshot beside the running one; on
 * success it hands each worker a reference through worker->pending (an
 * atomic exchange) and wakes it; the worker swaps it in between requests.
 * On failure the errors are logged and nothing changes.
 *
 * Signing keys: the main thread owns the key manager (src/keys/: the KEK and
 * the mutable key set) and its own store connection; workers never touch
 * either.  sigtimedwait() doubles as the rotation timer: it returns when the
 * schedule next changes something (at most 60 s later), the main thread
 * applies the schedule, and when the set changed (persisted first) it hands
 * each worker the new immutable view through worker->keys_pending, exactly
 * like a snapshot.  Requests read their worker's view without any lock.
 *
 * Stop: each worker frees its listener (the last one closes the socket, so
 * the port closes at once), closes idle connections, lets requests in
 * flight finish (answers then carry Connection: close) and exits its loop
 * when no connection is left, or at the grace deadline.
 */
#include "server/server_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/thread.h>
#include <openssl/rand.h>

#include "core/log.h"
#include "server/metrics.h"
#include "token/dpop.h"
#include "token/tcache.h"

#define ACCEPT_PAUSE_MS 100

/* ---- start-up helpers ---- */

/* mkdir -p with mode 0700; the final folder must be ours and private. */
static int prepare_data_dir(const char *dir, md_err_t *err)
{
    char path[PATH_MAX];
    struct stat st;
    size_t n = strlen(dir);

    if (n == 0 || n >= sizeof(path)) return md_err_set(err, MD_EINVAL, "data dir: bad path");
    memcpy(path, dir, n + 1);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return md_err_set(err, MD_EIO, "data dir: mkdir %s: %s", path, strerror(errno));
        *p = '/';
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return md_err_set(err, MD_EIO, "data dir: mkdir %s: %s", path, strerror(errno));
    if (lstat(dir, &st) != 0) return md_err_set(err, MD_EIO, "data dir %s: %s", dir, strerror(errno));
    if (S_ISLNK(st.st_mode))
        return md_err_set(err, MD_EINVAL, "data dir %s is a symbolic link: give the real path", dir);
    if (!S_ISDIR(st.st_mode)) return md_err_set(err, MD_EINVAL, "data dir %s: not a directory", dir);
    if (st.st_uid != geteuid())
        return md_err_set(err, MD_EINVAL,
                          "data dir %s: owned by uid %u, not by the user running mandated (%u)", dir,
                          (unsigned)st.st_uid, (unsigned)geteuid());
    if (st.st_mode & (S_IRWXG | S_IRWXO))
        return md_err_set(
            err, MD_EINVAL,
            "data dir %s: mode %04o is too open: it must be private to its owner (chmod 700 %s)", dir,
            (unsigned)(st.st_mode & 07777), dir);
    return MD_OK;
}

/* One daemon per data dir: an flock held for the process's life. */
static int take_lock(const char *dir, int *out, md_err_t *err)
{
    char path[PATH_MAX], pid[32] = "";
    int fd;

    if ((size_t)snprintf(path, sizeof(path), "%s/mandated.lock", dir) >= sizeof(path))
        return md_err_set(err, MD_EINVAL, "data dir: path too long");
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return md_err_set(err, MD_EIO, "%s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        ssize_t r = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[r > 0 ? r : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(fd);
        return md_err_set(err, MD_EIO, "another mandated (pid %s) is running with data dir %s",
                          pid[0] ? pid : "?", dir);
    }
    if (ftruncate(fd, 0) == 0) dprintf(fd, "%ld\n", (long)getpid());
    *out = fd;
    return MD_OK;
}

static int bind_listener(const char *listen_on, int *out, md_err_t *err)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    char msg[256];
    int fd = -1, one = 1;

    if (md_listen_parse(listen_on, &ss, &len, msg, sizeof(msg)) != 0)
        return md_err_set(err, MD_EINVAL, "listen: %s", msg);
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return md_err_set(err, MD_EIO, "listen %s: socket: %s", listen_on, strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 511) != 0) {
        md_err_set(err, MD_EIO, "cannot listen on %s: %s", listen_on, strerror(errno));
        close(fd);
        return MD_EIO;
    }
    *out = fd;
    return MD_OK;
}

/*
 * The Workload API socket.  A file already at the path is replaced only when
 * it is a socket nobody answers on (a previous mandated that did not clean
 * up); a live socket (another daemon) or anything else is an error.  The
 * socket is made under umask 0177 and then opened to everyone (0666): who
 * may connect is decided by the folder it is in (the default, the data dir,
 * is private to mandated's user), and what a caller gets by attestation.
 */
static int bind_workload(const char *path, int *out, dev_t *dev, ino_t *ino, md_err_t *err)
{
    struct sockaddr_un sun;
    struct stat st;
    mode_t old;
    int fd, rc;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun.sun_path))
        return md_err_set(err, MD_EINVAL, "workload.socket %s: path too long", path);
    memcpy(sun.sun_path, path, strlen(path) + 1);
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return md_err_set(err, MD_EINVAL, "workload.socket %s exists and is not a socket: remove it",
                              path);
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe < 0) return md_err_set(err, MD_EIO, "workload.socket: socket: %s", strerror(errno));
        rc = connect(probe, (struct sockaddr *)&sun, sizeof(sun));
        int e = errno;
        close(probe);
        if (rc == 0) return md_err_set(err, MD_EIO, "workload.socket %s: another process serves it", path);
        if (e != ECONNREFUSED)
            return md_err_set(err, MD_EIO, "workload.socket %s: cannot tell whether it is in use: %s", path,
                              strerror(e));
        if (unlink(path) != 0)
            return md_err_set(err, MD_EIO, "workload.socket %s: cannot remove the stale socket: %s", path,
                              strerror(errno));
        md_log_info("workload.socket %s: removed a stale socket", path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return md_err_set(err, MD_EIO, "workload.socket: socket: %s", strerror(errno));
    old = umask(0177); /* only the main thread runs yet */
    rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old);
    if (rc != 0 || listen(fd, 511) != 0 || chmod(path, 0666) != 0 || stat(path, &st) != 0) {
        md_err_set(err, MD_EIO, "cannot listen on workload.socket %s: %s", path, strerror(errno));
        if (rc == 0) unlink(path);
        close(fd);
        return MD_EIO;
    }
    *dev = st.st_dev;
    *ino = st.st_ino;
    *out = fd;
    return MD_OK;
}

/* Remove the socket file at exit, if it is still the one we made. */
static void unlink_workload(md_server_t *srv)
{
    struct stat st;
    if (srv->workload_path == NULL || srv->workload_ino == 0) return;
    if (lstat(srv->workload_path, &st) == 0 && st.st_dev == srv->workload_dev &&
        st.st_ino == srv->workload_ino)
        unlink(srv->workload_path);
}

/* Make room for max_connections descriptors if the hard limit allows. */
static void check_fd_limit(int64_t max_connections)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)max_connections + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    if (rl.rlim_cur < want) {
        rlim_t cur = rl.rlim_cur;
        rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) rl.rlim_cur = cur;
    }
    if (rl.rlim_cur < want)
        md_log_warn("limits.max_connections is %lld but only %llu file descriptors are allowed (ulimit -n)",
                    (long long)max_connections, (unsigned long long)rl.rlim_cur);
}

static void log_diag(const md_conf_diag_t *diag, const char *prefix)
{
    const char *p = diag->text.p;
    while (p != NULL && *p) {
        const char *e = strchr(p, '\n');
        int n = e ? (int)(e - p) : (int)strlen(p);
        md_log_error("%s%.*s", prefix, n, p);
        p = e ? e + 1 : NULL;
    }
    if (diag->dropped > 0) md_log_error("%s... and %d more errors", prefix, diag->dropped);
}

static void close_listen_fd(md_server_t *srv)
{
    int fd = atomic_exchange(&srv->listen_fd, -1);
    if (fd >= 0) close(fd);
    fd = atomic_exchange(&srv->workload_fd, -1);
    if (fd >= 0) close(fd);
}

/* ---- worker threads ---- */

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    md_http_accept(arg, fd, sa, salen, false);
}

static void on_accept_workload(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                               void *arg)
{
    md_http_accept(arg, fd, sa, salen, true);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    md_worker_t *w = arg;
    if (w->stopping) return;
    if (w->listener != NULL) evconnlistener_enable(w->listener);
    if (w->wlistener != NULL) evconnlistener_enable(w->wlistener);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    md_worker_t *w = arg;
    int e = EVUTIL_SOCKET_ERROR();
    static _Thread_local time_t last;
    struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};

    if (time(NULL) != last) {
        last = time(NULL);
        md_log_warn("accept: %s%s", strerror(e),
                    e == EMFILE || e == ENFILE
                        ? " (pausing accepts; raise ulimit -n or lower limits.max_connections)"
                        : "");
    }
    /* out of descriptors or memory: stop polling the sockets for a moment rather than spin */
    if (w->listener != NULL) evconnlistener_disable(w->listener);
    if (w->wlistener != NULL) evconnlistener_disable(w->wlistener);
    evtimer_add(w->resume, &tv);
}

static void stop_now(md_worker_t *w)
{
    while (w->conns != NULL)
        md_http_conn_free(w->conns);
    event_base_loopexit(w->base, NULL);
}

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
    md_worker_t *w = arg;
    md_log_warn("worker %d: %zu connections still busy at the shutdown deadline; closing them", w->id,
                w->nconns);
    stop_now(w);
}

static void begin_stop(md_worker_t *w)
{
    md_server_t *srv = w->srv;
    const md_config_t *cfg = w->snap->config;
    int64_t ms = cfg->header_timeout + cfg->body_timeout + 1000;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};

    w->stopping = true;
    if (w->listener != NULL) {
        evconnlistener_free(w->listener);
        w->listener = NULL;
        if (w->wlistener != NULL) evconnlistener_free(w->wlistener);
        w->wlistener = NULL;
        if (atomic_fetch_sub(&srv->listeners_live, 1) == 1) close_listen_fd(srv);
    }
    evtimer_del(w->resume);
    md_http_worker_stop(w);
    if (w->nconns == 0) {
        event_base_loopexit(w->base, NULL);
        return;
    }
    if (evtimer_add(w->grace, &tv) != 0) stop_now(w);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    md_worker_t *w = arg;
    md_snapshot_t *next = atomic_exchange(&w->pending, NULL);
    md_keys_view_t *keys = atomic_exchange(&w->keys_pending, NULL);
    if (next != NULL) {
        md_snapshot_unref(w->snap);
        w->snap = next;
    }
    if (keys != NULL) {
        md_keys_view_unref(w->keys);
        w->keys = keys;
    }
    if (atomic_load(&w->stop) && !w->stopping) begin_stop(w);
}

static void *worker_main(void *arg)
{
    md_worker_t *w = arg;
    event_base_dispatch(w->base);
    while (w->conns != NULL)
        md_http_conn_free(w->conns);
    return NULL;
}

static int worker_init(md_server_t *srv, md_worker_t *w, int id, md_err_t *err)
{
    md_store_opts_t so = {MD_STORE_SQLITE, srv->snap->config->store_path, 5000};

    w->srv = srv;
    w->id = id;
    atomic_init(&w->pending, NULL);
    atomic_init(&w->keys_pending, NULL);
    atomic_init(&w->stop, false);
    w->snap = md_snapshot_ref(srv->snap);
    w->keys = md_keys_current(srv->keys);
    if (RAND_bytes((unsigned char *)&w->rid_prefix, sizeof(w->rid_prefix)) != 1) w->rid_prefix = (uint32_t)id;
    w->base = event_base_new();
    if (w->base == NULL) return md_err_set(err, MD_ENOMEM, "worker %d: event_base_new failed", id);
    w->wake = event_new(w->base, -1, 0, on_wake, w);
    w->grace = evtimer_new(w->base, on_grace, w);
    w->resume = evtimer_new(w->base, on_resume, w);
    if (w->wake == NULL || w->grace == NULL || w->resume == NULL)
        return md_err_set(err, MD_ENOMEM, "worker %d: out of memory", id);
    w->listener =
        evconnlistener_new(w->base, on_accept, w, LEV_OPT_CLOSE_ON_EXEC, 0, atomic_load(&srv->listen_fd));
    if (w->listener == NULL)
        return md_err_set(err, MD_EIO, "worker %d: cannot watch the listening socket", id);
    evconnlistener_set_error_cb(w->listener, on_accept_error);
    w->wlistener = evconnlistener_new(w->base, on_accept_workload, w, LEV_OPT_CLOSE_ON_EXEC, 0,
                                      atomic_load(&srv->workload_fd));
    if (w->wlistener == NULL) {
        evconnlistener_free(w->listener);
        w->listener = NULL;
        return md_err_set(err, MD_EIO, "worker %d: cannot watch the workload socket", id);
    }
    evconnlistener_set_error_cb(w->wlistener, on_accept_error);
    md_arena_init(&w->reg_arena, 16384);
    atomic_fetch_add(&srv->listeners_live, 1);
    return md_store_open(&so, &w->store, err);
}

static void worker_free(md_worker_t *w)
{
    if (w->listener != NULL) {
        evconnlistener_free(w->listener);
        w->listener = NULL;
        atomic_fetch_sub(&w->srv->listeners_live, 1);
    }
    if (w->wlistener != NULL) evconnlistener_free(w->wlistener);
    w->wlistener = NULL;
    md_workload_worker_free(w);
    md_tcache_free(w->svid_cache);
    md_cedar_ctx_free(w->cedar);
    while (w->conns != NULL)
        md_http_conn_free(w->conns);
    if (w->wake) event_free(w->wake);
    if (w->grace) event_free(w->grace);
    if (w->resume) event_free(w->resume);
    if (w->base) event_base_free(w->base);
    md_store_close(w->store);
    md_snapshot_unref(w->snap);
    md_snapshot_unref(atomic_exchange(&w->pending, NULL));
    md_keys_view_unref(w->keys);
    md_keys_view_unref(atomic_exchange(&w->keys_pending, NULL));
    memset(w, 0, sizeof(*w));
}

static int worker_count(int64_t configured)
{
    long n = configured > 0 ? (long)configured : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    if (n > MD_WORKERS_MAX) n = MD_WORKERS_MAX;
    return (int)n;
}

static void stop_workers(md_server_t *srv)
{
    for (int i = 0; i < srv->nworkers; i++) {
        md_worker_t *w = &srv->workers[i];
        if (!w->started) continue;
        atomic_store(&w->stop, true);
        event_active(w->wake, EV_READ, 0);
    }
    for (int i = 0; i < srv->nworkers; i++) {
        md_worker_t *w = &srv->workers[i];
        if (!w->started) continue;
        pthread_join(w->thread, NULL);
        w->started = false;
    }
}

/* ---- signing keys ---- */

/* Open the key manager on the main thread's store connection (start-up). */
static int keys_start(md_server_t *srv, md_err_t *err)
{
    const md_config_t *cfg = srv->snap->config;
    md_keys_opts_t ko;

    memset(&ko, 0, sizeof(ko));
    ko.kek_file = cfg->keys_kek_file;
    /* only the default file is created; a file the config names must be provided */
    ko.create_kek = md_config_line(cfg, "keys.kek_file") == 0;
    md_keys_policy_from_config(cfg, &ko.policy);
    if (ko.policy.rotation_period < 3600)
        md_log_warn("keys.rotation_period is %llds: periods this short are meant for tests",
                    (long long)ko.policy.rotation_period);
    int rc = md_keys_open(srv->main_store, &ko, (int64_t)time(NULL), &srv->keys, err);
    if (rc != MD_OK) return rc;
    md_keys_view_t *v = md_keys_current(srv->keys);
    md_log_info("signing keys: %zu published, signing with %s (%s, rotation every %llds)",
                md_keys_view_count(v), md_keys_view_signer_kid(v) ? md_keys_view_signer_kid(v) : "none",
                md_jose_alg_name(ko.policy.alg), (long long)ko.policy.rotation_period);
    md_keys_view_unref(v);
    return MD_OK;
}

/* Hand every worker the latest view of the keys (as reload hands over snapshots). */
static void keys_publish(md_server_t *srv)
{
    for (int i = 0; i < srv->nworkers; i++) {
        md_worker_t *w = &srv->workers[i];
        md_keys_view_unref(atomic_exchange(&w->keys_pending, md_keys_current(srv->keys)));
        event_active(w->wake, EV_READ, 0);
    }
}

/* Apply the rotation schedule now; publish what changed. */
static void keys_tick(md_server_t *srv)
{
    md_keyset_policy_t policy;
    md_err_t err = {0};
    bool published = false;

    md_keys_policy_from_config(srv->snap->config, &policy);
    if (md_keys_tick(srv->keys, srv->main_store, &policy, (int64_t)time(NULL), &published, &err) != MD_OK) {
        md_log_error("signing keys: rotation failed, keeping the published keys (retrying): %s", err.msg);
        return;
    }
    if (!published) return;
    md_keys_view_t *v = md_keys_current(srv->keys);
    md_buf_t kids;
    md_buf_init(&kids);
    for (size_t i = 0; i < md_keys_view_count(v); i++) {
        md_keyset_entry_t e = md_keys_view_entry(v, i);
        md_buf_printf(&kids, "%s%s (%s)", i ? ", " : "", md_jwk_kid(e.key),
                      e.state == MD_KEY_NEXT     ? "next"
                      : e.state == MD_KEY_ACTIVE ? "active"
                                                 : "retired");
    }
    md_log_info("signing keys: generation %llu published: %s", (unsigned long long)md_keys_view_generation(v),
                kids.p ? kids.p : "no keys");
    md_buf_free(&kids);
    md_keys_view_unref(v);
    keys_publish(srv);
}

/* How long the main thread may wait for a signal before the schedule needs it. */
static struct timespec keys_wait(md_server_t *srv)
{
    md_keyset_policy_t policy;
    struct timespec now, ts;

    md_keys_policy_from_config(srv->snap->config, &policy);
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t due = md_keys_next_due(srv->keys, &policy, (int64_t)now.tv_sec);
    /* the schedule counts whole seconds: wake just after the second it names */
    int64_t ns = (due - (int64_t)now.tv_sec) * 1000000000LL - now.tv_nsec + 20000000LL;
    if (ns < 10000000LL) ns = 10000000LL;
    ts.tv_sec = (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    return ts;
}

/* ---- reload ---- */

static void restart_key_changed(const char *key, void *arg)
{
    md_log_warn("reload: `%s` changed; that takes effect only after a restart (the running value is kept)",
                key);
}

static void reload(md_server_t *srv)
{
    md_conf_diag_t diag;
    md_config_t *cfg = NULL;
    md_snapshot_t *snap = NULL, *old;
    const md_config_t *running = srv->snap->config;

    md_conf_diag_init(&diag);
    md_log_info("SIGHUP: reloading %s", srv->opts.config_path);
    if (md_config_load(srv->opts.config_path, &srv->opts.ov, &cfg, &diag) != MD_OK) goto fail;
    if (md_config_keep_restart_keys(cfg, running, restart_key_changed, NULL) != MD_OK) {
        md_conf_diag_add(&diag, cfg->file, 0, NULL, "out of memory");
        goto fail;
    }
    if ((cfg->tls_cert != NULL) != srv->tls) {
        md_log_warn(
            "reload: turning TLS %s takes effect only after a restart (the running TLS files are kept)",
            srv->tls ? "off" : "on");
        cfg->tls_cert = running->tls_cert
                            ? md_arena_memdup(&cfg->arena, running->tls_cert, strlen(running->tls_cert))
                            : NULL;
        cfg->tls_key = running->tls_key
                           ? md_arena_memdup(&cfg->arena, running->tls_key, strlen(running->tls_key))
                           : NULL;
        if (srv->tls && (cfg->tls_cert == NULL || cfg->tls_key == NULL)) {
            md_conf_diag_add(&diag, cfg->file, 0, NULL, "out of memory");
            goto fail;
        }
    }
    if (md_snapshot_build(cfg, srv->generation + 1, srv->snap, &snap, &diag) != MD_OK) {
        cfg = NULL; /* taken and freed */
        goto fail;
    }
    cfg = NULL;
    srv->generation++;
    md_log_set_format((md_log_format_t)snap->config->log_format);
    md_log_set_level((md_log_level_t)snap->config->log_level);
    check_fd_limit(snap->config->max_connections);
    for (int i = 0; i < srv->nworkers; i++) {
        md_worker_t *w = &srv->workers[i];
        md_snapshot_unref(atomic_exchange(&w->pending, md_snapshot_ref(snap)));
        event_active(w->wake, EV_READ, 0);
    }
    old = srv->snap;
    srv->snap = snap;
    md_snapshot_unref(old);
    md_metrics_reload(1);
    md_log_info("configuration reloaded (generation %llu)", (unsigned long long)srv->generation);
    md_conf_diag_free(&diag);
    return;
fail:
    log_diag(&diag, "reload: ");
    md_log_error("reload failed: keeping the running configuration (generation %llu)",
                 (unsigned long long)srv->generation);
    md_metrics_reload(0);
    md_config_free(cfg);
    md_conf_diag_free(&diag);
}

/* ---- the daemon ---- */

int md_server_run(const md_server_opts_t *opts, md_config_t *cfg)
{
    md_server_t srv;
    md_err_t err = {0};
    md_conf_diag_t diag;
    md_store_t *store = NULL;
    sigset_t sigs;
    int status = 1, sig = 0;
    const char *route_names[MD_ROUTES_MAX];

    memset(&srv, 0, sizeof(srv));
    md_conf_diag_init(&diag);
    srv.opts = *opts;
    srv.lock_fd = -1;
    atomic_init(&srv.listen_fd, -1);
    atomic_init(&srv.workload_fd, -1);
    atomic_init(&srv.registry_gen, 1);
    atomic_init(&srv.listeners_live, 0);
    atomic_init(&srv.nconns, 0);
    srv.started_at = (int64_t)time(NULL);
    md_log_set_format((md_log_format_t)cfg->log_format);
    md_log_set_level((md_log_level_t)cfg->log_level);

    /* every thread started from here on inherits this mask; signals are taken with sigtimedwait() */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    srv.tls = cfg->tls_cert != NULL;
    srv.listen = strdup(cfg->listen);
    srv.data_dir = strdup(cfg->data_dir);
    srv.workload_path = strdup(cfg->workload_socket);
    if (srv.listen == NULL || srv.data_dir == NULL || srv.workload_path == NULL) {
        md_err_set(&err, MD_ENOMEM, "out of memory");
        goto out;
    }
    if (prepare_data_dir(srv.data_dir, &err) != MD_OK) goto out;
    if (take_lock(srv.data_dir, &srv.lock_fd, &err) != MD_OK) goto out;
    if (md_snapshot_build(cfg, 1, NULL, &srv.snap, &diag) != MD_OK) {
        cfg = NULL;
        log_diag(&diag, "");
        md_err_set(&err, MD_EINVAL, "the configuration could not be loaded");
        goto out;
    }
    cfg = NULL;
    srv.generation = 1;
    check_fd_limit(srv.snap->config->max_connections);

    {
        md_store_opts_t so = {MD_STORE_SQLITE, srv.snap->config->store_path, 5000};
        if (md_store_open(&so, &store, &err) != MD_OK) goto out;
    }
    if (md_store_schema_version(store, &srv.schema_version, &err) != MD_OK) goto out;
    srv.store_backend = md_store_backend_name(store);
    if (md_admin_bootstrap(store, srv.data_dir, opts->new_admin_token, srv.admin_sha256, &err) != MD_OK)
        goto out;
    srv.admin_ready = true;
    srv.main_store = store; /* kept: the main thread rotates keys through it */
    store = NULL;
    if (keys_start(&srv, &err) != MD_OK) goto out;
    if (md_tasks_load(&srv, srv.main_store, &err) != MD_OK) goto out;
    if ((srv.dpop_replay = md_dpop_replay_new(1 << 18)) == NULL) {
        md_err_set(&err, MD_ENOMEM, "out of memory (DPoP replay cache)");
        goto out;
    }

    if (md_router_init(&srv.router, md_routes, md_nroutes, &err) != MD_OK) goto out;
    for (size_t i = 0; i < md_nroutes; i++)
        route_names[i] = md_routes[i].pattern;
    md_metrics_set_routes(route_names, md_nroutes);

    if (evthread_use_pthreads() != 0) {
        md_err_set(&err, MD_EIO, "libevent: no thread support");
        goto out;
    }
    {
        int fd = -1;
        if (bind_listener(srv.listen, &fd, &err) != MD_OK) goto out;
        atomic_store(&srv.listen_fd, fd);
        if (bind_workload(srv.workload_path, &fd, &srv.workload_dev, &srv.workload_ino, &err) != MD_OK)
            goto out;
        atomic_store(&srv.workload_fd, fd);
    }
    if (md_jobs_new((int)srv.snap->config->workload_threads, &srv.attest_jobs, &err) != MD_OK) goto out;
    srv.nworkers = worker_count(srv.snap->config->workers);
    srv.workers = calloc((size_t)srv.nworkers, sizeof(*srv.workers));
    if (srv.workers == NULL) {
        md_err_set(&err, MD_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < srv.nworkers; i++)
        if (worker_init(&srv, &srv.workers[i], i, &err) != MD_OK) goto out;
    for (int i = 0; i < srv.nworkers; i++) {
        int e = pthread_create(&srv.workers[i].thread, NULL, worker_main, &srv.workers[i]);
        if (e != 0) {
            md_err_set(&err, MD_EIO, "cannot start worker thread: %s", strerror(e));
            goto out;
        }
        srv.workers[i].started = true;
    }
    md_log_info("mandated %s serving %s on %s with %d workers (data dir %s, store %s schema %d)", MD_VERSION,
                srv.tls ? "HTTPS (TLS 1.3)" : "HTTP", srv.listen, srv.nworkers, srv.data_dir,
                srv.store_backend, srv.schema_version);
    md_log_info("Workload API on %s (%lld attestation threads)", srv.workload_path,
                (long long)srv.snap->config->workload_threads);

    for (;;) {
        struct timespec wait = keys_wait(&srv);
        sig = sigtimedwait(&sigs, NULL, &wait);
        if (sig < 0) {
            if (errno == EAGAIN) { /* the rotation timer, at most a minute apart */
                keys_tick(&srv);
                md_tasktab_sweep(srv.tasks, (int64_t)time(NULL) - 60);
            }
            continue;
        }
        if (sig == SIGHUP) {
            reload(&srv);
            keys_tick(&srv); /* keys.* may have changed */
            continue;
        }
        break;
    }
    md_log_info("%s: stopping: no new connections, finishing requests in flight",
                sig == SIGTERM ? "SIGTERM" : "SIGINT");
    status = 0;
out:
    if (status != 0 && err.code != 0) md_log_error("cannot start: %s", err.msg);
    if (srv.workers != NULL) stop_workers(&srv);
    /* after the loops stopped (their connections are gone), before their bases are freed */
    md_jobs_free(srv.attest_jobs);
    if (srv.workers != NULL) {
        for (int i = 0; i < srv.nworkers; i++)
            worker_free(&srv.workers[i]);
        free(srv.workers);
    }
    close_listen_fd(&srv);
    unlink_workload(&srv);
    md_keys_free(srv.keys);
    md_tasktab_free(srv.tasks);
    md_dpop_replay_free(srv.dpop_replay);
    md_store_close(srv.main_store);
    md_store_close(store);
    md_snapshot_unref(srv.snap);
    md_config_free(cfg);
    md_conf_diag_free(&diag);
    if (srv.lock_fd >= 0) close(srv.lock_fd);
    free(srv.listen);
    free(srv.data_dir);
    free(srv.workload_path);
    OPENSSL_cleanse(srv.admin_sha256, sizeof(srv.admin_sha256));
    if (status == 0) md_log_info("stopped");
    return status;
}
