/*
 * client.c: the CLI's blocking HTTP/1.1 client (see client.h).
 *
 * One connection per request, `Connection: close`: a CLI makes a handful of
 * requests, and a fresh connection keeps the code small and every failure
 * local.  Deadlines: connect and every read and write get timeout_ms.  TCP
 * and the Workload API's Unix socket differ only in how the connection is
 * made and in the Host header; the request and response code is shared.
 * It also holds how the client commands report errors (md_client_fail,
 * md_client_usage, md_client_call), so that every command reports alike.
 *
 * Invariants: the bearer token and every buffer that held it are wiped
 * (OPENSSL_cleanse) before they are freed; a certificate that does not
 * verify or does not match the host is never talked to; a response larger
 * than MD_CLIENT_RESPONSE_MAX is refused, not truncated.
 */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#define CLIENT_TIMEOUT_MS 30000
#define HEAD_MAX (64 * 1024)

_Static_assert(MD_CLIENT_SOCKET_PATH_MAX == sizeof(((struct sockaddr_un *)0)->sun_path),
               "MD_CLIENT_SOCKET_PATH_MAX is the size of sun_path");

/* ---------------------------------------------------------------- addresses */

int md_client_addr_parse(const char *s, md_client_addr_t *out, md_err_t *err)
{
    const char *h, *end;
    size_t hl;

    memset(out, 0, sizeof(*out));
    if (s == NULL || s[0] == '\0') return md_err_set(err, MD_EINVAL, "empty address");
    if (strncmp(s, "https://", 8) == 0) {
        out->tls = true;
        h = s + 8;
    } else if (strncmp(s, "http://", 7) == 0) {
        h = s + 7;
    } else if (strstr(s, "://") != NULL) {
        return md_err_set(err, MD_EINVAL, "address %s: the scheme must be http:// or https://", s);
    } else {
        h = s;
    }
    if (*h == '[') {
        end = strchr(h, ']');
        if (end == NULL || end == h + 1) return md_err_set(err, MD_EINVAL, "address %s: unclosed [IPv6]", s);
        hl = (size_t)(end - h - 1);
        if (hl >= sizeof(out->host)) return md_err_set(err, MD_EINVAL, "address %s: host too long", s);
        memcpy(out->host, h + 1, hl);
        out->ipv6 = true;
        end++;
    } else {
        end = h + strcspn(h, ":/?#");
        hl = (size_t)(end - h);
        if (hl == 0) return md_err_set(err, MD_EINVAL, "address %s: no host", s);
        if (hl >= sizeof(out->host)) return md_err_set(err, MD_EINVAL, "address %s: host too long", s);
        memcpy(out->host, h, hl);
        for (size_t i = 0; i < hl; i++) {
            char c = out->host[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '-'))
                return md_err_set(err, MD_EINVAL, "address %s: the host has a character that is not allowed",
                                  s);
        }
    }
    out->host[hl] = '\0';
    if (*end == ':') {
        char *pe = NULL;
        long port = strtol(end + 1, &pe, 10);
        if (end[1] < '0' || end[1] > '9' || port < 1 || port > 65535 || (pe - end - 1) > 5)
            return md_err_set(err, MD_EINVAL, "address %s: the port must be 1..65535", s);
        snprintf(out->port, sizeof(out->port), "%ld", port);
        end = pe;
    } else {
        snprintf(out->port, sizeof(out->port), "%s", out->tls ? "443" : "80");
    }
    if (*end == '/' && end[1] == '\0') end++; /* a lone trailing slash is harmless */
    if (*end != '\0')
        return md_err_set(err, MD_EINVAL, "address %s: nothing may follow host:port (no path or query)", s);
    return MD_OK;
}

