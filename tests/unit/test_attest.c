/*
 * test_attest.c: workload attestation.
 *   - the /proc parsers on crafted text (comm with spaces and ')', bounds,
 *     overflow, forged status lines);
 *   - the test process attesting itself over a socketpair: pid, uid, gid,
 *     user, exe path, and a SHA-256 checked against sha256(1);
 *   - real peers: a forked child (alive, exited, traced, exec'd);
 *   - every refusal reason, through a fake /proc tree (opts.proc_root) whose
 *     files the test crafts and changes between the first and second look;
 *   - matching against entries: one, none, ambiguous, quarantined;
 *   - no fd left open by any of it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "identity/attest.h"

#define HELLO_SHA "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03" /* "hello\n" */

/* ---- /proc/<pid>/stat parser ---- */

/* fields 4..21 of a real stat line, then 22 = start time, then a few more */
#define MID "1 100 100 0 -1 4194560 120 0 0 0 3 1 0 0 20 0 1 0"
#define TAIL " 1000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"

static int parse_stat_str(const char *s, md_proc_stat_t *st)
{
    return md_attest_parse_stat(s, strlen(s), st);
}

static void test_parse_stat_ok(void **state)
{
    md_proc_stat_t st;
    assert_int_equal(parse_stat_str("1234 (bash) S " MID " 98765" TAIL, &st), MD_OK);
    assert_int_equal(st.pid, 1234);
    assert_int_equal(st.state, 'S');
    assert_int_equal(st.start_time, 98765);
    /* comm with spaces and parentheses: it ends at the last ')' */
    assert_int_equal(parse_stat_str("42 (a) b) (c d) R " MID " 555" TAIL, &st), MD_OK);
    assert_int_equal(st.pid, 42);
    assert_int_equal(st.state, 'R');
    assert_int_equal(st.start_time, 555);
    assert_int_equal(parse_stat_str("42 ()) S " MID " 556" TAIL, &st), MD_OK);
    assert_int_equal(st.start_time, 556);
    assert_int_equal(parse_stat_str("42 (()) S " MID " 557" TAIL, &st), MD_OK);
    assert_int_equal(st.start_time, 557);
    assert_int_equal(parse_stat_str("42 () S " MID " 558" TAIL, &st), MD_OK); /* empty comm */
    assert_int_equal(st.start_time, 558);
    assert_int_equal(parse_stat_str("42 (\n) S " MID " 559" TAIL, &st), MD_OK);
    assert_int_equal(st.start_time, 559);
    /* a comm forged to look like the rest of the line: only the last ')' counts */
    assert_int_equal(parse_stat_str("42 (x) S " MID " 111 ) Z " MID " 777" TAIL, &st), MD_OK);
    assert_int_equal(st.state, 'Z');
    assert_int_equal(st.start_time, 777);
    /* the largest start time; no trailing fields; no trailing newline */
    assert_int_equal(parse_stat_str("7 (x) S " MID " 18446744073709551615", &st), MD_OK);
    assert_int_equal(st.start_time, UINT64_MAX);
    assert_int_equal(parse_stat_str("7 (x) S " MID " 9\n", &st), MD_OK);
    assert_int_equal(st.start_time, 9);
    /* negative fields (priority, nice) are fine */
    assert_int_equal(parse_stat_str("7 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 -100 -20 1 0 31" TAIL, &st), MD_OK);
    assert_int_equal(st.start_time, 31);
    /* the buffer need not end in NUL: n bounds the parse */
    char buf[256];
    int n = snprintf(buf, sizeof(buf), "9 (x) S " MID " 4242");
    memcpy(buf + n, "99999", 6);
    assert_int_equal(md_attest_parse_stat(buf, (size_t)n, &st), MD_OK);
    assert_int_equal(st.start_time, 4242);
}

