/*
 * server_int.h: the server module's internals, shared by its files only.
 *
 *   server.c    start-up, worker threads, signals, reload, shutdown
 *   http.c      connections: HTTP/1.1 parsing, limits, timeouts, replies
 *   router.c    route matching             snapshot.c  snapshots and TLS
 *   routes.c    the route table, /healthz, /metrics
 *   admin.c     the admin token and the /v1/admin endpoints
 *   wellknown.c JWKS, OAuth metadata, the admin view of the keys
 *   agents.c    the agent registry (/v1/admin/agents)
 *   metrics.c   counters
 *
 * Threads: the main thread only handles signals and reloads; each worker
 * thread owns an event_base and every connection accepted on it, so a
 * connection is only ever touched by one thread.  What workers share is
 * read-only after start (md_server_t's fixed fields), atomic (counters,
 * the pending snapshot hand-over) or refcounted (snapshots).
 */
#ifndef MD_SERVER_SERVER_INT_H
#define MD_SERVER_SERVER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "core/config.h"
#include "identity/entry.h"
#include "keys/keys.h"
#include "server/jobs.h"
#include "task/revoke.h"
#include "mandate/cedar.h"
#include "server/http.h"
#include "server/router.h"
#include "server/server.h"
#include "server/snapshot.h"
#include "store/store.h"

#define MD_HTTP_HEAD_MAX (16 * 1024) /* request line + headers */
#define MD_HTTP_HEADERS_MAX 100
#define MD_HTTP_LINE_MAX 1024        /* a chunk-size or trailer line */
#define MD_HTTP_READ_HWM (64 * 1024) /* input buffered per connection before reading pauses */
#define MD_HTTP_LINGER_MS 2000       /* reading and discarding after an early error, at most */
#define MD_HTTP_LINGER_BYTES (1 << 20)
#define MD_WORKERS_MAX 64
#define MD_ADMIN_NAME "admin"

typedef struct md_worker md_worker_t;

typedef enum md_conn_state {
    MD_CONN_IDLE,    /* waiting for the first byte of a request */
    MD_CONN_HEAD,    /* reading the request head (deadline: header_timeout) */
    MD_CONN_BODY,    /* reading the body (deadline: body_timeout) */
    MD_CONN_BUSY,    /* the handler runs */
    MD_CONN_WRITE,   /* the answer is being written */
    MD_CONN_LINGER,  /* answered and half-closed; discarding what the peer still sends */
    MD_CONN_CLOSING, /* to be freed from the loop as soon as possible */
} md_conn_state_t;

enum { MD_BODY_NONE, MD_BODY_LENGTH, MD_BODY_CHUNKED };
enum { MD_CHUNK_SIZE, MD_CHUNK_DATA, MD_CHUNK_CRLF, MD_CHUNK_TRAILER };

struct md_conn {
    md_worker_t *w;          /* borrowed */
    md_conn_t *prev, *next;  /* the worker's list */
    struct bufferevent *bev; /* owned: closes the socket (and frees the SSL) */
    struct event *timer;     /* owned: the deadline of the current state */
    md_conn_state_t state;
    bool close_after; /* close once the current answer is written */
    bool linger;      /* the peer may still be sending a body we did not read */
    bool expect_continue;
    bool workload; /* accepted on the Workload API socket */
    size_t scan;   /* bytes of the head already scanned for its end */
    size_t lingered;
    md_arena_t arena; /* the current request's */
    md_http_req_t req;
    char *head; /* arena: the request head (wiped after each request) */
    size_t head_len;
    int body_mode;      /* MD_BODY_* */
    int chunk_state;    /* MD_CHUNK_* */
    uint64_t body_left; /* LENGTH: bytes still to come; CHUNKED: of the current chunk */
    char *body;         /* arena */
    size_t body_len, body_cap;
    size_t trailer_bytes;
    int64_t max_body; /* from the request's snapshot */
    char peer[64];
};

