/*
 * snapshot.h: the immutable, refcounted configuration everything runs under.
 *
 * A snapshot is built beside the running one (on start and on SIGHUP) and
 * swapped in whole; requests in flight keep the snapshot they started with
 * until they finish.  Later modules add their compiled state here (policies,
 * schema, policy index, static entities) so one swap changes all of it.
 *
 * Reference counting is atomic: md_snapshot_ref/unref may be called from any
 * thread.  The last unref frees it.  Nothing in a snapshot changes after
 * md_snapshot_build() returns.
 */
#ifndef MD_SERVER_SNAPSHOT_H
#define MD_SERVER_SNAPSHOT_H

#include <stdatomic.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "core/config.h"
#include "identity/oidc.h"
#include "server/policies.h"

typedef struct md_snapshot {
    atomic_int refs;
    uint64_t generation;      /* 1 at start, +1 per successful reload */
    int64_t loaded_at;        /* unix seconds */
    md_config_t *config;      /* owned */
    const char *issuer;       /* config `issuer`, or "http(s)://<listen>" when unset (in config's arena) */
    SSL_CTX *tls;             /* owned; NULL when tls.cert is not set */
    md_oidc_registry_t *oidc; /* owned reference: federation.issuers (may hold none) */
    md_policies_t *policies;  /* owned: the Cedar policies and schema (src/server/policies.h) */
} md_snapshot_t;

/*
 * Build a snapshot from cfg, which it takes over (freed on failure too).
 * Loads the TLS certificate and key when configured: TLS 1.3 only.  Builds
 * the OIDC federation registry; prev (the running snapshot on reload, else
 * NULL) lends its issuers' cached keys to the new one.
 * Errors are added to diag in the file:line: key `k`: form.  On success
 * *out holds one reference.
 */
int md_snapshot_build(md_config_t *cfg, uint64_t generation, md_snapshot_t *prev, md_snapshot_t **out,
                      md_conf_diag_t *diag) MD_WUR;
md_snapshot_t *md_snapshot_ref(md_snapshot_t *snap);
void md_snapshot_unref(md_snapshot_t *snap);

#endif