static void test_parse_stat_refused(void **state)
{
    static const char *const bad[] = {
        "",
        " ",
        "1234",
        "1234 ",
        "1234 (bash",                                                      /* no ')' */
        "1234 bash) S " MID " 1" TAIL,                                     /* no '(' */
        "(bash) S " MID " 1" TAIL,                                         /* no pid */
        "0 (bash) S " MID " 1" TAIL,                                       /* pid 0 */
        "-5 (bash) S " MID " 1" TAIL,                                      /* negative pid */
        "12a (bash) S " MID " 1" TAIL,                                     /* non-digit pid */
        " 12 (bash) S " MID " 1" TAIL,                                     /* leading space */
        "12  (bash) S " MID " 1" TAIL,                                     /* two spaces */
        "99999999999 (bash) S " MID " 1" TAIL,                             /* pid out of range */
        "12 (bash)",                                                       /* nothing after comm */
        "12 (bash) ",                                                      /* no state */
        "12 (bash)S " MID " 1" TAIL,                                       /* no space before state */
        "12 (bash) SS " MID " 1" TAIL,                                     /* state of two characters */
        "12 (bash)  " MID " 1" TAIL,                                       /* empty state */
        "12 (bash) S " MID,                                                /* field 22 missing */
        "12 (bash) S " MID " ",                                            /* field 22 empty */
        "12 (bash) S 1 100 100 0 -1 4194560 120 0 0 0 3 1 0 0 20 0 1 5\n", /* 21 fields */
        "12 (bash) S " MID "  1" TAIL,                                     /* double space */
        "12 (bash) S " MID " -1" TAIL,                                     /* negative start time */
        "12 (bash) S " MID " 18446744073709551616" TAIL,                   /* start time overflow */
        "12 (bash) S " MID " 99999999999999999999999" TAIL,
        "12 (bash) S " MID " 12x" TAIL,                                         /* trailing garbage */
        "12 (bash) S 1 100 100 0 -1 4194560 1x0 0 0 0 3 1 0 0 20 0 1 0 5" TAIL, /* bad middle field */
        "12 (bash) S 1 100 100 0 -- 4194560 120 0 0 0 3 1 0 0 20 0 1 0 5" TAIL,
        "12 (bash) S 1 100 100 0 - 4194560 120 0 0 0 3 1 0 0 20 0 1 0 5" TAIL,
        "12 (bash) S 1\t100 100 0 -1 4194560 120 0 0 0 3 1 0 0 20 0 1 0 5" TAIL,
    };
    md_proc_stat_t st;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        st.start_time = 1;
        if (parse_stat_str(bad[i], &st) != MD_ATTEST_EPROC) fail_msg("accepted: [%s]", bad[i]);
        assert_int_equal(st.start_time, 0); /* zeroed */
    }
    /* NUL bytes inside the fields */
    char buf[256];
    int n = snprintf(buf, sizeof(buf), "12 (bash) S " MID " 5" TAIL);
    buf[20] = '\0';
    assert_int_equal(md_attest_parse_stat(buf, (size_t)n, &st), MD_ATTEST_EPROC);
    /* NUL inside comm is nobody's business but comm's */
    n = snprintf(buf, sizeof(buf), "12 (ba.h) S " MID " 5" TAIL);
    buf[6] = '\0';
    assert_int_equal(md_attest_parse_stat(buf, (size_t)n, &st), MD_OK);
    assert_int_equal(md_attest_parse_stat(NULL, 0, &st), MD_ATTEST_EPROC);
    /* cut anywhere, a valid line never parses into a different start time */
    n = snprintf(buf, sizeof(buf), "12 (a) b) S " MID " 123456" TAIL);
    for (int cut = 0; cut < n; cut++) {
        int rc = md_attest_parse_stat(buf, (size_t)cut, &st);
        if (rc == MD_OK && st.start_time != 123456 && st.start_time != 12345 && st.start_time != 1234 &&
            st.start_time != 123 && st.start_time != 12 && st.start_time != 1)
            fail_msg("cut %d gave start time %llu", cut, (unsigned long long)st.start_time);
    }
}

static void test_parse_stat_self(void **state)
{
    FILE *f = fopen("/proc/self/stat", "r");
    assert_non_null(f);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    md_proc_stat_t st;
    assert_int_equal(md_attest_parse_stat(buf, n, &st), MD_OK);
    assert_int_equal(st.pid, getpid());
    assert_int_equal(st.state, 'R');
    assert_true(st.start_time > 0);
}

/* ---- /proc/<pid>/status parser ---- */

static void test_parse_status(void **state)
{
    const char *s = "Name:\tagent\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t77\nPid:\t77\nPPid:\t1\n"
                    "TracerPid:\t0\nUid:\t1000\t1001\t1002\t1003\nGid:\t100\t101\t102\t4294967295\n"
                    "FDSize:\t64\nGroups:\t4 24 27\n";
    uint32_t ids[4], one;
    assert_int_equal(md_attest_parse_status_ids(s, strlen(s), "Uid:", ids, 4), MD_OK);
    assert_int_equal(ids[0], 1000);
    assert_int_equal(ids[1], 1001);
    assert_int_equal(ids[2], 1002);
    assert_int_equal(ids[3], 1003);
    assert_int_equal(md_attest_parse_status_ids(s, strlen(s), "Gid:", ids, 4), MD_OK);
    assert_int_equal(ids[3], UINT32_MAX);
    assert_int_equal(md_attest_parse_status_ids(s, strlen(s), "TracerPid:", &one, 1), MD_OK);
    assert_int_equal(one, 0);
    /* last line without a newline; spaces as separators; trailing blanks */
    const char *t = "Name:\tx\nUid: 5 5 5 5 \t";
    assert_int_equal(md_attest_parse_status_ids(t, strlen(t), "Uid:", ids, 4), MD_OK);
    assert_int_equal(ids[2], 5);

    static const char *const bad[] = {
        "",
        "Name:\tx\n",                           /* missing */
        "Uid:\t1\t1\t1\n",                      /* three ids */
        "Uid:\t1\t1\t1\t1\t1\n",                /* five */
        "Uid:\t1\t1\t1\tx\n",                   /* not a number */
        "Uid:\t1\t1\t1\t-1\n",                  /* negative */
        "Uid:\t1\t1\t1\t4294967296\n",          /* out of range */
        "Uid:1\t1\t1\t1\n",                     /* no blank after the key */
        "Uid:\t1\t1\t1\t1\nUid:\t0\t0\t0\t0\n", /* twice: a forged line */
        "Name:\tx\nUid:\t0\t0\t0\t0\nState:\tS\nUid:\t1\t1\t1\t1\n",
        "Name:\tUid:\t0\t0\t0\t0\n", /* only at the start of a line */
        "uid:\t0\t0\t0\t0\n",        /* case matters */
        "Uid:\t1\t1\t1\t1x\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (md_attest_parse_status_ids(bad[i], strlen(bad[i]), "Uid:", ids, 4) != MD_ATTEST_EPROC)
            fail_msg("accepted: [%s]", bad[i]);
    /* "Uids:" is another key */
    const char *u = "Uids:\t9\t9\t9\t9\nUid:\t1\t2\t3\t4\n";
    assert_int_equal(md_attest_parse_status_ids(u, strlen(u), "Uid:", ids, 4), MD_OK);
    assert_int_equal(ids[0], 1);
    /* a NUL byte in a number */
    char buf[] = "Uid:\t1\t1\t1\t1\n";
    buf[7] = '\0';
    assert_int_equal(md_attest_parse_status_ids(buf, sizeof(buf) - 1, "Uid:", ids, 4), MD_ATTEST_EPROC);
}

/* ---- helpers ---- */

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the DIR's own fd */
}

