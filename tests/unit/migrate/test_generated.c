/*
 * test_generated.c - generated(...) fields from the model text to the SQL: the
 * canonical text (format, parse, format gives the same bytes), the expression
 * rendered from the tree (identifiers quoted, strings quoted, every operation
 * in parentheses), and the planner's changes: add (a rewrite, warned), a new
 * expression and a stored column made generated (dropped and added again; only
 * the latter destructive), generated -> stored (DROP EXPRESSION), a rename of
 * a field the expression uses (no change), drop (not destructive), each with
 * its +down. The evolution test applies the same changes to PostgreSQL 15.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "prodata/migrate.h"
#include "prodata/model.h"
#include "plan_testing.h"
#include "testing.h"

static const char *base = "model Item {\n"
                          "  price decimal(10,2)\n"
                          "  quantity int\n"
                          "  first string(50)\n"
                          "  last string(50)\n"
                          "  note text null\n"
                          "}\n";

static char *
with_fields(PdArena *arena, const char *fields)
{
    return pd_arena_sprintf(arena, "%.*s%s}\n", (int)(strlen(base) - 2), base, fields);
}

/* text with its first `old` replaced by `new`. */
static char *
replace(PdArena *arena, const char *text, const char *old, const char *new)
{
    const char *at = strstr(text, old);
    if (at == NULL)
        fail_msg("test bug: no %s", old);
    return pd_arena_sprintf(arena, "%.*s%s%s", (int)(at - text), text, new, at + strlen(old));
}

static void
test_canonical_text_is_stable(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    const char *text =
        with_fields(arena, "  total decimal(12,2) generated( (price*quantity) + -1 - (2 - 1) )\n"
                           "  name text generated(first||\" \"||lower(last))\n"
                           "  r decimal(10,1) generated(round(-(price + 1) * 2, 1) / abs(quantity))\n"
                           "  c int generated(coalesce(length(first), 0))\n");
    char *first = NULL, *second = NULL;
    PdError err;
    assert_true(pd_model_format(arena, testing_parse(arena, text), &first, &err));
    assert_true(pd_model_format(arena, testing_parse(arena, first), &second, &err));
    assert_string_equal(first, second);
    assert_contains(first, "  total decimal(12,2) generated(price * quantity + -1 - (2 - 1))\n");
    assert_contains(first, "  name text generated(first || \" \" || lower(last))\n");
    assert_contains(first, "  r decimal(10,1) generated(round(-(price + 1) * 2, 1) / abs(quantity))\n");
    assert_contains(first, "  c int generated(coalesce(length(first), 0))\n");
    pd_arena_free(arena);
}

static void
test_expression_rendered_from_the_tree(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdMigrationPlan *plan = plan_texts(
        arena, NULL,
        with_fields(arena, "  total decimal(12,2) generated(price * quantity - -1)\n"
                           "  name text generated(first || \" it's \" || upper(last))\n"
                           "  r decimal(10,1) null generated(round(price, 1) + coalesce(null, 0))\n"));
    const char *up = plan->up_sql;
    assert_contains(up, "\"total\" numeric(12,2) NOT NULL GENERATED ALWAYS AS (((\"price\" * \"quantity\") - "
                        "(-1))) STORED,\n");
    assert_contains(up, "\"name\" text NOT NULL GENERATED ALWAYS AS (((\"first\" || ' it''s ') || "
                        "upper(\"last\"))) STORED,\n");
    assert_contains(up, "\"r\" numeric(10,1) GENERATED ALWAYS AS ((round(CAST(\"price\" AS numeric), 1) + "
                        "coalesce(NULL, 0))) STORED,\n");
    pd_arena_free(arena);
}

static void
test_add_warns_of_the_rewrite(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdMigrationPlan *plan =
        plan_texts(arena, base, with_fields(arena, "  total decimal(12,2) generated(price * quantity)\n"));
    assert_int_equal(plan->operation_count, 1);
    assert_int_equal(plan->operations[0].kind, PD_OP_ADD_FIELD);
    assert_contains(plan->up_sql,
                    "ALTER TABLE \"item\" ADD COLUMN \"total\" numeric(12,2) NOT NULL GENERATED "
                    "ALWAYS AS ((\"price\" * \"quantity\")) STORED;\n");
    assert_true(has_warning(plan, "adding a generated column rewrites table \"item\""));
    assert_int_equal(plan->destructive_count, 0);
    assert_contains(plan->down_sql, "ALTER TABLE \"item\" DROP COLUMN \"total\";\n");
    pd_arena_free(arena);
}

