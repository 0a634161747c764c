/*
 * keyfile.c: secret files on disk (see keyfile.h): the checks every secret
 * file and its folder must pass, and the create-then-publish dance that
 * never leaves half a file under the real name.
 *
 * Invariants: every open of a file is relative to a folder descriptor that
 * was checked, with O_NOFOLLOW and O_CLOEXEC; a file is created only with
 * O_CREAT | O_EXCL (so never through a link planted at its name) and mode
 * 0600; nothing here reads or writes a file's content through a path.
 */
#include "keys/keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int md_keyfile_split(const char *path, char *dir, size_t dirsz, const char **name)
{
    const char *slash = strrchr(path, '/');
    size_t n;

    if (path[0] == '\0' || (slash != NULL && slash[1] == '\0')) return -1;
    if (slash == NULL) {
        if (dirsz < 2) return -1;
        memcpy(dir, ".", 2);
        *name = path;
        return 0;
    }
    n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= dirsz) return -1;
    memcpy(dir, path, n);
    dir[n] = '\0';
    *name = slash + 1;
    return 0;
}

int md_keyfile_dir_open(const char *path, bool want_private, int *dirfd, md_err_t *err)
{
    struct stat st;
    uid_t me = geteuid();
    int fd, rc;

    *dirfd = -1;
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        struct stat lst;
        if (e == ENOENT) return md_err_set(err, MD_ENOENT, "%s: no such folder", path);
        /* O_NOFOLLOW | O_DIRECTORY on a link gives ELOOP or ENOTDIR, depending on the target */
        if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
            return md_err_set(err, MD_EINVAL, "%s: is a symbolic link: name the real folder", path);
        if (e == ENOTDIR) return md_err_set(err, MD_EINVAL, "%s: not a folder", path);
        return md_err_set(err, MD_EIO, "%s: %s", path, strerror(e));
    }
    if (fstat(fd, &st) != 0) {
        rc = md_err_set(err, MD_EIO, "%s: %s", path, strerror(errno));
        goto refused;
    }
    if (want_private ? st.st_uid != me : st.st_uid != me && st.st_uid != 0) {
        rc = md_err_set(err, MD_EINVAL, "%s: owned by uid %u, not by the user running mandated (uid %u)%s",
                        path, (unsigned)st.st_uid, (unsigned)me, want_private ? "" : " or root");
        goto refused;
    }
    if (want_private && (st.st_mode & (S_IRWXG | S_IRWXO))) {
        rc = md_err_set(err, MD_EINVAL,
                        "%s: mode %04o is too open: the folder must be private to its owner (chmod 700 %s)",
                        path, (unsigned)(st.st_mode & 07777), path);
        goto refused;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        rc = md_err_set(err, MD_EINVAL,
                        "%s: writable by group or others, who could replace the files in it (chmod go-w %s)",
                        path, path);
        goto refused;
    }
    *dirfd = fd;
    return MD_OK;
refused:
    close(fd);
    return rc;
}

int md_keyfile_check_fd(int fd, const char *shown, char *msg, size_t msgsz)
{
    struct stat st;

    if (fstat(fd, &st) != 0) {
        snprintf(msg, msgsz, "%s: %s", shown, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(msg, msgsz, "%s: not a regular file: remove it", shown);
        return -1;
    }
    if (st.st_uid != geteuid()) {
        snprintf(msg, msgsz, "%s: owned by uid %u, not by the user running mandated (uid %u) (chown %u %s)",
                 shown, (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)geteuid(), shown);
        return -1;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(msg, msgsz,
                 "%s: mode %04o is too open: group and others must have no access to it (chmod 600 %s)",
                 shown, (unsigned)(st.st_mode & 07777), shown);
        return -1;
    }
    if (st.st_nlink != 1) {
        snprintf(msg, msgsz,
                 "%s: has %lu hard links: another name could read or replace it (keep one name: remove the "
                 "other links)",
                 shown, (unsigned long)st.st_nlink);
        return -1;
    }
    return 0;
}

int md_keyfile_open(int dirfd, const char *name, const char *shown, int *fd, md_err_t *err)
{
    char msg[768];
    int f;

    *fd = -1;
    f = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (f < 0) {
        int e = errno;
        struct stat st;
        if (e == ENOENT) return md_err_set(err, MD_ENOENT, "%s does not exist", shown);
        if (e == ELOOP || (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)))
            return md_err_set(err, MD_EINVAL,
                              "%s: is a symbolic link: refusing to follow it (remove the link; the file must "
                              "be a regular file of mode 0600)",
                              shown);
        return md_err_set(err, MD_EIO, "%s: %s", shown, strerror(e));
    }
    if (md_keyfile_check_fd(f, shown, msg, sizeof(msg)) != 0) {
        close(f);
        return md_err_set(err, MD_EINVAL, "%s", msg);
    }
    *fd = f;
    return MD_OK;
}

