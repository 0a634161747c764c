/*
 * attest.h: Unix-domain socket workload attestation, and matching the result
 * against registration entries.
 *
 * md_attest_peer(fd) identifies the process at the other end of a connected
 * AF_UNIX stream or seqpacket socket:
 *   1. SO_PEERCRED gives pid, uid and gid (as they were at connect());
 *      SO_PEERPIDFD (Linux >= 6.5) gives a pidfd for the same process, when
 *      the kernel has it;
 *   2. /proc/<pid> is opened as a directory fd, and every later read goes
 *      through it, so all of them concern one process (a read through it
 *      fails once that process is gone, even if its pid is reused);
 *   3. /proc/<pid>/stat: start time (field 22) and state; /proc/<pid>/status:
 *      real, effective, saved and filesystem uids and gids must all equal the
 *      SO_PEERCRED uid and gid, and TracerPid must be 0 (the overflow uid/gid,
 *      which an unmapped id in another user namespace also shows as, is
 *      refused);
 *   4. readlinkat(procfd, "exe") gives the executable's path; the executable
 *      is hashed (SHA-256) through openat(procfd, "exe"), i.e. the very inode
 *      the process runs, not whatever the path names now;
 *   5. after hashing: the exe link must still read the same and name the
 *      same inode (no execve() during attestation), the ids in status must be
 *      unchanged, the start time is read again through a fresh
 *      /proc/<pid>/stat and through procfd, and the pidfd is polled: the
 *      process must still be alive, and <pid> must still name it.
 * Any doubt refuses, each reason with its own code (below) and a message.
 *
 * Privilege: reading another user's /proc/<pid>/exe needs ptrace-read access
 * to that process (root or CAP_SYS_PTRACE), and hashing needs read access to
 * the binary; without them peers of other uids are refused as
 * MD_ATTEST_EEXE_UNREADABLE ("Permission denied"), never matched.
 *
 * Residual risks (what the checks above cannot rule out) are listed at the
 * top of attest.c; the main ones: without SO_PEERPIDFD a pid recycled between
 * connect() and step 2 is not detected; a socket fd shared with another
 * process (fork, SCM_RIGHTS) lets that process read what is sent to the peer;
 * the executable hash says which binary the process started from, not what
 * code it runs now (LD_PRELOAD, interpreters, ptrace after attestation).
 */
#ifndef MD_IDENTITY_ATTEST_H
#define MD_IDENTITY_ATTEST_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/core.h"
#include "identity/entry.h"

/* Refusal codes (negative, like every md_ status).  md_attest_code_name()
 * gives the symbolic name. */
enum {
    MD_ATTEST_ENOT_PEER = -200,       /* not a connected AF_UNIX stream/seqpacket socket, or the kernel
                                         gave no peer credentials (peer in another pid namespace) */
    MD_ATTEST_EPEER_GONE = -201,      /* the peer process exited (before or during attestation) */
    MD_ATTEST_EPID_REUSED = -202,     /* the pid now names another process (start time changed) */
    MD_ATTEST_EUID_MISMATCH = -203,   /* a uid in /proc/<pid>/status differs from SO_PEERCRED */
    MD_ATTEST_EGID_MISMATCH = -204,   /* a gid in /proc/<pid>/status differs from SO_PEERCRED */
    MD_ATTEST_ETRACED = -205,         /* the process is being ptraced */
    MD_ATTEST_EEXE_UNREADABLE = -206, /* no exe link, cannot open or read it, not a regular file, too big */
    MD_ATTEST_EEXE_DELETED = -207,    /* the executable was unlinked or replaced on disk */
    MD_ATTEST_EEXE_CHANGED = -208,    /* the executable changed while it was being hashed */
    MD_ATTEST_EPROC = -209,           /* /proc is not procfs, or a /proc file did not parse */
    MD_ATTEST_ENO_MATCH = -210,       /* no registration entry matches */
    MD_ATTEST_EAMBIGUOUS = -211,      /* more than one registration entry matches */
    MD_ATTEST_EQUARANTINED = -212,    /* the one matching entry is quarantined */
    MD_ATTEST_EOVERFLOW_ID = -213,    /* uid or gid is the kernel's overflow id (65534 by default): an id
                                         unmapped in this user namespace looks exactly like it */
};

#define MD_ATTEST_USER_MAX 256
#define MD_ATTEST_EXE_MAX_BYTES ((uint64_t)1 << 30) /* executables above 1 GiB are refused */