static void self_exe(char *out, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", out, cap - 1);
    assert_true(n > 0);
    out[n] = '\0';
}

/* SHA-256 of a file by sha256(1): an implementation independent of ours. */
static void sha256sum(const char *path, char out[65])
{
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof(cmd), "sha256sum '%s'", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[PATH_MAX + 80];
    assert_non_null(fgets(line, sizeof(line), p));
    assert_int_equal(pclose(p), 0);
    memcpy(out, line, 64);
    out[64] = '\0';
}

static uint64_t self_start_time(void)
{
    FILE *f = fopen("/proc/self/stat", "r");
    assert_non_null(f);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    assert_non_null(p);
    unsigned long long st = 0;
    /* after ')': state (3), then 18 fields (4..21), then 22 */
    assert_int_equal(
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
               &st),
        1);
    return st;
}

static int attest_pair(md_attestation_t *a, md_err_t *err, const md_attest_opts_t *opts)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    md_err_clear(err);
    int rc = md_attest_peer_opts(sv[0], opts, a, err);
    close(sv[0]);
    close(sv[1]);
    return rc;
}

/* ---- attesting ourselves over a socketpair ---- */

static void test_attest_self(void **state)
{
    int fds = count_fds();
    md_attestation_t a;
    md_err_t err = {0};
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int rc = md_attest_peer(sv[0], &a, &err);
    if (rc != MD_OK) fail_msg("%s: %s", md_attest_code_name(rc), err.msg);
    assert_true(a.ok);
    assert_int_equal(a.pid, getpid());
    assert_int_equal(a.uid, geteuid());
    assert_int_equal(a.gid, getegid());
    char exe[PATH_MAX];
    self_exe(exe, sizeof(exe));
    assert_string_equal(a.exe_path, exe);
    char want[65];
    sha256sum(exe, want);
    assert_string_equal(a.exe_sha256, want);
    struct stat st;
    assert_int_equal(stat(exe, &st), 0);
    assert_int_equal(a.exe_size, (uint64_t)st.st_size);
    assert_int_equal(a.start_time, self_start_time());
    struct passwd *pw = getpwuid(geteuid());
    if (pw != NULL) {
        assert_true(a.user_known);
        assert_string_equal(a.user, pw->pw_name);
    } else {
        assert_false(a.user_known);
        assert_string_equal(a.user, "");
    }
    /* either end of the pair names us; seqpacket works too */
    md_attestation_t b;
    assert_int_equal(md_attest_peer(sv[1], &b, &err), MD_OK);
    assert_string_equal(b.exe_sha256, a.exe_sha256);
    close(sv[0]);
    close(sv[1]);
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    assert_int_equal(md_attest_peer(sv[0], &b, &err), MD_OK);
    close(sv[0]);
    close(sv[1]);
    assert_int_equal(count_fds(), fds);
    print_message("      pidfd pinned: %s\n", a.pidfd_pinned ? "yes (SO_PEERPIDFD)" : "no (kernel < 6.5)");
}

static void test_attest_not_a_peer(void **state)
{
    int fds = count_fds();
    md_attestation_t a;
    md_err_t err = {0};
    /* not an fd */
    assert_int_equal(md_attest_peer(-1, &a, &err), MD_ATTEST_ENOT_PEER);
    assert_false(a.ok);
    /* a pipe */
    int p[2];
    assert_int_equal(pipe(p), 0);
    md_err_clear(&err);
    assert_int_equal(md_attest_peer(p[0], &a, &err), MD_ATTEST_ENOT_PEER);
    assert_non_null(strstr(err.msg, "not a socket"));
    close(p[0]);
    close(p[1]);
    /* a datagram pair */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    md_err_clear(&err);
    assert_int_equal(md_attest_peer(sv[0], &a, &err), MD_ATTEST_ENOT_PEER);
    close(sv[0]);
    close(sv[1]);
    /* an unconnected Unix socket */
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(s >= 0);
    md_err_clear(&err);
    assert_int_equal(md_attest_peer(s, &a, &err), MD_ATTEST_ENOT_PEER);
    close(s);
    /* a TCP socket */
    s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    md_err_clear(&err);
    assert_int_equal(md_attest_peer(s, &a, &err), MD_ATTEST_ENOT_PEER);
    close(s);
    /* proc_root without allow_fake_proc */
    md_attest_opts_t opts = {.proc_root = "/tmp"};
    assert_int_equal(attest_pair(&a, &err, &opts), MD_EINVAL);
    assert_int_equal(count_fds(), fds);
}

/* ---- real peers: forked children ---- */

