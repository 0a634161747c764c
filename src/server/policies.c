/*
 * policies.c: loading the snapshot's Cedar policies and schema (see policies.h).
 */
#include "server/policies.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The built-in schema, policies/mandate.cedarschema, NUL-terminated (the build runs from the top folder). */
__asm__(".pushsection .rodata\n"
        ".global md_builtin_schema_text\n"
        ".type md_builtin_schema_text, @object\n"
        "md_builtin_schema_text:\n"
        ".incbin \"policies/mandate.cedarschema\"\n"
        ".global md_builtin_schema_end\n"
        "md_builtin_schema_end:\n"
        ".byte 0\n"
        ".popsection\n");
extern const char md_builtin_schema_text[];
extern const char md_builtin_schema_end[];

const char *md_policies_builtin_schema(size_t *len)
{
    *len = (size_t)(md_builtin_schema_end - md_builtin_schema_text);
    return md_builtin_schema_text;
}

void md_policies_free(md_policies_t *p)
{
    if (p == NULL) return;
    md_cedar_policies_free(p->set);
    md_cedar_schema_free(p->schema);
    free(p);
}

/* Refuse what group or others may write, and anything not of the kind expected. */
static int check_writable(const char *path, const struct stat *st, int want_dir, char *msg, size_t msgsz)
{
    if (want_dir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode)) {
        snprintf(msg, msgsz, "%s: not a %s", path, want_dir ? "directory" : "regular file");
        return -1;
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(msg, msgsz,
                 "%s: group or others may write to it (mode %04o): whoever can write a policy can allow "
                 "anything (chmod go-w %s)",
                 path, (unsigned)(st->st_mode & 07777), path);
        return -1;
    }
    if (st->st_uid != 0 && st->st_uid != geteuid()) {
        snprintf(msg, msgsz, "%s: owned by uid %u, neither root nor the user running mandated", path,
                 (unsigned)st->st_uid);
        return -1;
    }
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read one policy file through an O_NOFOLLOW fd, checked on that fd.  0, or -1 with msg. */
static int read_policy_file(int dirfd, const char *dir, const char *name, md_buf_t *all, char *msg,
                            size_t msgsz, char **text, size_t *len)
{
    char path[4096];
    struct stat st;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        snprintf(msg, msgsz, "%s: %s", path,
                 errno == ELOOP ? "a symbolic link (give the file itself)" : strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || check_writable(path, &st, 0, msg, msgsz) != 0) {
        if (msg[0] == '\0') snprintf(msg, msgsz, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if ((uint64_t)st.st_size > MD_POLICY_FILE_MAX) {
        snprintf(msg, msgsz, "%s: larger than %u bytes", path, MD_POLICY_FILE_MAX);
        close(fd);
        return -1;
    }
    *text = malloc((size_t)st.st_size + 1);
    *len = 0;
    if (*text == NULL) {
        snprintf(msg, msgsz, "out of memory");
        close(fd);
        return -1;
    }
    while (*len < (size_t)st.st_size) {
        ssize_t r = read(fd, *text + *len, (size_t)st.st_size - *len);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        *len += (size_t)r;
    }
    close(fd);
    (*text)[*len] = '\0';
    md_buf_add(all, *text, *len);
    md_buf_add(all, "\n", 1);
    return 0;
}

/* Every *.cedar file of dir into *all; each parsed alone first so errors name their file. */
static int load_dir(const md_config_t *cfg, const char *dir, md_buf_t *all, size_t *nfiles,
                    md_conf_diag_t *diag)
{
    int line = md_config_line(cfg, "policies.dir"), before = diag->count + diag->dropped, dirfd;
    char msg[4096 + 256] = "", **names = NULL;
    size_t n = 0, cap = 0;
    struct stat st;
    DIR *d;
    struct dirent *de;

    dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dirfd < 0) {
        md_conf_diag_add(diag, cfg->file, line, "policies.dir", "%s: %s", dir,
                         errno == ELOOP || errno == ENOTDIR ? "not a directory (or a symbolic link)"
                                                            : strerror(errno));
        return MD_EINVAL;
    }
    if (fstat(dirfd, &st) != 0 || check_writable(dir, &st, 1, msg, sizeof(msg)) != 0) {
        md_conf_diag_add(diag, cfg->file, line, "policies.dir", "%s", msg[0] ? msg : strerror(errno));
        close(dirfd);
        return MD_EINVAL;
    }
    d = fdopendir(dup(dirfd));
    if (d == NULL) {
        md_conf_diag_add(diag, cfg->file, line, "policies.dir", "%s: %s", dir, strerror(errno));
        close(dirfd);
        return MD_EINVAL;
    }
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l < 7 || strcmp(de->d_name + l - 6, ".cedar") != 0) continue;
        if (n == MD_POLICY_FILES_MAX) {
            md_conf_diag_add(diag, cfg->file, line, "policies.dir", "%s: more than %d policy files", dir,
                             MD_POLICY_FILES_MAX);
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof(*names));
            if (nn == NULL) break;
            names = nn;
        }
        if ((names[n] = strdup(de->d_name)) == NULL) break;
        n++;
    }
    closedir(d);
    if (n > 1) qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n; i++) {
        char *text = NULL, err[1024], path[4096];
        size_t len = 0;
        md_cedar_policies_t *one = NULL;
        msg[0] = '\0';
        if (read_policy_file(dirfd, dir, names[i], all, msg, sizeof(msg), &text, &len) != 0) {
            md_conf_diag_add(diag, cfg->file, line, "policies.dir", "%s", msg);
            free(text);
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if (md_cedar_policies_load(text, len, path, &one, err, sizeof(err)) != 0)
            md_conf_diag_add(diag, cfg->file, line, "policies.dir", "%s", err);
        md_cedar_policies_free(one);
        free(text);
    }
    *nfiles = n;
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    close(dirfd);
    if (all->oom) return MD_ENOMEM;
    return diag->count + diag->dropped > before ? MD_EINVAL : MD_OK;
}

