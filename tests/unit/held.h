/*
 * held.h: a per-test registry of allocations for the cmocka unit tests.
 *
 * Everything a test allocates through its helpers is registered with keep()
 * and released by drop() or by the per-test teardown drop_all(), so an
 * assertion that fails (and longjmps out of the test) leaks nothing under
 * the sanitizers.  Include after <cmocka.h>.
 */
#ifndef MD_TESTS_HELD_H
#define MD_TESTS_HELD_H

#include <stdlib.h>
#include <string.h>

#include "core/core.h"

typedef void (*free_fn)(void *);
static struct {
    void *p;
    free_fn fn;
} held[256];
static int nheld;

__attribute__((unused)) static void *keep(void *p, free_fn fn)
{
    assert_true(nheld < (int)(sizeof(held) / sizeof(held[0])));
    held[nheld].p = p;
    held[nheld].fn = fn;
    nheld++;
    return p;
}

__attribute__((unused)) static void drop(void *p)
{
    for (int i = nheld - 1; i >= 0; i--)
        if (held[i].p == p) {
            free_fn fn = held[i].fn;
            memmove(&held[i], &held[i + 1], (size_t)(nheld - i - 1) * sizeof(held[0]));
            nheld--;
            fn(p);
            return;
        }
    fail_msg("drop() of a pointer that is not held");
}

__attribute__((unused)) static int drop_all(void **state)
{
    (void)state;
    while (nheld > 0) {
        nheld--;
        held[nheld].fn(held[nheld].p);
    }
    return 0;
}

static void arena_destroy(void *p)
{
    md_arena_free(p);
    free(p);
}

/* A heap arena, held until drop() or the teardown. */
__attribute__((unused)) static md_arena_t *new_arena(size_t chunk)
{
    md_arena_t *a = malloc(sizeof(*a));
    assert_non_null(a);
    md_arena_init(a, chunk);
    return keep(a, arena_destroy);
}

#endif