static void
test_new_expression_drops_and_adds(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdMigrationPlan *plan =
        plan_texts(arena, with_fields(arena, "  total decimal(12,2) index generated(price * quantity)\n"),
                   with_fields(arena, "  total decimal(12,2) index generated(price * quantity + 1)\n"));
    assert_contains(plan->up_sql,
                    "ALTER TABLE \"item\" DROP COLUMN \"total\";\nALTER TABLE \"item\" ADD COLUMN "
                    "\"total\" numeric(12,2) NOT NULL GENERATED ALWAYS AS (((\"price\" * "
                    "\"quantity\") + 1)) STORED;\n");
    assert_contains(plan->up_concurrently_sql, "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"item_total_idx\"");
    assert_true(has_warning(plan, "PostgreSQL 15 cannot change a generation expression"));
    assert_int_equal(plan->destructive_count, 0);
    assert_non_null(plan->down_sql);
    assert_contains(plan->down_sql, "GENERATED ALWAYS AS ((\"price\" * \"quantity\")) STORED;\nCREATE INDEX "
                                    "\"item_total_idx\"");
    pd_arena_free(arena);
}

static void
test_generated_to_stored_keeps_the_values(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdMigrationPlan *plan = plan_texts(arena, with_fields(arena, "  name text generated(first || last)\n"),
                                       with_fields(arena, "  name text\n"));
    assert_int_equal(plan->operation_count, 1);
    assert_int_equal(plan->operations[0].kind, PD_OP_ALTER_FIELD);
    assert_string_equal(plan->up_sql, "ALTER TABLE \"item\" ALTER COLUMN \"name\" DROP EXPRESSION;\n");
    assert_int_equal(plan->destructive_count, 0);
    assert_contains(plan->down_sql,
                    "ALTER TABLE \"item\" DROP COLUMN \"name\";\nALTER TABLE \"item\" ADD COLUMN "
                    "\"name\" text NOT NULL GENERATED ALWAYS AS ((\"first\" || \"last\")) "
                    "STORED;\n");
    pd_arena_free(arena);
}

static void
test_stored_to_generated_is_destructive(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdMigrationPlan *plan = plan_texts(
        arena, base, replace(arena, base, "note text null", "note text null generated(upper(first))"));
    assert_int_equal(plan->operation_count, 2);
    assert_int_equal(plan->operations[0].kind, PD_OP_DROP_FIELD);
    assert_int_equal(plan->operations[1].kind, PD_OP_ADD_FIELD);
    assert_int_equal(plan->destructive_count, 1);
    assert_contains(plan->destructive_reasons[0], "column \"item\".\"note\" and all its values are deleted");
    assert_contains(plan->up_sql,
                    "ALTER TABLE \"item\" DROP COLUMN \"note\";\nALTER TABLE \"item\" ADD COLUMN "
                    "\"note\" text GENERATED ALWAYS AS (upper(\"first\")) STORED;\n");
    assert_contains(plan->down_sql, "ALTER TABLE \"item\" ADD COLUMN \"note\" text;\n");
    pd_arena_free(arena);
}

static void
test_rename_of_a_used_field_changes_nothing_else(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    const char *from = with_fields(arena, "  total decimal(12,2) generated(price * quantity)\n");
    char *to = replace(arena, from, "  quantity int\n", "  qty int renamed_from=quantity\n");
    to = replace(arena, to, "price * quantity", "price * qty");
    PdMigrationPlan *plan = plan_texts(arena, from, to);
    assert_int_equal(plan->operation_count, 1);
    assert_int_equal(plan->operations[0].kind, PD_OP_RENAME_FIELD);
    assert_string_equal(plan->up_sql, "ALTER TABLE \"item\" RENAME COLUMN \"quantity\" TO \"qty\";\n");
    pd_arena_free(arena);
}