int md_keyfile_read(int fd, void *buf, size_t max, size_t *n, const char *shown, md_err_t *err)
{
    unsigned char extra;
    size_t got = 0;

    *n = 0;
    while (got < max) {
        ssize_t r = read(fd, (unsigned char *)buf + got, max - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return md_err_set(err, MD_EIO, "read %s: %s", shown, strerror(errno));
        if (r == 0) break;
        got += (size_t)r;
    }
    if (got == max) {
        ssize_t r;
        do
            r = read(fd, &extra, 1);
        while (r < 0 && errno == EINTR);
        if (r > 0) return md_err_set(err, MD_ELIMIT, "%s: longer than %zu bytes", shown, max);
    }
    *n = got;
    return MD_OK;
}

static int fsync_dir(int dirfd, const char *shown, md_err_t *err)
{
    if (fsync(dirfd) != 0)
        return md_err_set(err, MD_EIO, "fsync the folder of %s: %s", shown, strerror(errno));
    return MD_OK;
}

int md_keyfile_write_tmp(int dirfd, const char *tmp, const void *p, size_t n, const char *shown,
                         md_err_t *err)
{
    size_t off = 0;
    int fd;

    /* a stale entry from an interrupted run: unlinkat removes a link itself, never its target */
    if (unlinkat(dirfd, tmp, 0) != 0 && errno != ENOENT)
        return md_err_set(err, MD_EIO, "%s: remove the stale %s: %s", shown, tmp, strerror(errno));
    fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0) return md_err_set(err, MD_EIO, "%s: create %s: %s", shown, tmp, strerror(errno));
    while (off < n) {
        ssize_t w = write(fd, (const unsigned char *)p + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            md_err_set(err, MD_EIO, "%s: write %s: %s", shown, tmp, w < 0 ? strerror(errno) : "short write");
            goto fail;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        md_err_set(err, MD_EIO, "%s: fsync %s: %s", shown, tmp, strerror(errno));
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        md_err_set(err, MD_EIO, "%s: close %s: %s", shown, tmp, strerror(errno));
        goto fail;
    }
    return MD_OK;
fail:
    if (fd >= 0) close(fd);
    unlinkat(dirfd, tmp, 0);
    return MD_EIO;
}

int md_keyfile_publish(int dirfd, const char *tmp, const char *name, bool replace, const char *shown,
                       md_err_t *err)
{
    if (replace) {
        if (renameat(dirfd, tmp, dirfd, name) != 0) {
            int e = errno;
            unlinkat(dirfd, tmp, 0);
            return md_err_set(err, MD_EIO, "%s: rename %s: %s", shown, tmp, strerror(e));
        }
        return fsync_dir(dirfd, shown, err);
    }
    if (linkat(dirfd, tmp, dirfd, name, 0) != 0) {
        int e = errno;
        unlinkat(dirfd, tmp, 0);
        if (e == EEXIST)
            return md_err_set(err, MD_EINVAL, "%s appeared while mandated was creating it: not replacing it",
                              shown);
        return md_err_set(err, MD_EIO, "%s: link %s: %s", shown, tmp, strerror(e));
    }
    if (unlinkat(dirfd, tmp, 0) != 0)
        return md_err_set(err, MD_EIO, "%s: remove %s: %s", shown, tmp, strerror(errno));
    return fsync_dir(dirfd, shown, err);
}

bool md_keyfile_exists(int dirfd, const char *name)
{
    struct stat st;
    return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}