int md_client_socket_parse(const char *s, char out[MD_CLIENT_SOCKET_PATH_MAX], md_err_t *err)
{
    const char *p = s;
    size_t n;

    out[0] = '\0';
    if (s == NULL || s[0] == '\0') return md_err_set(err, MD_EINVAL, "the Workload API socket is empty");
    if (strncmp(s, "unix:", 5) == 0) {
        p = s + 5;
        if (strncmp(p, "//", 2) == 0) {
            p += 2;
            if (*p != '/')
                return md_err_set(err, MD_EINVAL,
                                  "socket %s: unix:// must be followed by an absolute path, without a host "
                                  "(unix:///PATH)",
                                  s);
        }
        if (strpbrk(p, "?#") != NULL)
            return md_err_set(err, MD_EINVAL, "socket %s: a unix: address has no query or fragment", s);
    }
    if (*p != '/')
        return md_err_set(err, MD_EINVAL, "socket %s: the path must be absolute (/PATH or unix:///PATH)", s);
    n = strlen(p);
    if (n >= MD_CLIENT_SOCKET_PATH_MAX)
        return md_err_set(err, MD_EINVAL, "socket %s: the path is %zu bytes, a Unix socket path at most %d",
                          s, n, MD_CLIENT_SOCKET_PATH_MAX - 1);
    memcpy(out, p, n + 1);
    return MD_OK;
}

/* ---------------------------------------------------------------- responses */

void md_client_resp_init(md_client_resp_t *r)
{
    memset(r, 0, sizeof(*r));
    md_buf_init(&r->body);
}

void md_client_resp_free(md_client_resp_t *r)
{
    md_buf_free(&r->body);
    memset(r, 0, sizeof(*r));
}

static bool ieq_prefix(const char *p, size_t n, const char *name)
{
    size_t l = strlen(name);
    return n > l && strncasecmp(p, name, l) == 0 && p[l] == ':';
}