/* The result of a successful attestation.  Plain data, no pointers. */
typedef struct md_attestation {
    bool ok; /* set last, only by a successful md_attest_peer(); matching refuses anything else */
    pid_t pid;
    uid_t uid;                     /* effective uid (SO_PEERCRED, checked against /proc/<pid>/status) */
    gid_t gid;                     /* effective gid, likewise */
    bool user_known;               /* the uid has a passwd entry */
    char user[MD_ATTEST_USER_MAX]; /* its name when user_known, else "" */
    char exe_path[PATH_MAX];       /* readlink of /proc/<pid>/exe */
    char exe_sha256[65];           /* lowercase hex of the SHA-256 of the running executable */
    uint64_t exe_size;             /* bytes hashed */
    uint64_t start_time;           /* field 22 of /proc/<pid>/stat: clock ticks after boot */
    bool pidfd_pinned;             /* SO_PEERPIDFD was available (no pid-reuse window) */
} md_attestation_t;

/*
 * Knobs for tests.  Production code calls md_attest_peer(), which uses none.
 */
typedef struct md_attest_opts {
    /* Directory laid out like /proc (NULL: "/proc").  Anything other than
     * NULL also requires allow_fake_proc, because it turns off the check that
     * the directory is procfs. */
    const char *proc_root;
    bool allow_fake_proc;
    /* Sleep this long after reading the peer credentials, before /proc is
     * looked at (the e2e test makes a peer exit in this window). */
    unsigned pause_ms;
    /* Called after the executable is hashed, before the final checks. */
    void (*before_recheck)(void *arg);
    void *hook_arg;
    /* Refuse executables larger than this (0: MD_ATTEST_EXE_MAX_BYTES). */
    uint64_t max_exe_bytes;
} md_attest_opts_t;

/*
 * Attest the peer of connected socket `fd` (which is only read from, never
 * closed).  Returns MD_OK with *out filled and out->ok true, or a negative
 * code (MD_ATTEST_E* above, MD_ENOMEM) with err set and out->ok false.  Every
 * fd it opens is closed before it returns.  May block on NSS (getpwuid_r) and
 * on reading the executable.
 */
int md_attest_peer(int fd, md_attestation_t *out, md_err_t *err) MD_WUR;
int md_attest_peer_opts(int fd, const md_attest_opts_t *opts, md_attestation_t *out, md_err_t *err) MD_WUR;

/* The fields of /proc/<pid>/stat that attestation uses. */
typedef struct md_proc_stat {
    int64_t pid;         /* field 1 */
    char state;          /* field 3 */
    uint64_t start_time; /* field 22 */
} md_proc_stat_t;

/*
 * Parse /proc/<pid>/stat text (buf[0..n), need not be NUL-terminated).  The
 * comm field (2) may contain anything, spaces and ')' included: it runs from
 * the first '(' to the LAST ')'.  Returns MD_OK or MD_ATTEST_EPROC.
 */
int md_attest_parse_stat(const char *buf, size_t n, md_proc_stat_t *out) MD_WUR;

/*
 * From /proc/<pid>/status text, the four ids on the line starting with `key`
 * ("Uid:" or "Gid:"), or one id (n_ids 1) for "TracerPid:".  The line must
 * occur exactly once.  Returns MD_OK or MD_ATTEST_EPROC.
 */
int md_attest_parse_status_ids(const char *buf, size_t n, const char *key, uint32_t *ids,
                               size_t n_ids) MD_WUR;

/*
 * The one entry whose selectors all match `att` (entries with no selectors
 * never match).  MD_OK: *out is it.  MD_ATTEST_ENO_MATCH: none; the message
 * says nothing about the entries.  MD_ATTEST_EAMBIGUOUS: more than one
 * matches, *out NULL (fail closed; entries must not overlap).
 * MD_ATTEST_EQUARANTINED: exactly one matches and it is quarantined; *out is
 * set so the caller can record it, but the caller must not issue anything.
 * Quarantined entries take part in matching like any other, so quarantining
 * an entry never lets a broader one match instead.  MD_EINVAL: att->ok is
 * false (not a successful attestation).
 */
int md_attest_match(const md_entry_t *entries, size_t n, const md_attestation_t *att, const md_entry_t **out,
                    md_err_t *err) MD_WUR;

/* "MD_ATTEST_EPEER_GONE", ... for an MD_ATTEST_E* or core code; "MD_OK" for 0. */
const char *md_attest_code_name(int code);

#endif