int md_policies_load(const md_config_t *cfg, md_policies_t **out, md_conf_diag_t *diag)
{
    md_policies_t *p = calloc(1, sizeof(*p));
    md_buf_t all;
    char err[1024];
    int rc = MD_OK;

    *out = NULL;
    md_buf_init(&all);
    if (p == NULL) {
        md_conf_diag_add(diag, cfg->file, 0, "policies", "out of memory");
        return MD_ENOMEM;
    }
    if (cfg->policies_schema != NULL) {
        char *text = NULL;
        size_t len = 0;
        md_err_t e = {0};
        size_t nl = strlen(cfg->policies_schema);
        int json = nl > 5 && strcmp(cfg->policies_schema + nl - 5, ".json") == 0;
        if (md_file_read(cfg->policies_schema, MD_POLICY_FILE_MAX, &text, &len, &e) != MD_OK) {
            md_conf_diag_add(diag, cfg->file, md_config_line(cfg, "policies.schema"), "policies.schema", "%s",
                             e.msg);
            rc = MD_EINVAL;
        } else if (md_cedar_schema_load(text, len, cfg->policies_schema, json, &p->schema, err,
                                        sizeof(err)) != 0) {
            md_conf_diag_add(diag, cfg->file, md_config_line(cfg, "policies.schema"), "policies.schema", "%s",
                             err);
            rc = MD_EINVAL;
        }
        free(text);
    } else {
        size_t len;
        const char *text = md_policies_builtin_schema(&len);
        p->builtin_schema = 1;
        if (md_cedar_schema_load(text, len, "policies/mandate.cedarschema (built in)", 0, &p->schema, err,
                                 sizeof(err)) != 0) {
            md_conf_diag_add(diag, cfg->file, 0, "policies.schema", "the built-in schema: %s", err);
            rc = MD_EINVAL;
        }
    }
    if (cfg->policies_dir != NULL) {
        int r = load_dir(cfg, cfg->policies_dir, &all, &p->nfiles, diag);
        if (r != MD_OK) rc = r;
    }
    if (rc == MD_OK) {
        p->nbytes = all.n;
        if (md_cedar_policies_load(all.n ? all.p : "", all.n,
                                   cfg->policies_dir ? cfg->policies_dir : "(none)", &p->set, err,
                                   sizeof(err)) != 0) {
            md_conf_diag_add(diag, cfg->file, md_config_line(cfg, "policies.dir"), "policies.dir", "%s", err);
            rc = MD_EINVAL;
        }
    }
    md_buf_free(&all);
    if (rc != MD_OK) {
        md_policies_free(p);
        return rc;
    }
    *out = p;
    return MD_OK;
}
