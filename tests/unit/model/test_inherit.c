/*
 * test_inherit.c - abstract models and projects split over several files:
 * what a model extending abstract ones holds (inherited fields first, an
 * override in the model's place, a base reached twice taken once, indexes and
 * checks with %(class)s names, the ordering), that the canonical form is the
 * flattened models alone and reads back to the same text, and a folder of
 * model files read as one (relations across files, a model defined in two
 * files naming both places, a folder without model files), and a
 * many-to-many field through a model of its own (its table and keys, its
 * canonical text). The error classes of each are cases under
 * tests/unit/model/invalid/abstract_* and through_*. Runs with the
 * repository root as the working directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "prodata/model.h"

#define DATA_DIR "tests/unit/model/data"

static const char *const blog = "abstract model Timestamped {\n"
                                "  created timestamptz auto_now_add\n"
                                "  updated timestamptz auto_now\n"
                                "  ordering -created\n"
                                "  index(created) name=\"%(class)s_created_idx\"\n"
                                "}\n"
                                "\n"
                                "abstract model Owned extends Timestamped {\n"
                                "  owner string(40)\n"
                                "  check(owner != \"\") name=\"%(class)s_owner_check\"\n"
                                "}\n"
                                "\n"
                                "model Post extends Owned {\n"
                                "  title string(100)\n"
                                "  updated timestamptz null\n"
                                "}\n"
                                "\n"
                                "model Note extends Timestamped, Owned {\n"
                                "  table \"blog_note\"\n"
                                "  body text\n"
                                "  ordering body\n"
                                "}\n";

static PdCatalog *
parse_ok(PdArena *arena, const char *text)
{
    PdCatalog *catalog = NULL;
    PdError err;
    pd_error_clear(&err);
    if (!pd_model_parse(arena, "blog.pdm", text, &catalog, &err))
        fail_msg("parse failed: %s", err.message);
    return catalog;
}

static void
assert_field_names(const PdModel *model, const char *expected)
{
    char names[256] = "";
    for (size_t i = 0; i < model->field_count; i++)
    {
        strcat(names, i > 0 ? " " : "");
        strcat(names, model->fields[i].name);
    }
    assert_string_equal(names, expected);
}

static void
test_inherited_fields_come_first(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdCatalog *catalog = parse_ok(arena, blog);
    assert_int_equal(catalog->model_count, 2); /* the abstract models have no table */
    const PdModel *post = pd_model_find(catalog, "Post");
    const PdModel *note = pd_model_find(catalog, "Note");
    assert_null(pd_model_find(catalog, "Timestamped"));
    assert_field_names(post, "id created owner title updated"); /* the override in Post's own place */
    assert_true(pd_model_find_field(post, "updated")->is_nullable);
    assert_false(pd_model_find_field(post, "updated")->is_auto_now);
    assert_field_names(note, "id created updated owner body"); /* Timestamped reached twice: once */
    assert_true(pd_model_find_field(note, "updated")->is_auto_now);
    assert_int_equal(post->index_count, 1);
    assert_string_equal(post->indexes[0].name, "post_created_idx");
    assert_string_equal(note->indexes[0].name, "blog_note_created_idx");
    assert_int_equal(note->check_count, 1);
    assert_string_equal(note->checks[0].name, "blog_note_owner_check");
    assert_int_equal(post->ordering_count, 1);
    assert_string_equal(post->ordering[0].field, "created");
    assert_true(post->ordering[0].is_descending);
    assert_string_equal(note->ordering[0].field, "body");
    /* A field keeps the position of its line in the base, where an error about it points. */
    assert_int_equal(pd_model_find_field(note, "created")->pos.line, 2);
    pd_arena_free(arena);
}

static void
test_canonical_form_is_flattened(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    char *text = NULL, *again = NULL;
    PdError err;
    pd_error_clear(&err);
    assert_true(pd_model_format(arena, parse_ok(arena, blog), &text, &err));
    assert_null(strstr(text, "abstract"));
    assert_null(strstr(text, "extends"));
    assert_non_null(strstr(text, "index(created) name=\"post_created_idx\""));
    assert_true(pd_model_format(arena, parse_ok(arena, text), &again, &err));
    assert_string_equal(again, text);
    pd_arena_free(arena);
}

static void
test_folder_is_read_as_one(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdCatalog *catalog = NULL;
    PdError err;
    pd_error_clear(&err);
    if (!pd_model_load_file(arena, DATA_DIR "/split", &catalog, &err))
        fail_msg("load failed: %s", err.message);
    assert_int_equal(catalog->model_count, 2);
    assert_string_equal(catalog->models[0].name, "Post"); /* blog.pdm before shop.pdm */
    const PdField *author = pd_model_find_field(&catalog->models[0], "author");
    assert_non_null(author->target);
    assert_string_equal(author->target->name, "Author");
    assert_string_equal(author->pos.file, DATA_DIR "/split/blog.pdm");
    assert_field_names(pd_model_find(catalog, "Author"), "id created name");
    pd_arena_free(arena);
}

static void
test_folder_names_are_unique_across_files(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdCatalog *catalog = NULL;
    PdError err;
    pd_error_clear(&err);
    assert_false(pd_model_load_file(arena, DATA_DIR "/split_twice", &catalog, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(err.message,
                        DATA_DIR "/split_twice/shop.pdm:6:7: model Author defined in " DATA_DIR
                                 "/split_twice/blog.pdm:1:7 and " DATA_DIR
                                 "/split_twice/shop.pdm:6:7, expected each model once across the "
                                 "model files");
    pd_error_clear(&err);
    assert_false(pd_model_load_file(arena, DATA_DIR "/split_empty", &catalog, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    assert_string_equal(err.message,
                        "model folder \"" DATA_DIR "/split_empty\" holds no model file, expected "
                        "files named *.pdm");
    assert_null(catalog);
    pd_arena_free(arena);
}

static void
test_through_model(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    PdCatalog *catalog = parse_ok(arena, "model Person {\n"
                                         "  name string(50)\n"
                                         "}\n"
                                         "\n"
                                         "model Club {\n"
                                         "  members Person[] through=Membership\n"
                                         "}\n"
                                         "\n"
                                         "model Membership {\n"
                                         "  joined date\n"
                                         "  member Person\n"
                                         "  club Club\n"
                                         "}\n");
    const PdModel *club = pd_model_find(catalog, "Club");
    const PdField *members = pd_model_find_field(club, "members");
    assert_ptr_equal(members->through_model, pd_model_find(catalog, "Membership"));
    assert_string_equal(members->through_table, "membership");
    assert_false(pd_model_has_join_table(members));
    assert_true(pd_model_is_read_only(members));
    char *source = NULL, *target = NULL;
    assert_true(pd_model_through_columns(arena, club, members, &source, &target));
    assert_string_equal(source, "club_id");
    assert_string_equal(target, "member_id");
    char *text = NULL, *again = NULL;
    PdError err;
    pd_error_clear(&err);
    assert_true(pd_model_format(arena, catalog, &text, &err));
    assert_non_null(strstr(text, "members Person[] related=club_set through=Membership\n"));
    assert_true(pd_model_format(arena, parse_ok(arena, text), &again, &err));
    assert_string_equal(again, text);
    pd_arena_free(arena);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inherited_fields_come_first),
        cmocka_unit_test(test_canonical_form_is_flattened),
        cmocka_unit_test(test_folder_is_read_as_one),
        cmocka_unit_test(test_folder_names_are_unique_across_files),
        cmocka_unit_test(test_through_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
