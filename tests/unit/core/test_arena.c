/*
 * test_arena.c - the arena's limits and its tree: sizes that would overflow
 * fail as values (also in strbuf), child arenas bounded by their parent's
 * budget and counted in its usage, reset that keeps memory flat over many
 * cycles, and charged bytes held outside the arena.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "prodata/arena.h"
#include "prodata/error.h"
#include "prodata/strbuf.h"

static void
assert_out_of_memory(PdArena *arena)
{
    assert_true(pd_arena_failed(arena));
    PdError err;
    assert_false(pd_arena_error(arena, &err));
    assert_int_equal(err.code, PD_ERR_NO_MEMORY);
    assert_string_equal(err.message, "out of memory");
}

static void
test_arena_sizes_that_overflow_fail(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    assert_null(pd_arena_alloc(arena, SIZE_MAX - 20));
    assert_out_of_memory(arena);
    assert_null(pd_arena_alloc(arena, SIZE_MAX));
    assert_null(pd_arena_alloc(arena, (size_t)PTRDIFF_MAX));
    assert_null(pd_arena_calloc(arena, SIZE_MAX / 2, 3));
    assert_null(pd_arena_strndup(arena, "x", SIZE_MAX));
    int small[8] = {0};
    assert_null(pd_arena_grow(arena, small, 8, SIZE_MAX / 2, sizeof(int)));
    /* An array whose doubled capacity would not fit a size_t. */
    assert_null(pd_arena_reserve_next(arena, small, (size_t)1 << (sizeof(size_t) * 8 - 1), 1));
    assert_null(pd_arena_reserve_next(arena, small, (size_t)1 << (sizeof(size_t) * 8 - 2), 4));
    assert_int_equal(pd_arena_used(arena), 0);
    /* Refusals leave the arena usable. */
    char *text = pd_arena_strdup(arena, "still here");
    assert_string_equal(text, "still here");
    pd_arena_free(arena);

    PdArena *budgeted = pd_arena_new(1 << 20);
    assert_null(pd_arena_alloc(budgeted, SIZE_MAX - 20));
    assert_true(pd_arena_failed(budgeted));
    pd_arena_free(budgeted);
}

static void
test_strbuf_sizes_that_overflow_fail(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    pd_strbuf_append(&buf, "abcdef");
    /* length + extra + 1 would wrap around to a small number that "fits". */
    pd_strbuf_append_length(&buf, "x", SIZE_MAX - 5);
    assert_true(pd_strbuf_failed(&buf));
    assert_null(pd_strbuf_text(&buf));

    /* Doubling from 256 towards a need above SIZE_MAX / 2 would wrap to 0 and never end. */
    PdStrbuf huge;
    pd_strbuf_init(&huge, arena);
    pd_strbuf_append_length(&huge, "x", SIZE_MAX / 2 + 10);
    assert_true(pd_strbuf_failed(&huge));
    assert_out_of_memory(arena);
    pd_arena_free(arena);
}

static void
test_child_counts_in_parent_and_is_bounded_by_it(void **state)
{
    (void)state;
    PdArena *parent = pd_arena_new(4096);
    assert_non_null(pd_arena_alloc(parent, 1024));
    PdArena *child = pd_arena_new_child(parent, 0);
    assert_non_null(child);
    assert_non_null(pd_arena_alloc(child, 2048));
    assert_int_equal(pd_arena_used(child), 2048);
    assert_int_equal(pd_arena_used(parent), 3072);
    /* The child has no budget of its own, but only 1024 bytes are left in the parent's. */
    assert_null(pd_arena_alloc(child, 2048));
    assert_false(pd_arena_failed(parent));
    PdError err;
    pd_arena_error(child, &err);
    assert_int_equal(err.code, PD_ERR_TOO_LARGE);
    assert_string_equal(err.message, "memory budget of 4096 bytes exhausted");
    assert_non_null(pd_arena_alloc(child, 1024));
    assert_int_equal(pd_arena_used(parent), 4096);
    /* The parent is full while the child lives, and gets it all back when it goes. */
    assert_null(pd_arena_alloc(parent, 16));
    pd_arena_free(child);
    assert_int_equal(pd_arena_used(parent), 1024);
    assert_int_equal(pd_arena_peak(parent), 4096);
    assert_non_null(pd_arena_alloc(parent, 2048));
    pd_arena_free(parent);
}

