/*
 * test_conninfo.c - connection strings judged without connecting: which hold
 * a secret (every option libpq marks secret, in the keyword form and in URIs)
 * and how they are shown with their secrets masked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "prodata/db.h"
#include "testing.h"

static void
test_every_secret_option_counts_as_a_password(void **state)
{
    (void)state;
    assert_false(pd_db_conninfo_has_password(""));
    assert_false(pd_db_conninfo_has_password("host=x dbname=shop"));
    assert_false(pd_db_conninfo_has_password("postgresql://u@x/shop?sslmode=require"));
    assert_true(pd_db_conninfo_has_password("host=x password=p"));
    assert_true(pd_db_conninfo_has_password("host=x sslpassword=p"));
    assert_true(pd_db_conninfo_has_password("postgresql://u:p@x/shop"));
    assert_true(pd_db_conninfo_has_password("postgresql://u@x/shop?sslpassword=p"));
    assert_true(pd_db_conninfo_has_password("postgresql://u@x/shop?password=p"));
    /* Unparseable: it might hold one. */
    assert_true(pd_db_conninfo_has_password("host='x"));
    /* An empty secret is none. */
    assert_false(pd_db_conninfo_has_password("host=x sslpassword=''"));
}

static void
test_masking_hides_every_secret(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    char *masked = pd_db_mask_conninfo(arena, "host=x sslpassword=s3cretssl password=s3cretpw user=u");
    assert_lacks(masked, "s3cret");
    assert_contains(masked, "sslpassword=********");
    assert_contains(masked, "password=********");
    assert_contains(masked, "user=u");
    assert_contains(masked, "host=x");
    masked = pd_db_mask_conninfo(
        arena, "postgresql://u:s3cretpw@db.example/shop?sslpassword=s3cretssl&sslmode=require");
    assert_lacks(masked, "s3cret");
    assert_contains(masked, "host=db.example");
    assert_contains(masked, "dbname=shop");
    assert_contains(masked, "sslmode=require");
    assert_contains(masked, "sslpassword=********");
    masked = pd_db_mask_conninfo(arena, "postgresql://u:s3cret@[::1");
    assert_lacks(masked, "s3cret");
    pd_arena_free(arena);
}

static void
test_masked_values_are_quoted_as_libpq_reads_them(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    const char *masked = pd_db_mask_conninfo(arena, "host=x application_name='my app' dbname='it\\'s\\\\'");
    assert_string_equal(masked, "dbname='it\\'s\\\\' host=x application_name='my app'");
    assert_true(pd_db_is_valid_conninfo(masked));
    pd_arena_free(arena);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_secret_option_counts_as_a_password),
        cmocka_unit_test(test_masking_hides_every_secret),
        cmocka_unit_test(test_masked_values_are_quoted_as_libpq_reads_them),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