/* The value of a header line (after "Name:"), trimmed. */
static void header_value(const char *p, size_t n, size_t name_len, const char **v, size_t *vn)
{
    const char *s = p + name_len + 1, *e = p + n;
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *v = s;
    *vn = (size_t)(e - s);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decode a chunked body.  1: complete, 0: needs more, -1: malformed. */
static int dechunk(const char *p, size_t n, md_buf_t *out)
{
    size_t i = 0;
    md_buf_reset(out);
    for (;;) {
        uint64_t size = 0;
        size_t digits = 0;
        while (i < n && hexval(p[i]) >= 0) {
            if (++digits > 15) return -1;
            size = size * 16 + (uint64_t)hexval(p[i++]);
        }
        if (i == n) return 0;
        if (digits == 0) return -1;
        while (i < n && p[i] != '\n') /* chunk extensions: ignored */
            i++;
        if (i == n) return 0;
        i++;
        if (size == 0) { /* trailers until an empty line */
            for (;;) {
                size_t s = i;
                while (i < n && p[i] != '\n')
                    i++;
                if (i == n) return 0;
                bool empty = i == s || (i == s + 1 && p[s] == '\r');
                i++;
                if (empty) return 1;
            }
        }
        if (size > n - i) return 0;
        if (out->n + size > MD_CLIENT_RESPONSE_MAX) return -1;
        md_buf_add(out, p + i, (size_t)size);
        i += (size_t)size;
        if (i < n && p[i] == '\r') i++;
        if (i == n) return 0;
        if (p[i] != '\n') return -1;
        i++;
    }
}

int md_client_parse_response(const char *data, size_t n, bool eof, md_client_resp_t *out, bool *complete,
                             md_err_t *err)
{
    const char *end = NULL;
    size_t head_len;
    long long clen = -1;
    bool chunked = false;

    *complete = false;
    for (size_t i = 0; i + 3 < n; i++)
        if (memcmp(data + i, "\r\n\r\n", 4) == 0) {
            end = data + i;
            break;
        }
    if (end == NULL) {
        if (n > HEAD_MAX) return md_err_set(err, MD_EINVAL, "the response head is too large");
        if (eof) return md_err_set(err, MD_EINVAL, "the connection closed before a complete response head");
        return MD_OK;
    }
    head_len = (size_t)(end - data) + 4;
    /* status line */
    if (n < 12 || memcmp(data, "HTTP/1.", 7) != 0 || data[8] != ' ' || hexval(data[9]) < 0 || data[9] > '9' ||
        data[10] < '0' || data[10] > '9' || data[11] < '0' || data[11] > '9')
        return md_err_set(err, MD_EINVAL, "not an HTTP/1.x response");
    out->status = (data[9] - '0') * 100 + (data[10] - '0') * 10 + (data[11] - '0');
    if (out->status < 100 || out->status > 599) return md_err_set(err, MD_EINVAL, "bad status code");
    /* headers */
    const char *p = memchr(data, '\n', head_len) + 1;
    while (p < end) {
        const char *e = memchr(p, '\n', (size_t)(end + 2 - p));
        if (e == NULL) break;
        size_t ln = (size_t)(e - p);
        if (ln > 0 && p[ln - 1] == '\r') ln--;
        const char *v;
        size_t vn;
        if (ieq_prefix(p, ln, "content-length")) {
            header_value(p, ln, 14, &v, &vn);
            char tmp[24];
            if (vn == 0 || vn >= sizeof(tmp)) return md_err_set(err, MD_EINVAL, "bad Content-Length");
            memcpy(tmp, v, vn);
            tmp[vn] = '\0';
            char *pe = NULL;
            long long cl = strtoll(tmp, &pe, 10);
            if (*pe != '\0' || cl < 0 || (clen >= 0 && cl != clen))
                return md_err_set(err, MD_EINVAL, "bad Content-Length");
            if (cl > (long long)MD_CLIENT_RESPONSE_MAX)
                return md_err_set(err, MD_EINVAL, "the response is larger than %u bytes",
                                  MD_CLIENT_RESPONSE_MAX);
            clen = cl;
        } else if (ieq_prefix(p, ln, "transfer-encoding")) {
            header_value(p, ln, 17, &v, &vn);
            if (vn == 7 && strncasecmp(v, "chunked", 7) == 0)
                chunked = true;
            else
                return md_err_set(err, MD_EINVAL, "unsupported Transfer-Encoding");
        } else if (ieq_prefix(p, ln, "content-type")) {
            header_value(p, ln, 12, &v, &vn);
            if (vn >= sizeof(out->content_type)) vn = sizeof(out->content_type) - 1;
            memcpy(out->content_type, v, vn);
            out->content_type[vn] = '\0';
        }
        p = e + 1;
    }
    /* body */
    const char *body = data + head_len;
    size_t have = n - head_len;
    bool nobody = out->status < 200 || out->status == 204 || out->status == 304;
    md_buf_reset(&out->body);
    if (nobody) {
        *complete = true;
    } else if (chunked) {
        int r = dechunk(body, have, &out->body);
        if (r < 0) return md_err_set(err, MD_EINVAL, "malformed chunked body");
        if (r == 0 && eof) return md_err_set(err, MD_EINVAL, "the connection closed inside the body");
        *complete = r == 1;
    } else if (clen >= 0) {
        if (have < (size_t)clen) {
            if (eof) return md_err_set(err, MD_EINVAL, "the connection closed inside the body");
            return MD_OK;
        }
        md_buf_add(&out->body, body, (size_t)clen);
        *complete = true;
    } else {
        if (!eof) return MD_OK; /* delimited by the end of the connection */
        md_buf_add(&out->body, body, have);
        *complete = true;
    }
    if (out->body.oom) return md_err_set(err, MD_ENOMEM, "out of memory");
    if (out->body.p == NULL) md_buf_add(&out->body, "", 0);
    return MD_OK;
}

/* ---------------------------------------------------------------- token */

void md_client_secret_free(char *s)
{
    if (s == NULL) return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}

/*
 * The first line of what fd holds (at most max bytes, trailing blanks cut) as
 * a new string: printable ASCII without spaces, since it goes into a header.
 * name says where it came from in messages.
 */
static int read_first_line(int fd, const char *name, size_t max, char **out, md_err_t *err)
{
    size_t cap = max + 2, n = 0;
    char *buf = malloc(cap);
    int rc = MD_EINVAL;

    if (buf == NULL) return md_err_set(err, MD_ENOMEM, "out of memory");
    while (n < cap - 1) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            md_err_set(err, MD_EINVAL, "%s: %s", name, strerror(errno));
            goto out;
        }
        if (r == 0) break;
        n += (size_t)r;
        if (memchr(buf + n - (size_t)r, '\n', (size_t)r) != NULL) break; /* the first line is in */
    }
    buf[n] = '\0';
    n = strcspn(buf, "\r\n");
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        buf[--n] = '\0';
    if (n == 0 || n > max) {
        md_err_set(err, MD_EINVAL, "%s: the first line must hold the token", name);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c <= 0x20 || c >= 0x7f) {
            md_err_set(err, MD_EINVAL, "%s: the token has a character that is not allowed", name);
            goto out;
        }
    }
    *out = strdup(buf);
    rc = *out ? MD_OK : md_err_set(err, MD_ENOMEM, "out of memory");
