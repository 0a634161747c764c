/*
 * attest.c: Unix-socket workload attestation (SO_PEERCRED, SO_PEERPIDFD, a
 * pinned /proc/<pid> directory fd, start time, exe SHA-256) and matching the
 * result against registration entries.  The steps are listed in attest.h.
 *
 * Invariants: every fd and buffer this file opens or allocates is released on
 * every path (one `goto out` per function); the result's `ok` flag is set
 * last and only on success; any read that fails, any text that does not
 * parse exactly, any value that changed between the first look and the last
 * refuses the peer with its own code.  /proc text is never trusted to be
 * well formed (the parsers take lengths, not NUL-terminated strings, and
 * bound every number).
 *
 * Why these checks, and what is left (residual risks):
 *
 *  - Pid reuse.  SO_PEERCRED reports the pid as it was at connect().  Every
 *    read after /proc/<pid> is opened goes through that directory fd, which
 *    the kernel ties to one process: once it exits, reads fail (ESRCH/ENOENT)
 *    even if the number is reused.  The window that remains is between
 *    connect() and that open: the peer could exit and its pid be given to
 *    another process, which we would then attest consistently.  With
 *    SO_PEERPIDFD (Linux >= 6.5) the window is closed: the pidfd names the
 *    connecting process itself, and it is polled last: a process alive at
 *    the end was alive throughout, so its pid could not have been reused.
 *    Without it (Debian 12's stock 6.1 kernel), the start-time comparison
 *    only catches reuse during attestation; out->pidfd_pinned says which.
 *  - Shared sockets.  The credentials are those of the process that called
 *    connect().  If it shares the fd (fork, SCM_RIGHTS), the other holders can
 *    read what is sent back; if it execve()s after connecting, the new program
 *    is what gets attested (exec keeps the pid and the start time).  An
 *    execve() during attestation is caught (exe link and inode compared
 *    before and after hashing); one between connect() and attestation is not.
 *  - Code that is not the executable.  The hash says which file the process
 *    was started from, not all the code it runs: interpreters (a registered
 *    python3 runs any script), LD_PRELOAD / LD_AUDIT, dlopen()ed plugins, and
 *    a same-uid process that ptrace()s it or writes /proc/<pid>/mem after the
 *    TracerPid check.  Register agents as dedicated, self-contained binaries
 *    and give them a uid of their own.
 *  - The file vs the running image.  We hash the inode the process runs.
 *    Linux refuses writes to a running executable (ETXTBSY) on local
 *    filesystems; some network or FUSE filesystems do not, and there the
 *    bytes we read may not be the bytes mapped in memory.  A change while we
 *    hash (size, mtime, ctime) is refused.  A binary replaced by rename or
 *    unlinked is refused as deleted (its path no longer names it).
 *  - Paths.  readlink of /proc/<pid>/exe is resolved against this process's
 *    root and mount namespace; for a peer in another mount namespace or a
 *    chroot it may name a different file here.  Prefer unix:sha256.
 *  - Blocking.  Hashing reads the whole executable (up to 1 GiB) and the
 *    user name goes through NSS (getpwuid_r): both can block, e.g. on a FUSE
 *    file that never answers.  Callers run attestation off the event loop.
 */
#include "identity/attest.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5; glibc 2.36 headers do not have it yet */
#endif

#define STAT_MAX (64 * 1024)     /* /proc/<pid>/stat is ~300 bytes */
#define STATUS_MAX (1024 * 1024) /* /proc/<pid>/status grows with Groups: */
#define HASH_CHUNK (64 * 1024)
#define PW_BUF_MAX (1024 * 1024)
#define OVERFLOW_ID_DEFAULT 65534u

