/*
 * client.h: how `mandate` talks to mandated — a small blocking HTTP/1.1
 * client over one connection per request (Connection: close): TCP, with TLS
 * and certificate verification when the address is https://, or a Unix
 * socket for mandated's Workload API.
 *
 * Where and as whom:
 *   address     --addr, else $MANDATE_ADDR, else http://127.0.0.1:7744.
 *               http://HOST[:PORT] or https://HOST[:PORT] (HOST a name, an
 *               IPv4 address or [IPv6]); a bare HOST:PORT means http://.
 *               Nothing may follow the port (no path).
 *   token       --token-file, else $MANDATE_TOKEN_FILE: the file's first line
 *               is sent as `Authorization: Bearer`.  A file with any
 *               permission bit for group or others is refused, as mandated
 *               refuses its own secrets (chmod 600 FILE).
 *   CA          --cacert, else $MANDATE_CACERT: PEM certificates to trust for
 *               https:// (default: the system's trust store).  The server's
 *               certificate must verify and match the host (name or IP).
 *   socket      the Workload API instead (md_client_init_unix): --socket,
 *               else $MANDATE_AGENT_SOCKET; /abs/path, unix:/abs/path or
 *               unix:///abs/path.  No token and no TLS: mandated identifies
 *               the calling process by its socket (SO_PEERCRED attestation).
 *
 * Exit codes every client command uses (MD_EXIT_*): 0 done, 1 usage or
 * input error (nothing sent), 3 the server refused the request (4xx),
 * 4 server error (5xx) or no answer (connection, TLS, timeout).
 */
#ifndef MD_CMD_CLIENT_H
#define MD_CMD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <openssl/ssl.h>

#include "core/core.h"

enum {
    MD_EXIT_OK = 0,
    MD_EXIT_USAGE = 1,
    MD_EXIT_REFUSED = 3,
    MD_EXIT_SERVER = 4,
};

#define MD_CLIENT_DEFAULT_ADDR "http://127.0.0.1:7744"
#define MD_CLIENT_RESPONSE_MAX (64u << 20)
#define MD_CLIENT_TOKEN_MAX 4096
#define MD_CLIENT_SOCKET_ENV "MANDATE_AGENT_SOCKET"
#define MD_CLIENT_SOCKET_PATH_MAX 108 /* sizeof(sun_path) on Linux, the NUL included */

/* A parsed address. */
typedef struct md_client_addr {
    bool tls;
    char host[256]; /* without brackets for IPv6 */
    char port[8];
    bool ipv6; /* host is an IPv6 literal (written in brackets) */
} md_client_addr_t;

/* Parse an address (see above).  MD_OK or MD_EINVAL with err set. */
int md_client_addr_parse(const char *s, md_client_addr_t *out, md_err_t *err) MD_WUR;

/* A response as received. */
typedef struct md_client_resp {
    int status;
    char content_type[128];
    md_buf_t body; /* owned: the decoded body (chunked framing removed) */
} md_client_resp_t;

void md_client_resp_init(md_client_resp_t *r);
void md_client_resp_free(md_client_resp_t *r);

/*
 * Parse a whole HTTP/1.1 response (status line, headers, body framed by
 * Content-Length, chunked encoding, or the end of the data).  *complete is
 * false when more data is needed.  MD_OK (check *complete), MD_EINVAL for a
 * malformed response, MD_ENOMEM.
 */
int md_client_parse_response(const char *data, size_t n, bool eof, md_client_resp_t *out, bool *complete,
                             md_err_t *err) MD_WUR;

/*
 * Parse a Workload API socket: /abs/path, unix:/abs/path or unix:///abs/path
 * (the SPIFFE_ENDPOINT_SOCKET forms; no host, query or fragment).  out gets the
 * path, which must fit a Unix socket address.  MD_OK or MD_EINVAL with err set.
 */
int md_client_socket_parse(const char *s, char out[MD_CLIENT_SOCKET_PATH_MAX], md_err_t *err) MD_WUR;

typedef struct md_client {
    md_client_addr_t addr;
    char unix_path[MD_CLIENT_SOCKET_PATH_MAX]; /* non-empty: talk over this Unix socket, not addr */
    char *token;                               /* owned, wiped on free; NULL: no Authorization header */
    SSL_CTX *tls;                              /* owned when addr.tls */
    int timeout_ms;                            /* connect, and each read or write */
    char origin[300];                          /* "http://host:port" or "unix:/path" for messages */
} md_client_t;