out:
    OPENSSL_cleanse(buf, cap);
    free(buf);
    return rc;
}

/* A secret file: regular, and no permission bit for group or others. */
static int read_secret_file(const char *path, size_t max, char **out, md_err_t *err)
{
    char name[PATH_MAX + 16];
    struct stat st;
    int fd, rc = MD_EINVAL;

    *out = NULL;
    snprintf(name, sizeof(name), "token file %s", path);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return md_err_set(err, MD_EINVAL, "token file %s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        md_err_set(err, MD_EINVAL, "token file %s: not a regular file", path);
        goto out;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        md_err_set(err, MD_EINVAL,
                   "token file %s: mode %04o lets group or others read it; refusing to use it (chmod 600 %s)",
                   path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    rc = read_first_line(fd, name, max, out, err);
out:
    close(fd);
    return rc;
}

int md_client_read_token(const char *path, char **out, md_err_t *err)
{
    return read_secret_file(path, MD_CLIENT_TOKEN_MAX, out, err);
}

int md_client_read_secret(const char *path, size_t max, char **out, md_err_t *err)
{
    *out = NULL;
    if (strcmp(path, "-") == 0) return read_first_line(STDIN_FILENO, "standard input", max, out, err);
    return read_secret_file(path, max, out, err);
}

bool md_client_is_jws(const char *s)
{
    size_t dots = 0, seg = 0;
    if (s == NULL) return false;
    for (; *s; s++) {
        char ch = *s;
        if (ch == '.') {
            if (seg == 0 || ++dots > 2) return false;
            seg = 0;
        } else if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                   ch == '-' || ch == '_') {
            seg++;
        } else {
            return false;
        }
    }
    return dots == 2 && seg > 0;
}

long long md_client_parse_duration(const char *s)
{
    long long total = 0;
    bool any = false;
    if (*s == '\0') return -1;
    if (strspn(s, "0123456789") == strlen(s)) return strlen(s) > 9 ? -1 : atoll(s);
    while (*s) {
        long long v = 0;
        size_t d = 0;
        while (*s >= '0' && *s <= '9') {
            if (++d > 9) return -1;
            v = v * 10 + (*s++ - '0');
        }
        if (d == 0) return -1;
        if (*s == 'h')
            v *= 3600;
        else if (*s == 'm')
            v *= 60;
        else if (*s != 's')
            return -1;
        s++;
        total += v;
        any = true;
        if (total > 100000000LL) return -1;
    }
    return any ? total : -1;
}

/* ---------------------------------------------------------------- the client */

int md_client_init(md_client_t *c, const md_client_opts_t *o, md_err_t *err)
{
    const char *addr = o->addr ? o->addr : getenv("MANDATE_ADDR");
    const char *tf = o->token_file ? o->token_file : getenv("MANDATE_TOKEN_FILE");
    const char *ca = o->cacert ? o->cacert : getenv("MANDATE_CACERT");
    int rc;

    memset(c, 0, sizeof(*c));
    c->timeout_ms = CLIENT_TIMEOUT_MS;
    if (addr == NULL || addr[0] == '\0') addr = MD_CLIENT_DEFAULT_ADDR;
    rc = md_client_addr_parse(addr, &c->addr, err);
    if (rc != MD_OK) return rc;
    snprintf(c->origin, sizeof(c->origin), "%s://%s%s%s:%s", c->addr.tls ? "https" : "http",
             c->addr.ipv6 ? "[" : "", c->addr.host, c->addr.ipv6 ? "]" : "", c->addr.port);
    if (tf != NULL && tf[0] != '\0') {
        rc = md_client_read_token(tf, &c->token, err);
        if (rc != MD_OK) return rc;
    } else if (o->need_token) {
        return md_err_set(
            err, MD_EINVAL,
            "no admin token: pass --token-file FILE or set MANDATE_TOKEN_FILE (mandated writes it to "
            "<data_dir>/admin.token)");
    }
    if (c->addr.tls) {
        c->tls = SSL_CTX_new(TLS_client_method());
        if (c->tls == NULL) {
            md_client_free(c);
            return md_err_set(err, MD_ENOMEM, "TLS: cannot make a context");
        }
        SSL_CTX_set_min_proto_version(c->tls, TLS1_2_VERSION);
        SSL_CTX_set_verify(c->tls, SSL_VERIFY_PEER, NULL);
        int ok = ca != NULL && ca[0] != '\0' ? SSL_CTX_load_verify_locations(c->tls, ca, NULL)
                                             : SSL_CTX_set_default_verify_paths(c->tls);
        if (ok != 1) {
            ERR_clear_error();
            md_client_free(c);
            return md_err_set(err, MD_EINVAL, "TLS: cannot load the trusted certificates%s%s",
                              ca ? " from " : "", ca ? ca : "");
        }
        static const unsigned char alpn[] = "\x08http/1.1";
        SSL_CTX_set_alpn_protos(c->tls, alpn, sizeof(alpn) - 1);
    }
    return MD_OK;
}

int md_client_init_unix(md_client_t *c, const char *path, md_err_t *err)
{
    const char *s = path != NULL ? path : getenv(MD_CLIENT_SOCKET_ENV);
    int rc;

    memset(c, 0, sizeof(*c));
    c->timeout_ms = CLIENT_TIMEOUT_MS;
    if (path == NULL && (s == NULL || s[0] == '\0'))
        return md_err_set(err, MD_EINVAL,
                          "no Workload API socket: give --socket PATH or set " MD_CLIENT_SOCKET_ENV);
    rc = md_client_socket_parse(s, c->unix_path, err);
    if (rc != MD_OK) return rc;
    snprintf(c->origin, sizeof(c->origin), "unix:%s", c->unix_path);
    return MD_OK;
}

void md_client_free(md_client_t *c)
{
    md_client_secret_free(c->token);
    if (c->tls) SSL_CTX_free(c->tls);
    memset(c, 0, sizeof(*c));
}

void md_client_path_segment(md_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
            ch == '.' || ch == '_' || ch == '~') {
            md_buf_addc(b, (char)ch);
        } else {
            md_buf_addc(b, '%');
            md_buf_addc(b, hex[ch >> 4]);
            md_buf_addc(b, hex[ch & 15]);
        }
    }
}