typedef struct listener {
    char dir[64];
    char path[128];
    int fd;
} listener_t;

static void listen_tmp(listener_t *l)
{
    strcpy(l->dir, "/tmp/md-attest-sock-XXXXXX");
    assert_non_null(mkdtemp(l->dir));
    snprintf(l->path, sizeof(l->path), "%s/s", l->dir);
    l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(l->fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, l->path);
    assert_int_equal(bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(l->fd, 4), 0);
}

static void listen_done(listener_t *l)
{
    close(l->fd);
    unlink(l->path);
    rmdir(l->dir);
}

/* In a child: connect to path (fd NOT close-on-exec); returns the fd or -1. */
static int child_connect(const char *path)
{
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) return -1;
    return s;
}

static void reap(pid_t pid)
{
    kill(pid, SIGKILL);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
}

static void test_attest_child_alive(void **state)
{
    listener_t l;
    listen_tmp(&l);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int s = child_connect(l.path);
        char c;
        if (s >= 0) (void)read(s, &c, 1); /* until the parent closes */
        _exit(0);
    }
    int c = accept4(l.fd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(c >= 0);
    md_attestation_t a;
    md_err_t err = {0};
    int rc = md_attest_peer(c, &a, &err);
    close(c);
    reap(pid);
    listen_done(&l);
    if (rc != MD_OK) fail_msg("%s: %s", md_attest_code_name(rc), err.msg);
    assert_int_equal(a.pid, pid);
    char exe[PATH_MAX], want[65];
    self_exe(exe, sizeof(exe));
    assert_string_equal(a.exe_path, exe);
    sha256sum(exe, want);
    assert_string_equal(a.exe_sha256, want);
}

static void test_attest_child_gone(void **state)
{
    int fds = count_fds();
    listener_t l;
    listen_tmp(&l);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        child_connect(l.path);
        _exit(0); /* connect and leave at once */
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid); /* exited and reaped before we look */
    int c = accept4(l.fd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(c >= 0);
    md_attestation_t a;
    md_err_t err = {0};
    int rc = md_attest_peer(c, &a, &err);
    close(c);
    listen_done(&l);
    if (rc != MD_ATTEST_EPEER_GONE) fail_msg("%s: %s", md_attest_code_name(rc), err.msg);
    assert_false(a.ok);
    assert_int_equal(count_fds(), fds);
}

/* Exited but not reaped: a zombie is gone too. */
static void test_attest_child_zombie(void **state)
{
    listener_t l;
    listen_tmp(&l);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        child_connect(l.path);
        _exit(0);
    }
    siginfo_t si;
    assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0); /* exited, left a zombie */
    int c = accept4(l.fd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(c >= 0);
    md_attestation_t a;
    md_err_t err = {0};
    int rc = md_attest_peer(c, &a, &err);
    close(c);
    reap(pid);
    listen_done(&l);
    if (rc != MD_ATTEST_EPEER_GONE) fail_msg("%s: %s", md_attest_code_name(rc), err.msg);
}

static void test_attest_child_traced(void **state)
{
    listener_t l;
    listen_tmp(&l);
    int sync[2];
    assert_int_equal(pipe(sync), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sync[0]);
        char ok = ptrace(PTRACE_TRACEME, 0, NULL, NULL) == 0 ? 'y' : 'n';
        int s = child_connect(l.path);
        (void)write(sync[1], &ok, 1);
        char c;
        if (s >= 0) (void)read(s, &c, 1);
        _exit(0);
    }
    close(sync[1]);
    char ok = 'n';
    assert_int_equal(read(sync[0], &ok, 1), 1);
    close(sync[0]);
    int c = accept4(l.fd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(c >= 0);
    md_attestation_t a;
    md_err_t err = {0};
    int rc = md_attest_peer(c, &a, &err);
    close(c);
    reap(pid);
    listen_done(&l);
    if (ok != 'y') {
        print_message("      ptrace unavailable here: traced case skipped\n");
        skip();
    }
    if (rc != MD_ATTEST_ETRACED) fail_msg("%s: %s", md_attest_code_name(rc), err.msg);
    char want[32];
    snprintf(want, sizeof(want), "traced by process %d", (int)getpid());
    assert_non_null(strstr(err.msg, want));
}

/* A peer that connects and then execve()s: what runs now is what is attested. */
static void test_attest_child_exec(void **state)
{
    listener_t l;
    listen_tmp(&l);
    char sleep_path[PATH_MAX];
    assert_non_null(realpath("/bin/sleep", sleep_path));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int s = child_connect(l.path);
        if (s < 0) _exit(1);
        execl("/bin/sleep", "sleep", "10", (char *)NULL);
        _exit(1);
    }
    int c = accept4(l.fd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(c >= 0);
    char link[64], exe[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
    for (int i = 0; i < 500; i++) { /* wait (at most 5 s) for the exec */
        ssize_t n = readlink(link, exe, sizeof(exe) - 1);
        if (n > 0) {
            exe[n] = '\0';
            if (strcmp(exe, sleep_path) == 0) break;
        }
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    md_attestation_t a;
    md_err_t err = {0};
    int rc = md_attest_peer(c, &a, &err);
    close(c);
    reap(pid);
    listen_done(&l);
    if (rc != MD_OK) fail_msg("%s: %s", md_attest_code_name(rc), err.msg);
    assert_int_equal(a.pid, pid);
    assert_string_equal(a.exe_path, sleep_path);
    char want[65];
    sha256sum(sleep_path, want);
    assert_string_equal(a.exe_sha256, want);
}

/* ---- refusals through a fake /proc ---- */

typedef struct fake {
    char dir[64];      /* temp dir */
    char root[128];    /* dir/proc: the fake /proc */
    char pid_dir[160]; /* root/<our pid> */
    char bin[128];     /* dir/bin: the "executable", "hello\n" */
    char other[128];   /* dir/other: "other\n" */
    md_attest_opts_t opts;
} fake_t;

static void write_file(const char *path, const char *content)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    assert_int_equal(fputs(content, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0);
}

static void fake_file(fake_t *f, const char *name, const char *content)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", f->pid_dir, name);
    write_file(path, content);
}

static void fake_exe(fake_t *f, const char *target)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/exe", f->pid_dir);
    unlink(path);
    if (target != NULL) assert_int_equal(symlink(target, path), 0);
}