typedef struct md_client_opts {
    const char *addr;       /* NULL: $MANDATE_ADDR or the default */
    const char *token_file; /* NULL: $MANDATE_TOKEN_FILE */
    const char *cacert;     /* NULL: $MANDATE_CACERT or the system's */
    bool need_token;        /* a token is required (admin commands) */
} md_client_opts_t;

/* Resolve the options and the environment; read the token.  MD_OK, or
 * MD_EINVAL (usage/input: bad address, no or unsafe token file) with err set. */
int md_client_init(md_client_t *c, const md_client_opts_t *opts, md_err_t *err) MD_WUR;
/* A client of mandated's Workload API at path (NULL: $MANDATE_AGENT_SOCKET; see
 * md_client_socket_parse).  Requests carry `Host: localhost` and no token.
 * MD_OK, or MD_EINVAL (no socket given, or a bad one) with err set. */
int md_client_init_unix(md_client_t *c, const char *path, md_err_t *err) MD_WUR;
void md_client_free(md_client_t *c);

/* Read a token file (first line; refused when group/others may access it). *out is malloc'd;
 * wipe and free it with md_client_secret_free. */
int md_client_read_token(const char *path, char **out, md_err_t *err) MD_WUR;
/* The same with another size limit (bytes of the token), and "-" for standard input (no mode
 * check there).  MD_OK, MD_EINVAL (err says why: "token file PATH: ..." or "standard input: ..."),
 * MD_ENOMEM. */
int md_client_read_secret(const char *path, size_t max, char **out, md_err_t *err) MD_WUR;
void md_client_secret_free(char *s);

/* Is s a compact JWS: three base64url segments, none empty (so that it is one safe line and a
 * safe header value)? */
bool md_client_is_jws(const char *s);
/* "300", "30s", "5m", "1h", "1m30s" → seconds (at most 100000000); -1 when malformed. */
long long md_client_parse_duration(const char *s);

/*
 * One request: body (may be NULL) is sent as application/json.  On MD_OK an
 * answer arrived (any status; see resp).  MD_EIO: no answer (err says why).
 */
int md_client_request(md_client_t *c, const char *method, const char *path, const char *body, size_t n,
                      md_client_resp_t *resp, md_err_t *err) MD_WUR;
/* The same with the body sent as content_type (e.g. application/x-www-form-urlencoded). */
int md_client_request_ct(md_client_t *c, const char *method, const char *path, const char *content_type,
                         const char *body, size_t n, md_client_resp_t *resp, md_err_t *err) MD_WUR;

/* Append s percent-encoded as one path segment (everything but A-Z a-z 0-9 - . _ ~). */
void md_client_path_segment(md_buf_t *b, const char *s);

/*
 * How every client command reports, in one place.  With json: exactly one
 * JSON document on stdout, {"error": CODE, "message": TEXT, "status": HTTP
 * status or 0}; without: "mandate: TEXT ..." on stderr.
 */

/* An error found before or without an answer (kind: "usage", "connection", ...).  Returns code. */
int md_client_fail(bool json, int code, const char *kind, const char *msg);
/* A usage error of command ("agent register"), pointing at `mandate help COMMAND`.  Returns MD_EXIT_USAGE. */
int md_client_usage(bool json, const char *command, const char *msg);

/*
 * One request with a JSON body (NULL: none) through an initialised client.
 * On MD_EXIT_OK *doc is the 2xx answer's JSON (owned by the caller; NULL when
 * the body is empty).  Otherwise the failure has been reported and the exit
 * code is returned: MD_EXIT_REFUSED for a 4xx, MD_EXIT_SERVER for any other
 * status, an answer that is not JSON, or no answer; an HTTP error shows as
 * "mandate: MESSAGE (HTTP STATUS ERROR)" without json.
 */
int md_client_call(md_client_t *c, bool json, const char *method, const char *path, const json_t *body,
                   json_t **doc) MD_WUR;
/* The same with a body of any content type (NULL: none).  An error answer's message is its
 * "message", else its "error_description" (RFC 6749 section 5.2 errors). */
int md_client_call_raw(md_client_t *c, bool json, const char *method, const char *path,
                       const char *content_type, const char *body, size_t n, json_t **doc) MD_WUR;

#endif