struct md_worker {
    md_server_t *srv; /* borrowed */
    int id;
    pthread_t thread;
    bool started;
    struct event_base *base;          /* owned */
    struct evconnlistener *listener;  /* owned; NULL once stopping */
    struct evconnlistener *wlistener; /* owned: the Workload API socket; NULL once stopping */
    struct event *wake;               /* owned: activated by the main thread */
    struct event *grace;              /* owned: the forced-stop deadline */
    struct event *resume;             /* owned: re-enables accepting after EMFILE */
    _Atomic(md_snapshot_t *) pending; /* a reference handed over by the main thread */
    atomic_bool stop;
    md_snapshot_t *snap;                    /* owned reference: what new requests run under */
    md_store_t *store;                      /* owned: this thread's connection */
    md_keys_view_t *keys;                   /* owned reference: the signing keys requests see */
    _Atomic(md_keys_view_t *) keys_pending; /* a reference handed over by the main thread */
    md_conn_t *conns;                       /* owned list */
    size_t nconns;
    bool stopping;
    uint32_t rid_prefix, rid_seq;
    time_t date_at;
    char date[40]; /* cached Date header value for date_at */
    /* workload.c: the registration entries, parsed, as of registry generation reg_gen */
    md_arena_t reg_arena;
    md_entry_t *reg_entries; /* reg_arena */
    const char **reg_ids;    /* reg_arena: the registry id of each entry */
    size_t reg_n;
    uint64_t reg_gen;
    bool reg_loaded;
    struct md_tcache *svid_cache; /* agentauth.c: verified SVIDs (owned) */
    md_cedar_ctx_t *cedar;        /* tasks.c: this thread's Cedar scratch (owned) */
};

struct md_server {
    md_server_opts_t opts;
    bool tls;       /* fixed at start: TLS on the listener */
    char *listen;   /* fixed at start (owned copy) */
    char *data_dir; /* fixed at start (owned copy) */
    atomic_int listen_fd;
    atomic_int workload_fd; /* the Workload API socket */
    char *workload_path;    /* fixed at start (owned copy); unlinked at exit if still ours */
    dev_t workload_dev;     /* the socket file we bound */
    ino_t workload_ino;
    md_jobs_t *attest_jobs;             /* the attestation thread pool */
    atomic_uint_fast64_t registry_gen;  /* bumped after every committed change to the agent registry */
    md_tasktab_t *tasks;                /* every live task: read lock-free by workers (src/task/revoke.h) */
    struct md_dpop_replay *dpop_replay; /* DPoP proof jtis seen (src/token/dpop.h; thread-safe) */
    atomic_int listeners_live;
    int lock_fd;
    md_snapshot_t *snap; /* main thread's reference to the current snapshot */
    uint64_t generation;
    md_worker_t *workers; /* owned array */
    int nworkers;
    atomic_long nconns;       /* open connections, all workers */
    uint8_t admin_sha256[32]; /* SHA-256 of the admin token */
    bool admin_ready;         /* false: every admin request is refused */
    int schema_version;
    const char *store_backend;
    int64_t started_at;
    md_router_t router;
    md_keys_t *keys;        /* main thread only: the key manager (KEK, key set, rotation) */
    md_store_t *main_store; /* main thread only: its store connection (key rotation) */
};

/* http.c */
void md_http_accept(md_worker_t *w, evutil_socket_t fd, const struct sockaddr *sa, int salen, bool workload);
void md_http_worker_stop(md_worker_t *w);
void md_http_conn_free(md_conn_t *c);
uint64_t md_now_ns(void);

/* routes.c */
extern const md_route_t md_routes[];
extern const size_t md_nroutes;

/* admin.c */
int md_admin_bootstrap(md_store_t *st, const char *data_dir, bool renew, uint8_t sha256[32],
                       md_err_t *err) MD_WUR;
bool md_admin_authorized(md_http_req_t *req);
void md_admin_status(md_http_req_t *req);
void md_admin_settings_put(md_http_req_t *req);
void md_admin_settings_get(md_http_req_t *req);
void md_admin_settings_delete(md_http_req_t *req);

/* wellknown.c: public keys and metadata; the admin view of the keys */
void md_wellknown_jwks(md_http_req_t *req);
void md_wellknown_oauth_metadata(md_http_req_t *req);
void md_admin_keys(md_http_req_t *req);