const char *md_attest_code_name(int code)
{
    switch (code) {
    case MD_OK: return "MD_OK";
    case MD_ENOMEM: return "MD_ENOMEM";
    case MD_EINVAL: return "MD_EINVAL";
    case MD_EIO: return "MD_EIO";
    case MD_ATTEST_ENOT_PEER: return "MD_ATTEST_ENOT_PEER";
    case MD_ATTEST_EPEER_GONE: return "MD_ATTEST_EPEER_GONE";
    case MD_ATTEST_EPID_REUSED: return "MD_ATTEST_EPID_REUSED";
    case MD_ATTEST_EUID_MISMATCH: return "MD_ATTEST_EUID_MISMATCH";
    case MD_ATTEST_EGID_MISMATCH: return "MD_ATTEST_EGID_MISMATCH";
    case MD_ATTEST_ETRACED: return "MD_ATTEST_ETRACED";
    case MD_ATTEST_EEXE_UNREADABLE: return "MD_ATTEST_EEXE_UNREADABLE";
    case MD_ATTEST_EEXE_DELETED: return "MD_ATTEST_EEXE_DELETED";
    case MD_ATTEST_EEXE_CHANGED: return "MD_ATTEST_EEXE_CHANGED";
    case MD_ATTEST_EPROC: return "MD_ATTEST_EPROC";
    case MD_ATTEST_ENO_MATCH: return "MD_ATTEST_ENO_MATCH";
    case MD_ATTEST_EAMBIGUOUS: return "MD_ATTEST_EAMBIGUOUS";
    case MD_ATTEST_EQUARANTINED: return "MD_ATTEST_EQUARANTINED";
    case MD_ATTEST_EOVERFLOW_ID: return "MD_ATTEST_EOVERFLOW_ID";
    }
    return "MD_E?";
}

/* ---- parsers for /proc text ---- */