static void
test_child_own_budget_and_spent_parent(void **state)
{
    (void)state;
    PdArena *parent = pd_arena_new(0);
    PdArena *child = pd_arena_new_child(parent, 512);
    PdArena *grandchild = pd_arena_new_child(child, 0);
    assert_non_null(pd_arena_alloc(grandchild, 256));
    assert_int_equal(pd_arena_used(parent), 256);
    assert_null(pd_arena_alloc(grandchild, 512));
    PdError err;
    pd_arena_error(grandchild, &err);
    assert_string_equal(err.message, "memory budget of 512 bytes exhausted");
    pd_arena_free(child); /* the grandchild goes with it */
    assert_int_equal(pd_arena_used(parent), 0);

    PdArena *small = pd_arena_new(64);
    assert_non_null(pd_arena_alloc(small, 64));
    assert_null(pd_arena_new_child(small, 0));
    pd_arena_error(small, &err);
    assert_int_equal(err.code, PD_ERR_TOO_LARGE);
    pd_arena_free(small);
    pd_arena_free(parent);
}

static int freed[4];
static int freed_count;

static void
record_free(void *resource)
{
    freed[freed_count++] = *(int *)resource;
}

static void
test_children_are_freed_with_the_parent(void **state)
{
    (void)state;
    static int parent_id = 1, first_id = 2, second_id = 3;
    freed_count = 0;
    PdArena *parent = pd_arena_new(0);
    assert_true(pd_arena_on_free(parent, record_free, &parent_id));
    PdArena *first = pd_arena_new_child(parent, 0);
    PdArena *second = pd_arena_new_child(parent, 0);
    assert_true(pd_arena_on_free(first, record_free, &first_id));
    assert_true(pd_arena_on_free(second, record_free, &second_id));
    assert_non_null(pd_arena_alloc(first, 100000)); /* a chunk of its own, freed below */
    pd_arena_free(parent);
    assert_int_equal(freed_count, 3);
    assert_int_equal(freed[0], 3); /* children newest first, then the parent's own callbacks */
    assert_int_equal(freed[1], 2);
    assert_int_equal(freed[2], 1);
}

static void
test_reset_runs_callbacks_and_clears_failure(void **state)
{
    (void)state;
    static int id = 7;
    freed_count = 0;
    PdArena *arena = pd_arena_new(8192);
    assert_true(pd_arena_on_free(arena, record_free, &id));
    PdArena *child = pd_arena_new_child(arena, 0);
    assert_non_null(pd_arena_alloc(child, 1000));
    assert_null(pd_arena_alloc(arena, 10000));
    assert_true(pd_arena_failed(arena));
    pd_arena_reset(arena);
    assert_int_equal(freed_count, 1);
    assert_int_equal(pd_arena_used(arena), 0);
    assert_false(pd_arena_failed(arena));
    assert_int_equal(pd_arena_peak(arena),
                     32 + 1008); /* the callback entry and the child's 1,000 bytes, rounded */
    /* The callback list went with the reset: freeing runs nothing twice. */
    assert_non_null(pd_arena_alloc(arena, 8192));
    pd_arena_free(arena);
    assert_int_equal(freed_count, 1);
}

/* One tick of a loop: many small allocations, a big one, a scratch child. */
static void
one_tick(PdArena *arena, int tick)
{
    for (int i = 0; i < 200; i++)
        assert_non_null(pd_arena_sprintf(arena, "tick %d item %d", tick, i));
    assert_non_null(pd_arena_alloc(arena, 40000 + (size_t)(tick % 7) * 1000));
    PdArena *scratch = pd_arena_new_child(arena, 0);
    assert_non_null(pd_arena_alloc(scratch, 3000));
    if (tick % 2 == 0) /* every other tick leaves the child to the reset */
        pd_arena_free(scratch);
}