/* agents.c: the agent registry */
void md_admin_agents_create(md_http_req_t *req);
void md_admin_agents_list(md_http_req_t *req);
void md_admin_agents_get(md_http_req_t *req);
void md_admin_agents_update(md_http_req_t *req);
void md_admin_agents_delete(md_http_req_t *req);

/* workload.c: the Workload API (MD_ROUTE_WORKLOAD routes), and issuing SVIDs */
typedef struct md_svid_params {
    const char **aud; /* req->arena: 1..16 distinct audiences */
    size_t naud;
    int64_t ttl; /* seconds asked for; 0: the default */
} md_svid_params_t;
/* audience and ttl from a request body (extra: one more member allowed, or NULL).  Answers 400 and
 * returns false when they are wrong. */
bool md_svid_params_parse(md_http_req_t *req, const json_t *body, const char *extra, md_svid_params_t *out);
/* Sign a JWT-SVID for spiffe_id and answer it: lifetime min(p->ttl, ttl, keys.max_token_lifetime),
 * ending no later than exp_cap (0: no cap).  who describes the caller in the log line. */
void md_svid_issue(md_http_req_t *req, const md_svid_params_t *p, const char *spiffe_id, int64_t ttl,
                   int64_t exp_cap, const char *who);
/* The registration entry with this SPIFFE ID in the worker's cache: MD_OK, MD_ENOENT, or a store error. */
int md_workload_entry_find(md_worker_t *w, const char *spiffe_id, const md_entry_t **out, md_err_t *err);
/* The same in the cache as it is, never reloading it (so entries found earlier in the request stay valid). */
int md_workload_entry_lookup(const md_worker_t *w, const char *spiffe_id, const md_entry_t **out);
/* The registry id of an entry of the worker's cache (NULL for anything else). */
const char *md_workload_entry_id(const md_worker_t *w, const md_entry_t *e);
void md_workload_svid(md_http_req_t *req);
/* agentauth.c: the calling agent on the TCP API (Authorization: Bearer <JWT-SVID>) */
typedef struct md_agent_auth {
    const md_entry_t *entry; /* the worker's registry cache: valid until the handler returns */
    const char *spiffe_id;   /* entry->spiffe_id */
    int64_t svid_exp;
} md_agent_auth_t;
/* 0 with *out set, or -1 after answering (401/403/503). */
int md_agent_authenticate(md_http_req_t *req, md_agent_auth_t *out);

/* tasks.c: tasks, mandates, RFC 7662 / 7009 */
void md_tasks_start(md_http_req_t *req);
void md_tasks_end(md_http_req_t *req);
void md_admin_tasks_list(md_http_req_t *req);
void md_admin_tasks_get(md_http_req_t *req);
void md_admin_tasks_tree(md_http_req_t *req);
void md_admin_tasks_revoke(md_http_req_t *req);
void md_admin_agents_quarantine(md_http_req_t *req);
/* Quarantine the agent `key` (registry id or SPIFFE ID) and revoke every task it holds, in one transaction
 * (memory first).  MD_OK with *agent and *revoked, MD_ENOENT, or a store error (rolled back). */
int md_agent_quarantine(md_http_req_t *req, const char *key, const char *reason, md_store_agent_t *agent,
                        size_t *revoked, md_err_t *err) MD_WUR;
void md_oauth_introspect(md_http_req_t *req);
void md_oauth_revoke(md_http_req_t *req);
void md_oauth_token(md_http_req_t *req);
/* Load the live tasks from the store into a new table (start-up). */
int md_tasks_load(md_server_t *srv, md_store_t *st, md_err_t *err) MD_WUR;

/* federated.c */
void md_federated_svid(md_http_req_t *req);
void md_workload_bundle(md_http_req_t *req);
void md_workload_worker_free(md_worker_t *w);

/* snapshot.c */
int md_tls_ctx_new(const char *cert, const char *key, SSL_CTX **out, char *msg, size_t msgsz) MD_WUR;

#endif