/* An unsigned decimal of 1..20 digits that fits in uint64; advances *i. */
static bool parse_u64(const char *s, size_t n, size_t *i, uint64_t *out)
{
    size_t j = *i;
    uint64_t v = 0;
    while (j < n && s[j] >= '0' && s[j] <= '9') {
        unsigned d = (unsigned)(s[j] - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
        j++;
    }
    if (j == *i) return false;
    *i = j;
    *out = v;
    return true;
}

int md_attest_parse_stat(const char *buf, size_t n, md_proc_stat_t *out)
{
    memset(out, 0, sizeof(*out));
    if (buf == NULL || n == 0) return MD_ATTEST_EPROC;
    size_t i = 0;
    uint64_t pid;
    if (!parse_u64(buf, n, &i, &pid) || pid == 0 || pid > INT32_MAX) return MD_ATTEST_EPROC;
    if (i + 1 >= n || buf[i] != ' ' || buf[i + 1] != '(') return MD_ATTEST_EPROC;
    size_t open = i + 1;
    /* comm is whatever the process named itself, ')' and spaces included:
     * it ends at the LAST ')', since no later field can contain one */
    size_t close = n;
    while (close > open + 1 && buf[close - 1] != ')')
        close--;
    if (close <= open + 1) return MD_ATTEST_EPROC;
    i = close; /* just past the last ')' */
    /* field 3: state, one printable character */
    if (i + 2 >= n || buf[i] != ' ' || buf[i + 1] <= ' ' || buf[i + 1] > '~' || buf[i + 2] != ' ')
        return MD_ATTEST_EPROC;
    out->state = buf[i + 1];
    i += 3;
    /* fields 4..21: integers, possibly negative, one space apart */
    for (int field = 4; field <= 21; field++) {
        if (i < n && buf[i] == '-') i++;
        uint64_t ignored;
        if (!parse_u64(buf, n, &i, &ignored)) return MD_ATTEST_EPROC;
        if (i >= n || buf[i] != ' ') return MD_ATTEST_EPROC;
        i++;
    }
    uint64_t start;
    if (!parse_u64(buf, n, &i, &start)) return MD_ATTEST_EPROC;
    if (i < n && buf[i] != ' ' && buf[i] != '\n') return MD_ATTEST_EPROC;
    out->pid = (int64_t)pid;
    out->start_time = start;
    return MD_OK;
}

int md_attest_parse_status_ids(const char *buf, size_t n, const char *key, uint32_t *ids, size_t n_ids)
{
    size_t kl = strlen(key);
    bool found = false;
    if (buf == NULL || kl == 0 || n_ids == 0) return MD_ATTEST_EPROC;
    for (size_t line = 0; line < n;) {
        const char *nl = memchr(buf + line, '\n', n - line);
        size_t end = nl ? (size_t)(nl - buf) : n;
        if (end - line >= kl && memcmp(buf + line, key, kl) == 0) {
            if (found) return MD_ATTEST_EPROC; /* twice: someone is forging lines */
            found = true;
            size_t i = line + kl;
            for (size_t k = 0; k < n_ids; k++) {
                size_t ws = i;
                while (i < end && (buf[i] == '\t' || buf[i] == ' '))
                    i++;
                if (i == ws) return MD_ATTEST_EPROC;
                uint64_t v;
                if (!parse_u64(buf, end, &i, &v) || v > UINT32_MAX) return MD_ATTEST_EPROC;
                ids[k] = (uint32_t)v;
            }
            while (i < end && (buf[i] == '\t' || buf[i] == ' '))
                i++;
            if (i != end) return MD_ATTEST_EPROC;
        }
        line = end + 1;
    }
    return found ? MD_OK : MD_ATTEST_EPROC;
}

/* ---- reading /proc ---- */

/* Read a whole (small) file relative to dirfd into a fresh heap buffer.
 * Returns 0 or -errno (-EFBIG over limit).  *buf is owned by the caller. */
static int read_at(int dirfd, const char *name, size_t limit, char **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    int rc = 0;
    char *p = NULL;
    size_t cap = 4096, n = 0;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    p = malloc(cap);
    if (p == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (;;) {
        if (n == cap) {
            if (cap >= limit) {
                rc = -EFBIG;
                goto out;
            }
            size_t ncap = cap * 2 > limit ? limit : cap * 2;
            char *np = realloc(p, ncap);
            if (np == NULL) {
                rc = -ENOMEM;
                goto out;
            }
            p = np;
            cap = ncap;
        }
        ssize_t r = read(fd, p + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            rc = -errno;
            goto out;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    *buf = p;
    *len = n;
    p = NULL;
out:
    free(p);
    if (fd >= 0) close(fd);
    return rc;
}

typedef struct attest_ctx {
    const md_attest_opts_t *opts;
    md_err_t *err;
    pid_t pid;
    uid_t uid;
    gid_t gid;
    int rootfd; /* the /proc root (or the fake one) */
    int piddir; /* /proc/<pid>, the pin */
    int pidfd;  /* SO_PEERPIDFD, or -1 */
    int exefd;  /* the running executable */
    struct stat exe_st;
} attest_ctx_t;

/* Has the peer exited?  Only consulted to name a failure; both answers refuse. */
static bool peer_gone(const attest_ctx_t *c)
{
    if (c->pidfd >= 0) {
        struct pollfd p = {.fd = c->pidfd, .events = POLLIN};
        int r;
        do
            r = poll(&p, 1, 0);
        while (r < 0 && errno == EINTR);
        return r != 0; /* exited, or poll failed: treat as gone */
    }
    return kill(c->pid, 0) != 0 && errno == ESRCH;
}

/* A /proc read of the pinned process failed with -e: say why, refusing. */
static int proc_failure(const attest_ctx_t *c, int e, const char *what)
{
    if (e == -ENOENT || e == -ESRCH) {
        if (peer_gone(c))
            return md_err_set(c->err, MD_ATTEST_EPEER_GONE, "peer process %d has exited (no %s)", (int)c->pid,
                              what);
        return md_err_set(c->err, MD_ATTEST_EPROC,
                          "cannot see %s of process %d, which is alive (is /proc mounted with hidepid?)",
                          what, (int)c->pid);
    }
    if (e == -ENOMEM) return md_err_set(c->err, MD_ENOMEM, "out of memory reading %s", what);
    return md_err_set(c->err, MD_ATTEST_EPROC, "cannot read %s of process %d: %s", what, (int)c->pid,
                      strerror(-e));
}

/* Read and parse <dirfd>/stat (name: "stat" or "<pid>/stat"). */
static int read_stat(const attest_ctx_t *c, int dirfd, const char *name, md_proc_stat_t *st)
{
    char *text = NULL;
    size_t len = 0;
    int rc = read_at(dirfd, name, STAT_MAX, &text, &len);
    if (rc != 0) {
        rc = proc_failure(c, rc, "/proc/<pid>/stat");
        goto out;
    }
    if (md_attest_parse_stat(text, len, st) != MD_OK) {
        rc = md_err_set(c->err, MD_ATTEST_EPROC, "/proc/%d/stat does not parse", (int)c->pid);
        goto out;
    }
    if (st->pid != c->pid) {
        rc = md_err_set(c->err, MD_ATTEST_EPROC, "/proc/%d/stat is about pid %lld", (int)c->pid,
                        (long long)st->pid);
        goto out;
    }
    if (st->state == 'Z' || st->state == 'X' || st->state == 'x') {
        rc = md_err_set(c->err, MD_ATTEST_EPEER_GONE, "peer process %d has exited (state %c)", (int)c->pid,
                        st->state);
        goto out;
    }
    rc = MD_OK;
out:
    free(text);
    return rc;
}

/* Every uid and gid in /proc/<pid>/status equals SO_PEERCRED's; not traced. */
static int check_status(const attest_ctx_t *c)
{
    char *text = NULL;
    size_t len = 0;
    uint32_t u[4], g[4], tracer;
    int rc = read_at(c->piddir, "status", STATUS_MAX, &text, &len);
    if (rc != 0) {
        rc = proc_failure(c, rc, "/proc/<pid>/status");
        goto out;
    }
    if (md_attest_parse_status_ids(text, len, "Uid:", u, 4) != MD_OK ||
        md_attest_parse_status_ids(text, len, "Gid:", g, 4) != MD_OK ||
        md_attest_parse_status_ids(text, len, "TracerPid:", &tracer, 1) != MD_OK) {
        rc = md_err_set(c->err, MD_ATTEST_EPROC, "/proc/%d/status does not parse", (int)c->pid);
        goto out;
    }
    for (int k = 0; k < 4; k++) {
        if (u[k] != (uint32_t)c->uid) {
            rc = md_err_set(c->err, MD_ATTEST_EUID_MISMATCH,
                            "uids of process %d (real %u, effective %u, saved %u, fs %u) differ from the "
                            "connecting uid %u",
                            (int)c->pid, u[0], u[1], u[2], u[3], (unsigned)c->uid);
            goto out;
        }
        if (g[k] != (uint32_t)c->gid) {
            rc = md_err_set(c->err, MD_ATTEST_EGID_MISMATCH,
                            "gids of process %d (real %u, effective %u, saved %u, fs %u) differ from the "
                            "connecting gid %u",
                            (int)c->pid, g[0], g[1], g[2], g[3], (unsigned)c->gid);
            goto out;
        }
    }
    if (tracer != 0) {
        rc = md_err_set(c->err, MD_ATTEST_ETRACED, "process %d is being traced by process %u", (int)c->pid,
                        tracer);
        goto out;
    }
    rc = MD_OK;
out:
    free(text);
    return rc;
}

/* The kernel's overflow uid or gid (what an id unmapped in our user namespace reads as). */
static uint32_t overflow_id(int rootfd, const char *name)
{
    char *text = NULL;
    size_t len = 0, i = 0;
    uint64_t v = OVERFLOW_ID_DEFAULT;
    if (read_at(rootfd, name, 64, &text, &len) != 0 || !parse_u64(text, len, &i, &v) || v > UINT32_MAX)
        v = OVERFLOW_ID_DEFAULT;
    free(text);
    return (uint32_t)v;
}

static int read_exe_link(const attest_ctx_t *c, char *path, size_t cap)
{
    ssize_t n = readlinkat(c->piddir, "exe", path, cap);
    if (n < 0) {
        int e = errno;
        if ((e == ENOENT || e == ESRCH) && peer_gone(c))
            return md_err_set(c->err, MD_ATTEST_EPEER_GONE, "peer process %d exited during attestation",
                              (int)c->pid);
        /* a user process has no exe link only once it has released its memory, i.e. while it
         * exits (kernel threads cannot be socket peers): name it so, it is refused either way */
        if (e == ENOENT)
            return md_err_set(c->err, MD_ATTEST_EPEER_GONE, "peer process %d is exiting (no executable link)",
                              (int)c->pid);
        return md_err_set(c->err, MD_ATTEST_EEXE_UNREADABLE,
                          "cannot read the executable link of process %d: %s", (int)c->pid, strerror(e));
    }
    if ((size_t)n >= cap)
        return md_err_set(c->err, MD_ATTEST_EEXE_UNREADABLE, "executable path of process %d is too long",
                          (int)c->pid);
    path[n] = '\0';
    if (memchr(path, '\0', (size_t)n) != NULL || n == 0 || path[0] != '/')
        return md_err_set(c->err, MD_ATTEST_EEXE_UNREADABLE, "executable path of process %d is not absolute",
                          (int)c->pid);
    static const char deleted[] = " (deleted)";
    size_t dl = sizeof(deleted) - 1;
    if ((size_t)n >= dl && memcmp(path + n - dl, deleted, dl) == 0)
        return md_err_set(c->err, MD_ATTEST_EEXE_DELETED,
                          "executable of process %d was deleted or replaced on disk after it started",
                          (int)c->pid);
    return MD_OK;
}

static bool same_file_state(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Open the running executable through the pin and hash it. */
static int hash_exe(attest_ctx_t *c, md_attestation_t *r)
{
    EVP_MD_CTX *md = NULL;
    unsigned char *chunk = NULL;
    int rc;
    /* O_NONBLOCK: whatever the link names, opening it must not wait (a FIFO
     * would); it changes nothing for reading a regular file */
    c->exefd = openat(c->piddir, "exe", O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (c->exefd < 0) {
        int e = errno;
        if ((e == ENOENT || e == ESRCH) && peer_gone(c))
            rc = md_err_set(c->err, MD_ATTEST_EPEER_GONE, "peer process %d exited during attestation",
                            (int)c->pid);
        else
            rc = md_err_set(c->err, MD_ATTEST_EEXE_UNREADABLE, "cannot open the executable of process %d: %s",
                            (int)c->pid, strerror(e));
        goto out;
    }
    if (fstat(c->exefd, &c->exe_st) != 0) {
        rc = md_err_set(c->err, MD_ATTEST_EEXE_UNREADABLE, "cannot stat the executable of process %d: %s",
                        (int)c->pid, strerror(errno));
        goto out;
    }
    if (!S_ISREG(c->exe_st.st_mode)) {
        rc = md_err_set(c->err, MD_ATTEST_EEXE_UNREADABLE, "executable of process %d is not a regular file",
                        (int)c->pid);
        goto out;
    }
    if (c->exe_st.st_nlink == 0) {
        rc = md_err_set(c->err, MD_ATTEST_EEXE_DELETED, "executable of process %d has no name left on disk",
                        (int)c->pid);
        goto out;
    }
    uint64_t max = c->opts->max_exe_bytes ? c->opts->max_exe_bytes : MD_ATTEST_EXE_MAX_BYTES;
    if (c->exe_st.st_size < 0 || (uint64_t)c->exe_st.st_size > max) {
        rc = md_err_set(c->err, MD_ATTEST_EEXE_UNREADABLE,
                        "executable of process %d is larger than %llu bytes", (int)c->pid,
                        (unsigned long long)max);
        goto out;
    }
    md = EVP_MD_CTX_new();
    chunk = malloc(HASH_CHUNK);
    if (md == NULL || chunk == NULL) {
        rc = md_err_set(c->err, MD_ENOMEM, "out of memory hashing the executable");
        goto out;
    }
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        rc = md_err_set(c->err, MD_EIO, "SHA-256 unavailable");
        goto out;
    }
    uint64_t total = 0;
    for (;;) {
        ssize_t n = read(c->exefd, chunk, HASH_CHUNK);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = md_err_set(c->err, MD_ATTEST_EEXE_UNREADABLE, "cannot read the executable of process %d: %s",
                            (int)c->pid, strerror(errno));
            goto out;
        }
        if (n == 0) break;
        total += (uint64_t)n;
        if (total > (uint64_t)c->exe_st.st_size) break; /* grew: refused below */
        if (EVP_DigestUpdate(md, chunk, (size_t)n) != 1) {
            rc = md_err_set(c->err, MD_EIO, "SHA-256 failed");
            goto out;
        }
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    if (EVP_DigestFinal_ex(md, digest, &dl) != 1 || dl != 32) {
        rc = md_err_set(c->err, MD_EIO, "SHA-256 failed");
        goto out;
    }
    struct stat after;
    if (total != (uint64_t)c->exe_st.st_size || fstat(c->exefd, &after) != 0 ||
        !same_file_state(&c->exe_st, &after)) {
        rc = md_err_set(c->err, MD_ATTEST_EEXE_CHANGED,
                        "executable of process %d changed while it was hashed", (int)c->pid);
        goto out;
    }
    static const char hex[] = "0123456789abcdef";
    for (unsigned k = 0; k < 32; k++) {
        r->exe_sha256[2 * k] = hex[digest[k] >> 4];
        r->exe_sha256[2 * k + 1] = hex[digest[k] & 15];
    }
    r->exe_sha256[64] = '\0';
    r->exe_size = total;
    rc = MD_OK;
out:
    if (chunk != NULL) OPENSSL_cleanse(chunk, HASH_CHUNK);
    free(chunk);
    EVP_MD_CTX_free(md);
    return rc;
}

/* The user name of uid via NSS; user_known stays false when there is none (or
 * the lookup fails): that only makes unix:user selectors not match. */
static void resolve_user(uid_t uid, md_attestation_t *r)
{
    long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
    size_t cap = hint > 0 && hint < PW_BUF_MAX ? (size_t)hint : 1024;
    for (;;) {
        char *buf = malloc(cap);
        if (buf == NULL) return;
        struct passwd pw, *res = NULL;
        int e = getpwuid_r(uid, &pw, buf, cap, &res);
        if (e == ERANGE && cap < PW_BUF_MAX) {
            free(buf);
            cap *= 2;
            continue;
        }
        if (e == 0 && res != NULL && res->pw_name != NULL && res->pw_uid == uid) {
            size_t n = strlen(res->pw_name);
            if (n > 0 && n < sizeof(r->user)) {
                memcpy(r->user, res->pw_name, n + 1);
                r->user_known = true;
            }
        }
        free(buf);
        return;
    }
}

static void pause_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* Who is connected to fd: SO_PEERCRED, and SO_PEERPIDFD when the kernel has it. */
static int peer_credentials(attest_ctx_t *c, int fd, md_attestation_t *r)
{
    int domain = -1, type = -1;
    socklen_t sl = sizeof(domain);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &sl) != 0)
        return md_err_set(c->err, MD_ATTEST_ENOT_PEER, "not a socket: %s", strerror(errno));
    sl = sizeof(type);
    if (domain != AF_UNIX || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &sl) != 0 ||
        (type != SOCK_STREAM && type != SOCK_SEQPACKET))
        return md_err_set(c->err, MD_ATTEST_ENOT_PEER, "not a Unix-domain stream or seqpacket socket");
    struct ucred uc;
    memset(&uc, 0, sizeof(uc));
    sl = sizeof(uc);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &sl) != 0 || sl != sizeof(uc))
        return md_err_set(c->err, MD_ATTEST_ENOT_PEER, "no peer credentials: %s", strerror(errno));
    if (uc.pid <= 0)
        return md_err_set(c->err, MD_ATTEST_ENOT_PEER,
                          "no peer process (socket not connected, or the peer is in a pid namespace this "
                          "process cannot see)");
    if (uc.uid == (uid_t)-1 || uc.gid == (gid_t)-1)
        return md_err_set(c->err, MD_ATTEST_ENOT_PEER, "peer credentials are unset");
    c->pid = uc.pid;
    c->uid = uc.uid;
    c->gid = uc.gid;
    r->pid = uc.pid;
    r->uid = uc.uid;
    r->gid = uc.gid;
    int pidfd = -1;
    sl = sizeof(pidfd);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &sl) == 0 && pidfd >= 0) {
        c->pidfd = pidfd;
        r->pidfd_pinned = true;
        /* since Linux 6.16 a pidfd is handed out even for a reaped peer */
        if (peer_gone(c))
            return md_err_set(c->err, MD_ATTEST_EPEER_GONE, "peer process %d exited before attestation",
                              (int)c->pid);
        return MD_OK;
    }
    int e = errno;
    if (e == ENOPROTOOPT || e == EOPNOTSUPP) return MD_OK; /* kernel < 6.5: no pidfd, see the risks above */
    if (e == ESRCH || e == EINVAL)                         /* the kernel has no live task for the peer */
        return md_err_set(c->err, MD_ATTEST_EPEER_GONE, "peer process %d exited before attestation",
                          (int)c->pid);
    return md_err_set(c->err, MD_EIO, "SO_PEERPIDFD: %s", strerror(e));
}