static void
test_reset_keeps_memory_flat(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(1 << 20);
    size_t footprint_early = 0;
    size_t footprint_max = 0;
    for (int tick = 0; tick < 10000; tick++)
    {
        one_tick(arena, tick);
        size_t footprint = pd_arena_footprint(arena);
        if (footprint > footprint_max)
            footprint_max = footprint;
        if (tick == 99)
            footprint_early = footprint_max;
        pd_arena_reset(arena);
    }
    /* The most held at once after 10,000 ticks is what the first 100 needed. */
    assert_int_equal(footprint_max, footprint_early);
    assert_true(footprint_max < 200000);
    assert_true(pd_arena_peak(arena) < 60000);
    assert_true(pd_arena_footprint(arena) <= 4096 + 256); /* the first chunk and the header */
    pd_arena_free(arena);
}

static void
test_charge_counts_against_the_budget(void **state)
{
    (void)state;
    PdArena *parent = pd_arena_new(10000);
    PdArena *arena = pd_arena_new_child(parent, 0);
    assert_true(pd_arena_charge(arena, 6000));
    assert_int_equal(pd_arena_used(parent), 6000);
    assert_false(pd_arena_charge(arena, 5000));
    assert_int_equal(pd_arena_used(arena), 6000);
    PdError err;
    pd_arena_error(arena, &err);
    assert_int_equal(err.code, PD_ERR_TOO_LARGE);
    assert_null(pd_arena_alloc(arena, 5000));
    pd_arena_uncharge(arena, 6000);
    assert_int_equal(pd_arena_used(parent), 0);
    assert_non_null(pd_arena_alloc(arena, 5000));
    assert_int_equal(pd_arena_peak(parent), 6000);
    pd_arena_free(parent);

    PdArena *unbounded = pd_arena_new(0);
    assert_non_null(pd_arena_alloc(unbounded, 16));
    assert_false(pd_arena_charge(unbounded, SIZE_MAX)); /* the count itself would overflow */
    assert_int_equal(pd_arena_used(unbounded), 16);
    pd_arena_free(unbounded);
}

/* Uncharging gives back only bytes charged (and not yet given back or forgotten by a reset): it used to
 * take them from anything counted, so a later child's free wrapped the parent's count around. */
static void
test_uncharge_gives_back_only_charges(void **state)
{
    (void)state;
    PdArena *parent = pd_arena_new(0);
    PdArena *child = pd_arena_new_child(parent, 0);
    assert_non_null(pd_arena_alloc(child, 1000));
    size_t child_used = pd_arena_used(child);
    pd_arena_uncharge(parent, 1000); /* nothing was charged to parent */
    assert_int_equal(pd_arena_used(parent), child_used);
    pd_arena_free(child);
    assert_int_equal(pd_arena_used(parent), 0);

    PdArena *tick = pd_arena_new(0);
    assert_true(pd_arena_charge(tick, 500));
    pd_arena_reset(tick); /* the charge is forgotten with everything else */
    assert_non_null(pd_arena_alloc(tick, 100));
    size_t used = pd_arena_used(tick);
    pd_arena_uncharge(tick, 500); /* a late give-back does not uncount the new allocation */
    assert_int_equal(pd_arena_used(tick), used);
    assert_true(pd_arena_charge(tick, 300));
    pd_arena_uncharge(tick, 1000); /* at most what is charged */
    assert_int_equal(pd_arena_used(tick), used);
    pd_arena_free(tick);
    pd_arena_free(parent);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_sizes_that_overflow_fail),
        cmocka_unit_test(test_strbuf_sizes_that_overflow_fail),
        cmocka_unit_test(test_child_counts_in_parent_and_is_bounded_by_it),
        cmocka_unit_test(test_child_own_budget_and_spent_parent),
        cmocka_unit_test(test_children_are_freed_with_the_parent),
        cmocka_unit_test(test_reset_runs_callbacks_and_clears_failure),
        cmocka_unit_test(test_reset_keeps_memory_flat),
        cmocka_unit_test(test_charge_counts_against_the_budget),
        cmocka_unit_test(test_uncharge_gives_back_only_charges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