/* Bound every later read and write of a blocking socket (and a Unix-socket connect). */
static void set_io_timeouts(int fd, int timeout_ms)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Connect with a deadline; the socket is left blocking with read/write timeouts. */
static int dial_tcp(md_client_t *c, md_err_t *err)
{
    struct addrinfo hints, *res = NULL;
    int fd = -1, e;
    char last[256] = "no address";

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    e = getaddrinfo(c->addr.host, c->addr.port, &hints, &res);
    if (e != 0) {
        md_err_set(err, MD_EIO, "cannot resolve %s: %s", c->addr.host, gai_strerror(e));
        return -1;
    }
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) continue;
        int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (r != 0 && errno == EINPROGRESS) {
            struct pollfd pfd = {fd, POLLOUT, 0};
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            r = poll(&pfd, 1, c->timeout_ms);
            if (r == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                r = 0;
            else {
                errno = r == 0 ? ETIMEDOUT : soerr ? soerr : errno;
                r = -1;
            }
        }
        if (r == 0) {
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
            set_io_timeouts(fd, c->timeout_ms);
            break;
        }
        snprintf(last, sizeof(last), "%s", strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) md_err_set(err, MD_EIO, "cannot connect to %s: %s", c->origin, last);
    return fd;
}

/*
 * Connect to the Unix socket.  The timeouts are set first: on Linux a
 * blocking connect() to a listener whose queue is full waits at most
 * SO_SNDTIMEO, then fails with EAGAIN.
 */