/* Open the /proc root (checked to be procfs) and /proc/<pid>. */
static int pin_process(attest_ctx_t *c)
{
    const char *root = c->opts->proc_root ? c->opts->proc_root : "/proc";
    c->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (c->rootfd < 0)
        return md_err_set(c->err, MD_ATTEST_EPROC, "cannot open %s: %s", root, strerror(errno));
    char name[32];
    snprintf(name, sizeof(name), "%d", (int)c->pid);
    c->piddir = openat(c->rootfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (c->piddir < 0) return proc_failure(c, -errno, "/proc/<pid>");
    if (c->opts->proc_root == NULL) {
        struct statfs sf;
        if (fstatfs(c->rootfd, &sf) != 0 || sf.f_type != PROC_SUPER_MAGIC || fstatfs(c->piddir, &sf) != 0 ||
            sf.f_type != PROC_SUPER_MAGIC)
            return md_err_set(c->err, MD_ATTEST_EPROC, "/proc is not a procfs mount");
    }
    return MD_OK;
}

/* After hashing: same program, same ids, same process, still alive. */
static int recheck(attest_ctx_t *c, const md_attestation_t *r)
{
    char path[PATH_MAX];
    int rc = read_exe_link(c, path, sizeof(path));
    if (rc != MD_OK) return rc;
    struct stat now;
    if (strcmp(path, r->exe_path) != 0 || fstatat(c->piddir, "exe", &now, 0) != 0 ||
        now.st_dev != c->exe_st.st_dev || now.st_ino != c->exe_st.st_ino) {
        if (peer_gone(c))
            return md_err_set(c->err, MD_ATTEST_EPEER_GONE, "peer process %d exited during attestation",
                              (int)c->pid);
        return md_err_set(c->err, MD_ATTEST_EEXE_CHANGED,
                          "process %d started another program (execve) during attestation", (int)c->pid);
    }
    if ((rc = check_status(c)) != MD_OK) return rc;
    /* a fresh lookup by number first: if the process died and its pid went to
     * another one, this is where it shows (through the pin it reads as gone) */
    md_proc_stat_t st;
    char name[48];
    snprintf(name, sizeof(name), "%d/stat", (int)c->pid);
    if ((rc = read_stat(c, c->rootfd, name, &st)) != MD_OK) return rc;
    if (st.start_time != r->start_time)
        return md_err_set(c->err, MD_ATTEST_EPID_REUSED,
                          "pid %d now names another process (start time %llu, was %llu)", (int)c->pid,
                          (unsigned long long)st.start_time, (unsigned long long)r->start_time);
    if ((rc = read_stat(c, c->piddir, "stat", &st)) != MD_OK) return rc;
    if (st.start_time != r->start_time)
        return md_err_set(c->err, MD_ATTEST_EPID_REUSED,
                          "start time of process %d changed during attestation", (int)c->pid);
    if (c->pidfd >= 0 && peer_gone(c))
        return md_err_set(c->err, MD_ATTEST_EPEER_GONE, "peer process %d exited during attestation",
                          (int)c->pid);
    return MD_OK;
}

int md_attest_peer_opts(int fd, const md_attest_opts_t *opts, md_attestation_t *out, md_err_t *err)
{
    static const md_attest_opts_t no_opts;
    md_attestation_t *r = NULL;
    attest_ctx_t c = {
        .opts = opts ? opts : &no_opts, .err = err, .rootfd = -1, .piddir = -1, .pidfd = -1, .exefd = -1};
    int rc;
    memset(out, 0, sizeof(*out));
    if (c.opts->proc_root != NULL && !c.opts->allow_fake_proc) {
        rc = md_err_set(err, MD_EINVAL, "proc_root is a test knob: it needs allow_fake_proc");
        goto out;
    }
    r = calloc(1, sizeof(*r)); /* ~4 KiB: kept off the caller's stack */
    if (r == NULL) {
        rc = md_err_set(err, MD_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = peer_credentials(&c, fd, r)) != MD_OK) goto out;
    if (c.opts->pause_ms) pause_ms(c.opts->pause_ms);
    if ((rc = pin_process(&c)) != MD_OK) goto out;
    if ((uint32_t)c.uid == overflow_id(c.rootfd, "sys/kernel/overflowuid") ||
        (uint32_t)c.gid == overflow_id(c.rootfd, "sys/kernel/overflowgid")) {
        rc = md_err_set(err, MD_ATTEST_EOVERFLOW_ID,
                        "peer uid %u / gid %u is the kernel's overflow id, which ids unmapped in this user "
                        "namespace also read as",
                        (unsigned)c.uid, (unsigned)c.gid);
        goto out;
    }
    md_proc_stat_t st;
    if ((rc = read_stat(&c, c.piddir, "stat", &st)) != MD_OK) goto out;
    r->start_time = st.start_time;
    if ((rc = check_status(&c)) != MD_OK) goto out;
    if ((rc = read_exe_link(&c, r->exe_path, sizeof(r->exe_path))) != MD_OK) goto out;
    if ((rc = hash_exe(&c, r)) != MD_OK) goto out;
    resolve_user(c.uid, r);
    if (c.opts->before_recheck) c.opts->before_recheck(c.opts->hook_arg);
    if ((rc = recheck(&c, r)) != MD_OK) goto out;
    r->ok = true;
    *out = *r;
    rc = MD_OK;
out:
    if (c.exefd >= 0) close(c.exefd);
    if (c.piddir >= 0) close(c.piddir);
    if (c.rootfd >= 0) close(c.rootfd);
    if (c.pidfd >= 0) close(c.pidfd);
    free(r);
    return rc;
}

int md_attest_peer(int fd, md_attestation_t *out, md_err_t *err)
{
    return md_attest_peer_opts(fd, NULL, out, err);
}

int md_attest_match(const md_entry_t *entries, size_t n, const md_attestation_t *att, const md_entry_t **out,
                    md_err_t *err)
{
    *out = NULL;
    if (att == NULL || !att->ok)
        return md_err_set(err, MD_EINVAL, "not a successful attestation: nothing can match it");
    const md_entry_t *found = NULL;
    size_t matches = 0;
    /* no early exit: the time taken does not depend on where a match is */
    for (size_t i = 0; i < n; i++) {
        if (entries[i].selectors != NULL &&
            md_selectors_match(entries[i].selectors, entries[i].n_selectors, att)) {
            if (matches == 0) found = &entries[i];
            matches++;
        }
    }
    if (matches == 0)
        return md_err_set(err, MD_ATTEST_ENO_MATCH, "no registration entry matches this workload");
    if (matches > 1)
        return md_err_set(err, MD_ATTEST_EAMBIGUOUS,
                          "more than one registration entry matches this workload; refusing all of them");
    *out = found;
    if (found->state != MD_ENTRY_ACTIVE)
        return md_err_set(err, MD_ATTEST_EQUARANTINED,
                          "the registration entry for this workload is quarantined");
    return MD_OK;
}
