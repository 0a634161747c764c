/*
 * index.c: the policy scope index.
 *
 * Each policy whose scope pins the principal (`principal == E`, `principal in
 * E`, `principal is T in E`) is filed under E in the principal map; otherwise,
 * if its scope pins the resource, under that entity in the resource map;
 * every other policy is "unindexed" and always a candidate.  A request's
 * candidates are the unindexed policies plus the buckets of the principal and
 * each of its ancestors, and of the resource and each of its ancestors.  A
 * policy whose scope cannot match is never a candidate, so skipping it is
 * exact: the index changes which policies are evaluated, never the answer.
 *
 * Candidates are returned in policy-set order (so reasons and errors come
 * out in file order), allocated from the request arena.
 */
#include "cedar/authz.h"

#include <stdlib.h>

typedef struct bucket {
    const md_uid_t *key; /* NULL: empty slot */
    uint32_t *ids;       /* policy positions, ascending */
    uint32_t n, cap;
} bucket_t;

typedef struct umap {
    bucket_t *b;
    uint32_t mask, n;
} umap_t;

struct md_pindex {
    umap_t principal, resource;
    uint32_t *unindexed; /* ascending */
    uint32_t nunindexed;
    uint32_t max_bucket;
};

static void umap_free(umap_t *m)
{
    if (m->b)
        for (uint32_t i = 0; i <= m->mask; i++)
            free(m->b[i].ids);
    free(m->b);
}

void md_pindex_free(struct md_pindex *ix);
void md_pindex_free(struct md_pindex *ix)
{
    if (ix == NULL) return;
    umap_free(&ix->principal);
    umap_free(&ix->resource);
    free(ix->unindexed);
    free(ix);
}

static const bucket_t *umap_get(const umap_t *m, const md_uid_t *k)
{
    if (m->b == NULL) return NULL;
    uint32_t i = (uint32_t)k->hash & m->mask;
    for (;;) {
        const bucket_t *b = &m->b[i];
        if (b->key == NULL) return NULL;
        if (md_uid_eq(b->key, k)) return b;
        i = (i + 1) & m->mask;
    }
}

static int umap_add(umap_t *m, const md_uid_t *k, uint32_t id)
{
    if (m->b == NULL || (m->n + 1) * 2 > m->mask + 1) {
        uint32_t cap = m->b ? (m->mask + 1) * 2 : 64;
        bucket_t *nb = calloc(cap, sizeof(*nb));
        if (nb == NULL) return MD_ENOMEM;
        if (m->b)
            for (uint32_t i = 0; i <= m->mask; i++) {
                if (m->b[i].key == NULL) continue;
                uint32_t j = (uint32_t)m->b[i].key->hash & (cap - 1);
                while (nb[j].key)
                    j = (j + 1) & (cap - 1);
                nb[j] = m->b[i];
            }
        free(m->b);
        m->b = nb;
        m->mask = cap - 1;
    }
    uint32_t i = (uint32_t)k->hash & m->mask;
    while (m->b[i].key && !md_uid_eq(m->b[i].key, k))
        i = (i + 1) & m->mask;
    bucket_t *b = &m->b[i];
    if (b->key == NULL) {
        b->key = k;
        m->n++;
    }
    if (b->n == b->cap) {
        uint32_t cap = b->cap ? b->cap * 2 : 2;
        uint32_t *ni = realloc(b->ids, cap * sizeof(*ni));
        if (ni == NULL) return MD_ENOMEM;
        b->ids = ni;
        b->cap = cap;
    }
    b->ids[b->n++] = id;
    return MD_OK;
}

static const md_uid_t *pinned(const md_scope_t *s)
{
    switch (s->kind) {
    case MD_SCOPE_EQ:
    case MD_SCOPE_IN:
    case MD_SCOPE_IS_IN: return s->uid;
    default: return NULL;
    }
}

int md_policyset_index(md_policyset_t *ps)
{
    struct md_pindex *ix = calloc(1, sizeof(*ix));
    if (ix == NULL) return MD_ENOMEM;
    ix->unindexed = malloc((ps->npolicies + 1) * sizeof(uint32_t));
    if (ix->unindexed == NULL) goto nomem;
    for (uint32_t i = 0; i < ps->npolicies; i++) {
        const md_policy_t *p = ps->policies[i];
        if (p->is_template) continue;
        const md_uid_t *k;
        if ((k = pinned(&p->principal)) != NULL) {
            if (umap_add(&ix->principal, k, i) != MD_OK) goto nomem;
        } else if ((k = pinned(&p->resource)) != NULL) {
            if (umap_add(&ix->resource, k, i) != MD_OK) goto nomem;
        } else {
            ix->unindexed[ix->nunindexed++] = i;
        }
    }
    md_pindex_free(ps->index);
    ps->index = ix;
    return MD_OK;
nomem:
    md_pindex_free(ix);
    return MD_ENOMEM;
}

/* Append a bucket's ids to out (merge later by sorting). */
static void take(const bucket_t *b, uint32_t *out, uint32_t *n)
{
    if (b == NULL) return;
    memcpy(out + *n, b->ids, b->n * sizeof(uint32_t));
    *n += b->n;
}

static uint32_t collect_size(const umap_t *m, const md_entities_t *es, const md_uid_t *u)
{
    uint32_t n = 0;
    const bucket_t *b = umap_get(m, u);
    if (b) n += b->n;
    const md_entity_t *e = md_entities_get(es, u);
    if (e)
        for (uint32_t i = 0; i < e->nanc; i++)
            if ((b = umap_get(m, e->anc[i])) != NULL) n += b->n;
    return n;
}

static void collect(const umap_t *m, const md_entities_t *es, const md_uid_t *u, uint32_t *out, uint32_t *n)
{
    take(umap_get(m, u), out, n);
    const md_entity_t *e = md_entities_get(es, u);
    if (e)
        for (uint32_t i = 0; i < e->nanc; i++)
            take(umap_get(m, e->anc[i]), out, n);
}

const md_policy_t **md_pindex_candidates(const md_policyset_t *ps, const md_entities_t *es,
                                         const md_request_t *req, md_arena_t *arena, uint32_t *nout);
const md_policy_t **md_pindex_candidates(const md_policyset_t *ps, const md_entities_t *es,
                                         const md_request_t *req, md_arena_t *arena, uint32_t *nout)
{
    const struct md_pindex *ix = ps->index;
    uint32_t total = ix->nunindexed + collect_size(&ix->principal, es, req->principal) +
                     collect_size(&ix->resource, es, req->resource);
    uint32_t *ids = md_arena_alloc(arena, (total + 1) * sizeof(uint32_t));
    const md_policy_t **out = md_arena_alloc(arena, (total + 1) * sizeof(*out));
    if (ids == NULL || out == NULL) return NULL;
    uint32_t n = 0;
    take(&(bucket_t){.ids = ix->unindexed, .n = ix->nunindexed}, ids, &n);
    collect(&ix->principal, es, req->principal, ids, &n);
    collect(&ix->resource, es, req->resource, ids, &n);
    /* insertion sort: candidate lists are short and mostly sorted already */
    for (uint32_t i = 1; i < n; i++) {
        uint32_t v = ids[i], j = i;
        while (j > 0 && ids[j - 1] > v) {
            ids[j] = ids[j - 1];
            j--;
        }
        ids[j] = v;
    }
    for (uint32_t i = 0; i < n; i++)
        out[i] = ps->policies[ids[i]];
    *nout = n;
    return out;
}