static int dial_unix(md_client_t *c, md_err_t *err)
{
    struct sockaddr_un sun;
    int fd, r;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, c->unix_path, sizeof(sun.sun_path)); /* NUL-terminated: md_client_socket_parse */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        md_err_set(err, MD_EIO, "cannot connect to %s: %s", c->origin, strerror(errno));
        return -1;
    }
    set_io_timeouts(fd, c->timeout_ms);
    do
        r = connect(fd, (const struct sockaddr *)&sun, sizeof(sun));
    while (r != 0 && errno == EINTR);
    if (r != 0) {
        md_err_set(err, MD_EIO, "cannot connect to %s: %s", c->origin,
                   errno == EAGAIN ? "timed out (the listener's queue stays full)" : strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static const char *tls_reason(void)
{
    static char buf[256];
    unsigned long e = ERR_get_error();
    if (e == 0) return "the handshake failed";
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return buf;
}

/* Write all of p over the socket or the TLS session. */
static int send_all(int fd, SSL *ssl, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w;
        if (ssl != NULL) {
            size_t wn = 0;
            w = SSL_write_ex(ssl, p, n, &wn) == 1 ? (ssize_t)wn : -1;
        } else {
            w = send(fd, p, n, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR) continue;
        }
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int md_client_request(md_client_t *c, const char *method, const char *path, const char *body, size_t n,
                      md_client_resp_t *resp, md_err_t *err)
{
    return md_client_request_ct(c, method, path, "application/json", body, n, resp, err);
}

int md_client_request_ct(md_client_t *c, const char *method, const char *path, const char *content_type,
                         const char *body, size_t n, md_client_resp_t *resp, md_err_t *err)
{
    md_buf_t req, in;
    SSL *ssl = NULL;
    int fd = -1, rc = MD_EIO;
    bool complete = false, eof = false;

    md_buf_init(&req);
    md_buf_init(&in);
    md_buf_printf(&req, "%s %s HTTP/1.1\r\n", method, path);
    if (c->unix_path[0] != '\0')
        md_buf_adds(&req, "Host: localhost\r\n");
    else
        md_buf_printf(&req, "Host: %s%s%s:%s\r\n", c->addr.ipv6 ? "[" : "", c->addr.host,
                      c->addr.ipv6 ? "]" : "", c->addr.port);
    md_buf_adds(&req, "User-Agent: mandate-cli\r\n");
    md_buf_adds(&req, "Accept: application/json\r\nConnection: close\r\n");
    if (c->token != NULL) md_buf_printf(&req, "Authorization: Bearer %s\r\n", c->token);
    if (body != NULL) md_buf_printf(&req, "Content-Type: %s\r\nContent-Length: %zu\r\n", content_type, n);
    md_buf_adds(&req, "\r\n");
    if (body != NULL) md_buf_add(&req, body, n);
    if (req.oom) {
        rc = md_err_set(err, MD_ENOMEM, "out of memory");
        goto out;
    }
    fd = c->unix_path[0] != '\0' ? dial_unix(c, err) : dial_tcp(c, err);
    if (fd < 0) goto out;
    if (c->tls != NULL) {
        ssl = SSL_new(c->tls);
        if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
            md_err_set(err, MD_EIO, "TLS: %s", tls_reason());
            goto out;
        }
        X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        bool ip = c->addr.ipv6 || strspn(c->addr.host, "0123456789.") == strlen(c->addr.host);
        if (ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, c->addr.host) != 1
               : (SSL_set1_host(ssl, c->addr.host) != 1 ||
                  SSL_set_tlsext_host_name(ssl, c->addr.host) != 1)) {
            md_err_set(err, MD_EIO, "TLS: cannot set the expected host %s", c->addr.host);
            goto out;
        }
        if (SSL_connect(ssl) != 1) {
            long vr = SSL_get_verify_result(ssl);
            if (vr != X509_V_OK)
                md_err_set(err, MD_EIO, "TLS: the certificate of %s does not verify: %s", c->origin,
                           X509_verify_cert_error_string(vr));
            else
                md_err_set(err, MD_EIO, "TLS with %s: %s", c->origin, tls_reason());
            goto out;
        }
    }
    if (send_all(fd, ssl, req.p, req.n) != 0) {
        md_err_set(err, MD_EIO, "sending to %s: %s", c->origin, ssl ? tls_reason() : strerror(errno));
        goto out;
    }
    while (!complete) {
        char chunk[16384];
        ssize_t r;
        if (ssl != NULL) {
            size_t got = 0;
            int ok = SSL_read_ex(ssl, chunk, sizeof(chunk), &got);
            if (ok == 1)
                r = (ssize_t)got;
            else {
                int e = SSL_get_error(ssl, 0);
                r = e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL ? 0 : -1;
                ERR_clear_error();
            }
        } else {
            r = recv(fd, chunk, sizeof(chunk), 0);
            if (r < 0 && errno == EINTR) continue;
        }
        if (r < 0) {
            md_err_set(err, MD_EIO, "reading from %s: %s", c->origin,
                       errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" : strerror(errno));
            goto out;
        }
        if (r == 0) eof = true;
        md_buf_add(&in, chunk, (size_t)r);
        if (in.oom || in.n > MD_CLIENT_RESPONSE_MAX + HEAD_MAX) {
            md_err_set(err, MD_EIO, "the response from %s is too large", c->origin);
            goto out;
        }
        md_err_t perr = {0};
        int prc = md_client_parse_response(in.p ? in.p : "", in.n, eof, resp, &complete, &perr);
        if (prc != MD_OK) {
            md_err_set(err, MD_EIO, "bad response from %s: %s", c->origin, perr.msg);
            goto out;
        }
        if (eof && !complete) {
            md_err_set(err, MD_EIO, "%s closed the connection without a complete answer", c->origin);
            goto out;
        }
    }
    rc = MD_OK;
out:
    if (req.p != NULL) OPENSSL_cleanse(req.p, req.n);
    md_buf_free(&req);
    md_buf_free(&in);
    if (ssl != NULL) {
        SSL_shutdown(ssl);
        SSL_free(ssl);
    }
    if (fd >= 0) close(fd);
    ERR_clear_error();
    return rc;
}

/* ---------------------------------------------------------------- reporting */

/* msg as a JSON string; bytes that are not UTF-8 (a path from the command line) become U+FFFD. */
static json_t *json_text(const char *msg)
{
    json_t *s = json_string(msg);
    if (s != NULL) return s;
    md_buf_t b;
    size_t n = strlen(msg), i = 0;
    md_buf_init(&b);
    while (i < n) {
        size_t at = i;
        int32_t cp = md_utf8_next(msg, n, &i);
        if (cp < 0) {
            cp = 0xfffd;
            i = at + 1;
        }
        md_utf8_put(&b, (uint32_t)cp);
    }
    s = b.oom || b.p == NULL ? NULL : json_stringn(b.p, b.n);
    md_buf_free(&b);
    return s;
}

/* {"error": code, "message": msg, "status": status} on stdout. */
static void print_error_json(const char *code, const char *msg, int status)
{
    json_t *e = json_pack("{s:s, s:o?, s:i}", "error", code, "message", json_text(msg), "status", status);
    if (e == NULL) return;
    json_dumpf(e, stdout, JSON_COMPACT);
    fputc('\n', stdout);
    json_decref(e);
}

int md_client_fail(bool json, int code, const char *kind, const char *msg)
{
    if (json)
        print_error_json(kind, msg, 0);
    else
        fprintf(stderr, "mandate: %s\n", msg);
    return code;
}

int md_client_usage(bool json, const char *command, const char *msg)
{
    if (json) return md_client_fail(true, MD_EXIT_USAGE, "usage", msg);
    fprintf(stderr, "mandate: %s (see `mandate help %s`)\n", msg, command);
    return MD_EXIT_USAGE;
}

int md_client_call(md_client_t *c, bool json, const char *method, const char *path, const json_t *body,
                   json_t **doc)
{
    char *text = NULL;
    int code;

    *doc = NULL;
    if (body != NULL && (text = json_dumps(body, JSON_COMPACT)) == NULL)
        return md_client_fail(json, MD_EXIT_USAGE, "usage", "out of memory");
    code = md_client_call_raw(c, json, method, path, "application/json", text, text ? strlen(text) : 0, doc);
    if (text != NULL) OPENSSL_cleanse(text, strlen(text)); /* it may hold a token (on_behalf_of) */
    free(text);
    return code;
}

int md_client_call_raw(md_client_t *c, bool json, const char *method, const char *path,
                       const char *content_type, const char *body, size_t n, json_t **doc)
{
    md_client_resp_t resp;
    md_err_t err = {0};
    json_error_t je;
    json_t *j = NULL;
    int code;

    *doc = NULL;
    md_client_resp_init(&resp);
    if (md_client_request_ct(c, method, path, content_type, body, n, &resp, &err) != MD_OK) {
        code = md_client_fail(json, MD_EXIT_SERVER, "connection", err.msg);
        goto out;
    }
    j = resp.body.n ? json_loadb(resp.body.p, resp.body.n, 0, &je) : NULL;
    if (resp.status >= 200 && resp.status < 300) {
        if (resp.body.n && j == NULL) {
            code = md_client_fail(json, MD_EXIT_SERVER, "bad_response", "the server's answer is not JSON");
            goto out;
        }
        *doc = j;
        j = NULL;
        code = MD_EXIT_OK;
        goto out;
    }
    code = resp.status >= 400 && resp.status < 500 ? MD_EXIT_REFUSED : MD_EXIT_SERVER;
    const char *ecode = json_string_value(json_object_get(j, "error"));
    const char *msg = json_string_value(json_object_get(j, "message"));
    if (msg == NULL) msg = json_string_value(json_object_get(j, "error_description")); /* RFC 6749 5.2 */
    if (json)
        print_error_json(ecode ? ecode : "http_error", msg ? msg : "the server gave no message", resp.status);
    else
        fprintf(stderr, "mandate: %s (HTTP %d%s%s)\n", msg ? msg : "the server refused the request",
                resp.status, ecode ? " " : "", ecode ? ecode : "");
out:
    json_decref(j);
    if (resp.body.p != NULL) OPENSSL_cleanse(resp.body.p, resp.body.n); /* it may hold a mandate */
    md_client_resp_free(&resp);
    return code;
}