static void fake_stat(fake_t *f, pid_t pid, char state, unsigned long long start)
{
    char s[512];
    snprintf(s, sizeof(s), "%d (fake (agent)) %c " MID " %llu" TAIL, (int)pid, state, start);
    fake_file(f, "stat", s);
}

static void fake_status(fake_t *f, const unsigned uid[4], const unsigned gid[4], unsigned tracer)
{
    char s[1024];
    snprintf(s, sizeof(s),
             "Name:\tfake\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t1\n"
             "TracerPid:\t%u\nUid:\t%u\t%u\t%u\t%u\nGid:\t%u\t%u\t%u\t%u\nFDSize:\t64\nGroups:\t\n",
             (int)getpid(), (int)getpid(), tracer, uid[0], uid[1], uid[2], uid[3], gid[0], gid[1], gid[2],
             gid[3]);
    fake_file(f, "status", s);
}

static void fake_status_ok(fake_t *f)
{
    unsigned u = (unsigned)geteuid(), g = (unsigned)getegid();
    unsigned uid[4] = {u, u, u, u}, gid[4] = {g, g, g, g};
    fake_status(f, uid, gid, 0);
}

static int fake_setup(void **state)
{
    fake_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    strcpy(f->dir, "/tmp/md-attest-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->root, sizeof(f->root), "%s/proc", f->dir);
    assert_int_equal(mkdir(f->root, 0700), 0);
    snprintf(f->pid_dir, sizeof(f->pid_dir), "%s/%d", f->root, (int)getpid());
    assert_int_equal(mkdir(f->pid_dir, 0700), 0);
    snprintf(f->bin, sizeof(f->bin), "%s/bin", f->dir);
    write_file(f->bin, "hello\n");
    snprintf(f->other, sizeof(f->other), "%s/other", f->dir);
    write_file(f->other, "other\n");
    fake_stat(f, getpid(), 'S', 777);
    fake_status_ok(f);
    fake_exe(f, f->bin);
    f->opts.proc_root = f->root;
    f->opts.allow_fake_proc = true;
    *state = f;
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int fake_teardown(void **state)
{
    fake_t *f = *state;
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static int fake_attest(fake_t *f, md_attestation_t *a, md_err_t *err)
{
    return attest_pair(a, err, &f->opts);
}

#define EXPECT_REFUSED(f, code, part)                                                                        \
    do {                                                                                                     \
        md_attestation_t a_;                                                                                 \
        md_err_t e_ = {0};                                                                                   \
        int rc_ = fake_attest((f), &a_, &e_);                                                                \
        if (rc_ != (code))                                                                                   \
            fail_msg("got %s (%s), want %s", md_attest_code_name(rc_), e_.msg, md_attest_code_name(code));   \
        if (strstr(e_.msg, (part)) == NULL) fail_msg("message \"%s\" lacks \"%s\"", e_.msg, (part));         \
        assert_false(a_.ok);                                                                                 \
        assert_int_equal(a_.pid, 0); /* nothing half-filled */                                               \
    } while (0)

static void test_fake_baseline(void **state)
{
    fake_t *f = *state;
    md_attestation_t a;
    md_err_t err = {0};
    int rc = fake_attest(f, &a, &err);
    if (rc != MD_OK) fail_msg("%s: %s", md_attest_code_name(rc), err.msg);
    assert_true(a.ok);
    assert_int_equal(a.pid, getpid());
    assert_int_equal(a.start_time, 777);
    assert_string_equal(a.exe_path, f->bin);
    assert_string_equal(a.exe_sha256, HELLO_SHA);
    assert_int_equal(a.exe_size, 6);
}

static void test_fake_stat(void **state)
{
    fake_t *f = *state;
    fake_file(f, "stat", "garbage\n");
    EXPECT_REFUSED(f, MD_ATTEST_EPROC, "stat does not parse");
    fake_file(f, "stat", "");
    EXPECT_REFUSED(f, MD_ATTEST_EPROC, "stat does not parse");
    fake_stat(f, getpid() + 1, 'S', 777);
    EXPECT_REFUSED(f, MD_ATTEST_EPROC, "is about pid");
    fake_stat(f, getpid(), 'Z', 777);
    EXPECT_REFUSED(f, MD_ATTEST_EPEER_GONE, "has exited (state Z)");
    fake_stat(f, getpid(), 'X', 777);
    EXPECT_REFUSED(f, MD_ATTEST_EPEER_GONE, "has exited (state X)");
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/stat", f->pid_dir);
    unlink(path); /* we are alive, so a missing file is not "gone" */
    EXPECT_REFUSED(f, MD_ATTEST_EPROC, "which is alive");
    /* a very large stat file is refused, not read forever */
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 70000; i++)
        fputc('9', fp);
    fclose(fp);
    EXPECT_REFUSED(f, MD_ATTEST_EPROC, "File too large");
    fake_stat(f, getpid(), 'S', 777);
    md_attestation_t a;
    md_err_t err = {0};
    assert_int_equal(fake_attest(f, &a, &err), MD_OK);
}

static void test_fake_status(void **state)
{
    fake_t *f = *state;
    unsigned u = (unsigned)geteuid(), g = (unsigned)getegid();
    for (int k = 0; k < 4; k++) { /* real, effective, saved, fs: each must agree */
        unsigned uid[4] = {u, u, u, u}, gid[4] = {g, g, g, g};
        uid[k] = u + 1;
        fake_status(f, uid, gid, 0);
        EXPECT_REFUSED(f, MD_ATTEST_EUID_MISMATCH, "differ from the connecting uid");
        uid[k] = u;
        gid[k] = g + 1;
        fake_status(f, uid, gid, 0);
        EXPECT_REFUSED(f, MD_ATTEST_EGID_MISMATCH, "differ from the connecting gid");
    }
    unsigned uid[4] = {u, u, u, u}, gid[4] = {g, g, g, g};
    fake_status(f, uid, gid, 31337);
    EXPECT_REFUSED(f, MD_ATTEST_ETRACED, "traced by process 31337");
    fake_file(f, "status", "Name:\tx\nUid:\t0\t0\t0\t0\n");
    EXPECT_REFUSED(f, MD_ATTEST_EPROC, "status does not parse"); /* no Gid, no TracerPid */
    char twice[512];
    snprintf(twice, sizeof(twice),
             "TracerPid:\t0\nUid:\t%u\t%u\t%u\t%u\nUid:\t%u\t%u\t%u\t%u\nGid:\t%u\t%u\t%u\t%u\n", u, u, u, u,
             u, u, u, u, g, g, g, g);
    fake_file(f, "status", twice);
    EXPECT_REFUSED(f, MD_ATTEST_EPROC, "status does not parse");
    fake_status_ok(f);
}

static void test_fake_exe(void **state)
{
    fake_t *f = *state;
    char target[PATH_MAX];
    /* the kernel's mark of an unlinked executable */
    snprintf(target, sizeof(target), "%s (deleted)", f->bin);
    fake_exe(f, target);
    EXPECT_REFUSED(f, MD_ATTEST_EEXE_DELETED, "deleted or replaced");
    /* no exe link: a user process loses it while it exits (kernel threads have none but are never peers) */
    fake_exe(f, NULL);
    EXPECT_REFUSED(f, MD_ATTEST_EPEER_GONE, "is exiting");
    /* a link to nothing */
    snprintf(target, sizeof(target), "%s/missing", f->dir);
    fake_exe(f, target);
    EXPECT_REFUSED(f, MD_ATTEST_EEXE_UNREADABLE, "cannot open the executable");
    /* a directory */
    fake_exe(f, f->dir);
    EXPECT_REFUSED(f, MD_ATTEST_EEXE_UNREADABLE, "not a regular file");
    /* not an absolute path */
    fake_exe(f, "bin");
    EXPECT_REFUSED(f, MD_ATTEST_EEXE_UNREADABLE, "not absolute");
    /* a FIFO is not an executable (and opening it must not block) */
    char fifo[PATH_MAX];
    snprintf(fifo, sizeof(fifo), "%s/fifo", f->dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    fake_exe(f, fifo);
    EXPECT_REFUSED(f, MD_ATTEST_EEXE_UNREADABLE, "not a regular file");
    /* too large */
    fake_exe(f, f->bin);
    f->opts.max_exe_bytes = 5;
    EXPECT_REFUSED(f, MD_ATTEST_EEXE_UNREADABLE, "larger than 5 bytes");
    f->opts.max_exe_bytes = 6;
    md_attestation_t a;
    md_err_t err = {0};
    assert_int_equal(fake_attest(f, &a, &err), MD_OK);
    f->opts.max_exe_bytes = 0;
}

static void test_fake_overflow_id(void **state)
{
    fake_t *f = *state;
    char dir[PATH_MAX - 64], path[PATH_MAX], val[32];
    snprintf(dir, sizeof(dir), "%s/sys", f->root);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(dir, sizeof(dir), "%s/sys/kernel", f->root);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/overflowuid", dir);
    snprintf(val, sizeof(val), "%u\n", (unsigned)geteuid());
    write_file(path, val);
    EXPECT_REFUSED(f, MD_ATTEST_EOVERFLOW_ID, "overflow id");
    write_file(path, "65534\n");
    snprintf(path, sizeof(path), "%s/overflowgid", dir);
    snprintf(val, sizeof(val), "%u\n", (unsigned)getegid());
    write_file(path, val);
    EXPECT_REFUSED(f, MD_ATTEST_EOVERFLOW_ID, "overflow id");
    write_file(path, "65534\n");
    md_attestation_t a;
    md_err_t err = {0};
    assert_int_equal(fake_attest(f, &a, &err), MD_OK);
}

/* Changes between the first look and the final checks. */
typedef struct change {
    fake_t *f;
    int what;
} change_t;

enum { CH_START_TIME, CH_EXE_LINK, CH_UID, CH_TRACED, CH_STATE_Z, CH_REMOVE_STAT, CH_DELETED };

static void apply_change(void *arg)
{
    change_t *c = arg;
    fake_t *f = c->f;
    unsigned u = (unsigned)geteuid(), g = (unsigned)getegid();
    unsigned gid[4] = {g, g, g, g};
    char target[PATH_MAX];
    switch (c->what) {
    case CH_START_TIME: fake_stat(f, getpid(), 'S', 778); break;
    case CH_EXE_LINK: fake_exe(f, f->other); break;
    case CH_UID: {
        unsigned uid[4] = {u, u + 1, u, u};
        fake_status(f, uid, gid, 0);
        break;
    }
    case CH_TRACED: {
        unsigned uid[4] = {u, u, u, u};
        fake_status(f, uid, gid, 99);
        break;
    }
    case CH_STATE_Z: fake_stat(f, getpid(), 'Z', 777); break;
    case CH_REMOVE_STAT: {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/stat", f->pid_dir);
        unlink(path);
        break;
    }
    case CH_DELETED:
        snprintf(target, sizeof(target), "%s (deleted)", f->bin);
        fake_exe(f, target);
        break;
    }
}

/* Put the fake tree back as fake_setup() made it, and apply one change in the hook. */
static void fake_reset(fake_t *f)
{
    fake_stat(f, getpid(), 'S', 777);
    fake_status_ok(f);
    fake_exe(f, f->bin);
}

static void expect_change(fake_t *f, int what, int code, const char *part)
{
    fake_reset(f);
    change_t c = {f, what};
    f->opts.before_recheck = apply_change;
    f->opts.hook_arg = &c;
    EXPECT_REFUSED(f, code, part);
    f->opts.before_recheck = NULL;
    f->opts.hook_arg = NULL;
}

static void test_fake_changes(void **state)
{
    fake_t *f = *state;
    expect_change(f, CH_START_TIME, MD_ATTEST_EPID_REUSED, "now names another process");
    expect_change(f, CH_EXE_LINK, MD_ATTEST_EEXE_CHANGED, "started another program");
    expect_change(f, CH_UID, MD_ATTEST_EUID_MISMATCH, "effective");
    expect_change(f, CH_TRACED, MD_ATTEST_ETRACED, "traced by process 99");
    expect_change(f, CH_STATE_Z, MD_ATTEST_EPEER_GONE, "has exited");
    expect_change(f, CH_REMOVE_STAT, MD_ATTEST_EPROC, "which is alive");
    expect_change(f, CH_DELETED, MD_ATTEST_EEXE_DELETED, "deleted or replaced");
    /* with the hook doing nothing, it passes */
    fake_reset(f);
    change_t c = {f, -1};
    f->opts.before_recheck = apply_change;
    f->opts.hook_arg = &c;
    md_attestation_t a;
    md_err_t err = {0};
    int rc = fake_attest(f, &a, &err);
    if (rc != MD_OK) fail_msg("%s: %s", md_attest_code_name(rc), err.msg);
}

/* ---- matching ---- */

static void parse_entry(md_arena_t *a, const char *text, md_entry_t *e)
{
    md_err_t err = {0};
    if (md_entry_parse(text, strlen(text), a, e, &err) != MD_OK) fail_msg("%s: %s", text, err.msg);
}

static void make_entry(md_arena_t *a, md_entry_t *e, const char *id, const char *selectors,
                       const char *state_name)
{
    char text[1024];
    snprintf(
        text, sizeof(text),
        "{\"spiffe_id\":\"spiffe://td/%s\",\"selectors\":[%s],\"owner\":\"o@example.com\",\"env\":\"test\","
        "\"scope_ceiling\":[\"x:read\"],\"state\":\"%s\"}",
        id, selectors, state_name);
    parse_entry(a, text, e);
}

static void test_match(void **state)
{
    md_attestation_t att;
    md_err_t err = {0};
    assert_int_equal(attest_pair(&att, &err, NULL), MD_OK);
    char sel_sha[128], sel_uid[64], sel_path[PATH_MAX + 16], sel_other_uid[64];
    snprintf(sel_sha, sizeof(sel_sha), "\"unix:sha256:%s\"", att.exe_sha256);
    snprintf(sel_uid, sizeof(sel_uid), "\"unix:uid:%u\"", (unsigned)att.uid);
    snprintf(sel_other_uid, sizeof(sel_other_uid), "\"unix:uid:%u\"", (unsigned)att.uid + 1);
    snprintf(sel_path, sizeof(sel_path), "\"unix:path:%s\"", att.exe_path);
    char both[256], wrong[256], sha_other_uid[256];
    snprintf(both, sizeof(both), "%s,%s", sel_uid, sel_sha);
    snprintf(wrong, sizeof(wrong), "%s,\"unix:sha256:" HELLO_SHA "\"", sel_uid);
    snprintf(sha_other_uid, sizeof(sha_other_uid), "%s,%s", sel_other_uid, sel_sha);

    md_arena_t a;
    md_arena_init(&a, 8192);
    md_entry_t e[6];
    make_entry(&a, &e[0], "agent/wrong-binary", wrong, "active");
    make_entry(&a, &e[1], "agent/right", both, "active");
    make_entry(&a, &e[2], "agent/other-uid", sha_other_uid, "active");
    make_entry(&a, &e[3], "agent/no-selectors", "", "active");
    make_entry(&a, &e[4], "agent/by-path", sel_path, "active");
    make_entry(&a, &e[5], "agent/by-uid", sel_uid, "quarantined");

    /* exactly one */
    const md_entry_t *m = (const md_entry_t *)1;
    assert_int_equal(md_attest_match(e, 4, &att, &m, &err), MD_OK);
    assert_ptr_equal(m, &e[1]);
    /* none: and the message says nothing about the entries */
    md_err_clear(&err);
    assert_int_equal(md_attest_match(e, 1, &att, &m, &err), MD_ATTEST_ENO_MATCH);
    assert_null(m);
    assert_string_equal(err.msg, "no registration entry matches this workload");
    md_err_clear(&err);
    assert_int_equal(md_attest_match(&e[2], 2, &att, &m, &err), MD_ATTEST_ENO_MATCH); /* no-selectors never */
    assert_int_equal(md_attest_match(NULL, 0, &att, &m, &err), MD_ATTEST_ENO_MATCH);
    /* two: refused, and neither is named */
    md_err_clear(&err);
    assert_int_equal(md_attest_match(e, 5, &att, &m, &err), MD_ATTEST_EAMBIGUOUS);
    assert_null(m);
    assert_null(strstr(err.msg, "spiffe://"));
    /* one, quarantined: refused, but the caller learns which (to record it) */
    md_err_clear(&err);
    assert_int_equal(md_attest_match(&e[5], 1, &att, &m, &err), MD_ATTEST_EQUARANTINED);
    assert_ptr_equal(m, &e[5]);
    /* quarantining never hands the workload to a broader entry: still ambiguous */
    md_entry_t pair[2] = {e[1], e[5]};
    md_err_clear(&err);
    assert_int_equal(md_attest_match(pair, 2, &att, &m, &err), MD_ATTEST_EAMBIGUOUS);
    assert_null(m);
    /* an attestation that did not succeed matches nothing */
    md_attestation_t failed = att;
    failed.ok = false;
    md_err_clear(&err);
    assert_int_equal(md_attest_match(e, 6, &failed, &m, &err), MD_EINVAL);
    assert_null(m);
    md_arena_free(&a);
}

static void test_code_names(void **state)
{
    assert_string_equal(md_attest_code_name(MD_OK), "MD_OK");
    assert_string_equal(md_attest_code_name(MD_ATTEST_EPEER_GONE), "MD_ATTEST_EPEER_GONE");
    assert_string_equal(md_attest_code_name(MD_ATTEST_EPID_REUSED), "MD_ATTEST_EPID_REUSED");
    assert_string_equal(md_attest_code_name(MD_ATTEST_EEXE_DELETED), "MD_ATTEST_EEXE_DELETED");
    assert_string_equal(md_attest_code_name(MD_ATTEST_EOVERFLOW_ID), "MD_ATTEST_EOVERFLOW_ID");
    assert_string_equal(md_attest_code_name(-9999), "MD_E?");
    for (int c = MD_ATTEST_EOVERFLOW_ID; c <= MD_ATTEST_ENOT_PEER; c++)
        assert_string_not_equal(md_attest_code_name(c), "MD_E?");
}

/* Many attestations, good and bad: the fd count does not move. */
static void test_no_fd_leak(void **state)
{
    fake_t *f = *state;
    int before = count_fds();
    md_attestation_t a;
    md_err_t err = {0};
    for (int i = 0; i < 20; i++) {
        assert_int_equal(attest_pair(&a, &err, NULL), MD_OK);
        assert_int_equal(fake_attest(f, &a, &err), MD_OK);
    }
    char target[PATH_MAX];
    snprintf(target, sizeof(target), "%s (deleted)", f->bin);
    fake_exe(f, target);
    for (int i = 0; i < 10; i++)
        assert_int_equal(fake_attest(f, &a, &err), MD_ATTEST_EEXE_DELETED);
    fake_exe(f, f->dir);
    for (int i = 0; i < 10; i++)
        assert_int_equal(fake_attest(f, &a, &err), MD_ATTEST_EEXE_UNREADABLE);
    fake_exe(f, f->bin);
    fake_file(f, "stat", "x");
    for (int i = 0; i < 10; i++)
        assert_int_equal(fake_attest(f, &a, &err), MD_ATTEST_EPROC);
    assert_int_equal(count_fds(), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_stat_ok),
        cmocka_unit_test(test_parse_stat_refused),
        cmocka_unit_test(test_parse_stat_self),
        cmocka_unit_test(test_parse_status),
        cmocka_unit_test(test_attest_self),
        cmocka_unit_test(test_attest_not_a_peer),
        cmocka_unit_test(test_attest_child_alive),
        cmocka_unit_test(test_attest_child_gone),
        cmocka_unit_test(test_attest_child_zombie),
        cmocka_unit_test(test_attest_child_traced),
        cmocka_unit_test(test_attest_child_exec),
        cmocka_unit_test_setup_teardown(test_fake_baseline, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_fake_stat, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_fake_status, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_fake_exe, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_fake_overflow_id, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_fake_changes, fake_setup, fake_teardown),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_code_names),
        cmocka_unit_test_setup_teardown(test_no_fd_leak, fake_setup, fake_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