static void
test_drop_is_not_destructive(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdMigrationPlan *plan =
        plan_texts(arena, with_fields(arena, "  total decimal(12,2) generated(price * quantity)\n"), base);
    assert_int_equal(plan->operations[0].kind, PD_OP_DROP_FIELD);
    assert_int_equal(plan->destructive_count, 0);
    assert_non_null(plan->down_sql);
    assert_contains(plan->down_sql, "ADD COLUMN \"total\" numeric(12,2) NOT NULL GENERATED ALWAYS AS "
                                    "((\"price\" * \"quantity\")) STORED;\n");
    pd_arena_free(arena);
}

/* ALTER COLUMN TYPE recomputes a generated column: PostgreSQL refuses USING there; --expand is refused. */
static void
test_type_change_without_using(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    const char *from = with_fields(arena, "  total decimal(12,2) generated(price * quantity)\n");
    PdMigrationPlan *plan = plan_texts(arena, from, replace(arena, from, "decimal(12,2)", "decimal(14,3)"));
    assert_string_equal(plan->up_sql, "ALTER TABLE \"item\" ALTER COLUMN \"total\" TYPE numeric(14,3);\n");
    assert_string_equal(plan->down_sql, "ALTER TABLE \"item\" ALTER COLUMN \"total\" TYPE numeric(12,2);\n");
    PdPlanOptions options = {.is_expand = true};
    PdError err;
    assert_false(pd_migrate_plan_with_options(
        arena, testing_parse(arena, from),
        testing_parse(arena, replace(arena, from, "decimal(12,2)", "float")), &options, &plan, &err));
    assert_contains(err.message, "a generated column is computed by PostgreSQL");
    pd_arena_free(arena);
}

/* from -> to refused, with the message holding part. */
static void
refuses(PdArena *arena, const char *from, const char *to, const char *part)
{
    PdMigrationPlan *plan = NULL;
    PdError err;
    assert_false(pd_migrate_plan(arena, testing_parse(arena, from), testing_parse(arena, to), &plan, &err));
    assert_contains(err.message, part);
}

static void
test_remade_column_refused_while_named(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    const char *field = "  total decimal(12,2) generated(price * quantity)\n";
    const char *changed = "  total decimal(12,2) generated(price * quantity * 2)\n";
    char *checked = with_fields(arena, pd_arena_sprintf(arena, "%s  check(total >= 0)\n", field));
    refuses(arena, checked, replace(arena, checked, field, changed), "would drop a check(...) naming it");
    char *indexed = with_fields(arena, pd_arena_sprintf(arena, "%s  index(total, first)\n", field));
    refuses(arena, indexed, replace(arena, indexed, field, changed), "would drop an index(...) naming it");
    char *commented = with_fields(arena, "  total decimal(12,2) generated(price * quantity) comment=\"t\"\n");
    refuses(arena, commented, replace(arena, commented, "quantity)", "quantity * 2)"),
            "would drop its comment= naming it");
    char *plain = with_fields(arena, "  total decimal(12,2) null\n  index(total, first)\n");
    refuses(arena, plain,
            replace(arena, plain, "decimal(12,2) null", "decimal(12,2) generated(price * quantity)"),
            "would drop an index(...) naming it");
    pd_arena_free(arena);
}

static void
test_type_change_of_a_used_field_refused(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    char *from = with_fields(arena, "  total decimal(12,2) generated(price * quantity)\n");
    refuses(arena, from, replace(arena, from, "quantity int", "quantity bigint"),
            "changes type while generated field total is computed from it");
    pd_arena_free(arena);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_text_is_stable),
        cmocka_unit_test(test_expression_rendered_from_the_tree),
        cmocka_unit_test(test_add_warns_of_the_rewrite),
        cmocka_unit_test(test_new_expression_drops_and_adds),
        cmocka_unit_test(test_generated_to_stored_keeps_the_values),
        cmocka_unit_test(test_stored_to_generated_is_destructive),
        cmocka_unit_test(test_rename_of_a_used_field_changes_nothing_else),
        cmocka_unit_test(test_drop_is_not_destructive),
        cmocka_unit_test(test_type_change_without_using),
        cmocka_unit_test(test_remade_column_refused_while_named),
        cmocka_unit_test(test_type_change_of_a_used_field_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
