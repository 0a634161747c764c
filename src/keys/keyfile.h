/*
 * keyfile.h: secret files on disk — the key-encryption key and the admin
 * token — opened so that a planted symbolic link, hard link, FIFO, device or
 * another user's file is never used, and created so that a crash never
 * leaves half a file under the real name.
 *
 * A caller opens the folder once (md_keyfile_dir_open) and then works only
 * through that descriptor with plain names (no '/'): every later step acts on
 * the folder that was checked, whatever happens to its path meanwhile, and
 * no step follows a symbolic link at the file's name.
 *
 * What a secret file must be (md_keyfile_check_fd): a regular file, owned by
 * the user running mandated (its effective uid), with no permission bit for
 * group or others, and exactly one link.  Messages name the file and the fix.
 *
 * Every function returns MD_OK or a negative code and fills err once:
 * MD_ENOENT (absent), MD_EINVAL (refused: wrong type, owner, mode, links, or
 * a name that exists where none may), MD_ELIMIT (a file larger than asked
 * for), MD_EIO (a system call failed).
 */
#ifndef MD_KEYS_KEYFILE_H
#define MD_KEYS_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/core.h"

/* The admin token's name in the data dir (src/server/admin.c writes it). */
#define MD_KEYFILE_ADMIN_TOKEN "admin.token"

/*
 * Open the folder `path` (O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, read-only) and
 * check it: a directory that is not a symbolic link, owned by us or root, and
 * writable by nobody else.  With want_private (the data dir) it must be owned by
 * us and have no permission bit at all for group and others.  *dirfd on
 * success (close it).  MD_ENOENT when it does not exist; MD_EINVAL when
 * refused; MD_EIO.  Creates and changes nothing.
 */
int md_keyfile_dir_open(const char *path, bool want_private, int *dirfd, md_err_t *err) MD_WUR;

/*
 * Is the open file fd a private secret file (see above)?  0, or -1 with a
 * message in msg that names `shown` (the path, for people) and the fix.
 */
int md_keyfile_check_fd(int fd, const char *shown, char *msg, size_t msgsz);

/*
 * Open the existing file `name` in dirfd for reading (O_NOFOLLOW, and
 * O_NONBLOCK so that a FIFO cannot hang us) and check it with
 * md_keyfile_check_fd().  *fd on success (close it).  MD_ENOENT when absent;
 * MD_EINVAL when refused (a symbolic link, not a regular file, owner, mode,
 * links); MD_EIO.
 */
int md_keyfile_open(int dirfd, const char *name, const char *shown, int *fd, md_err_t *err) MD_WUR;

/* Read the whole file fd into buf: at most max bytes; *n is what it holds.  MD_ELIMIT
 * when it holds more than max; MD_EIO. */
int md_keyfile_read(int fd, void *buf, size_t max, size_t *n, const char *shown, md_err_t *err) MD_WUR;

/*
 * Write a new file `tmp` in dirfd holding p[0..n): a stale entry of that name
 * is removed first (never followed), the file is created with O_CREAT |
 * O_EXCL | O_NOFOLLOW and mode 0600, written and fsync'ed.  It is left under
 * the name tmp for md_keyfile_publish(); on failure nothing is left.
 */
int md_keyfile_write_tmp(int dirfd, const char *tmp, const void *p, size_t n, const char *shown,
                         md_err_t *err) MD_WUR;

/*
 * Give the file `tmp` its real name and fsync the folder.  replace: renameat()
 * (whatever had the name, even a symbolic link, is replaced, never followed);
 * otherwise linkat() then unlinkat(tmp), so an existing `name` is never
 * replaced (MD_EINVAL, tmp removed).
 */
int md_keyfile_publish(int dirfd, const char *tmp, const char *name, bool replace, const char *shown,
                       md_err_t *err) MD_WUR;

/* Does `name` exist in dirfd (as anything, a dangling symbolic link included)? */
bool md_keyfile_exists(int dirfd, const char *name);

/*
 * Split path into its folder and its last component: dir gets "." for a bare
 * name and "/" for a file at the root.  -1 when it does not fit or ends in '/'.
 */
int md_keyfile_split(const char *path, char *dir, size_t dirsz, const char **name);

#endif
