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

/* conninfo refused by pd_db_conninfo_check: the error, which must not quote the secret. */
static PdError
refused(const char *conninfo, const char *secret)
{
    PdError err;
    pd_error_clear(&err);
    assert_false(pd_db_conninfo_check(conninfo, &err));
    assert_int_equal(err.code, PD_ERR_INVALID_INPUT);
    if (secret != NULL)
    {
        assert_lacks(err.message, secret);
        assert_lacks(err.detail, secret);
        assert_lacks(err.hint, secret);
    }
    return err;
}

static void
test_check_names_an_unknown_keyword_with_the_closest(void **state)
{
    (void)state;
    PdError err;
    assert_true(pd_db_conninfo_check("", &err));
    assert_true(pd_db_conninfo_check("host=x dbname='my db' password='a b'", &err));
    assert_true(pd_db_conninfo_check("postgresql://u:p@x/db?sslmode=require&ssl=true", &err));
    err = refused("hots=localhost dbname=x", NULL);
    assert_string_equal(err.message, "unknown connection keyword \"hots\"");
    assert_string_equal(err.field, "hots");
    assert_contains(err.hint, "Did you mean \"host\"?");
    err = refused("host=x password=s3cret sslmod=require", "s3cret");
    assert_string_equal(err.message, "unknown connection keyword \"sslmod\"");
    assert_contains(err.hint, "Did you mean \"sslmode\"?");
    err = refused("host=x colour=blue", NULL);
    assert_string_equal(err.message, "unknown connection keyword \"colour\"");
    assert_lacks(err.hint, "Did you mean");
    assert_contains(err.hint, "host, hostaddr, port, dbname, user");
    err = refused("postgresql://u:s3cret@x/db?sslmod=require", "s3cret");
    assert_string_equal(err.message, "unknown connection keyword \"sslmod\"");
    assert_contains(err.hint, "Did you mean \"sslmode\"?");
}

static void
test_check_never_quotes_what_may_be_a_value(void **state)
{
    (void)state;
    /* an unquoted password with a space: what follows may be the rest of it */
    PdError err = refused("host=x password=s3cret tail=more", "tail");
    assert_string_equal(err.message, "unknown connection keyword after the value of \"password\"");
    assert_contains(err.hint, "password='...'");
    err = refused("host=x password=s3cret moretail", "moretail");
    assert_string_equal(
        err.message, "a word without \"=\" after the value of \"password\" (not shown: it may be a value)");
    err = refused("host=x sslpassword=s3cret host", "s3cret");
    assert_lacks(err.message, "\"host\"");
    err = refused("s3cret", "s3cret");
    assert_string_equal(err.message, "a word without \"=\" at the start (not shown: it may be a value)");
    err = refused("host dbname=x", NULL);
    assert_string_equal(err.message, "missing \"=\" after connection keyword \"host\"");
    err = refused("host=x password='s3cret", "s3cret");
    assert_string_equal(err.message, "unterminated quoted value of connection keyword \"password\"");
    err = refused("host=x pass-w0rd:s3cret=1", "s3cret");
    assert_string_equal(err.message,
                        "unknown connection keyword (not shown: it holds characters no keyword has)");
    /* a URI whose password holds unencoded '/' and '?': nothing of it is taken for a query parameter */
    err = refused("postgresql://u:s3/cr?et=x@host/db?colour=blue", "s3");
    assert_lacks(err.message, "et");
    assert_string_equal(err.message, "unknown connection keyword \"colour\"");
    err = refused("postgresql://u:s3cret@[::1/db", "s3cret");
    assert_string_equal(err.message, "not a valid connection URI");
    assert_contains(err.hint, "not shown");
}

static void
test_origins_name_where_each_part_comes_from(void **state)
{
    (void)state;
    PdArena *arena = pd_arena_new(0);
    const char *const environ_list[] = {"PGPORT=5499", "PGUSER=alice", "PGPASSWORD=s3cret", "PGHOSTX=no",
                                        NULL};
    char *text = pd_db_conninfo_origins(arena, "host=db.internal dbname=shop", "database (prodata.conf:3)",
                                        environ_list);
    assert_string_equal(text,
                        "host \"db.internal\" and dbname \"shop\" from database (prodata.conf:3); "
                        "port 5499 from PGPORT; user \"alice\" from PGUSER; the password from PGPASSWORD");
    assert_lacks(text, "s3cret");
    /* a URI: every part in it, the password too, never shown */
    text = pd_db_conninfo_origins(arena, "postgresql://bob:s3cret@127.0.0.1:4/db",
                                  "database (PRODATA_DATABASE)", NULL);
    assert_string_equal(text, "host \"127.0.0.1\", port 4, dbname \"db\", user \"bob\" and the password from "
                              "database (PRODATA_DATABASE)");
    /* nothing given: libpq's defaults, the dbname being the user's name */
    const char *const user_only[] = {"PGUSER=carol", "PGPASSFILE=/srv/pgpass", NULL};
    text = pd_db_conninfo_origins(arena, "", NULL, user_only);
    assert_string_equal(text, "host by libpq's default (a Unix socket); port 5432 by libpq's default; dbname "
                              "\"carol\" by libpq's default (the user name); user \"carol\" from PGUSER; the "
                              "password file \"/srv/pgpass\" from PGPASSFILE");
    text = pd_db_conninfo_origins(arena, "port=1", NULL, NULL);
    assert_contains(text, "port 1 from the connection string");
    assert_contains(text, "by libpq's default (the operating system user)");
    assert_contains(text, "the password file ~/.pgpass by libpq's default (no password given)");
    /* a service comes after the conninfo and before the variables */
    const char *const with_service[] = {"PGSERVICE=shop", "PGHOST=h", NULL};
    text = pd_db_conninfo_origins(arena, "dbname=x", "database (--database)", with_service);
    assert_true(
        strncmp(text,
                "dbname \"x\" from database (--database); service \"shop\" from PGSERVICE for what else "
                "it sets, then: host \"h\" from PGHOST; ",
                strlen("dbname \"x\" from database (--database); service \"shop\" from PGSERVICE for "
                       "what else it sets, then: host \"h\" from PGHOST; ")) == 0);
    assert_null(pd_db_conninfo_origins(arena, "hots=x", NULL, NULL));
    pd_arena_free(arena);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_secret_option_counts_as_a_password),
        cmocka_unit_test(test_masking_hides_every_secret),
        cmocka_unit_test(test_masked_values_are_quoted_as_libpq_reads_them),
        cmocka_unit_test(test_check_names_an_unknown_keyword_with_the_closest),
        cmocka_unit_test(test_check_never_quotes_what_may_be_a_value),
        cmocka_unit_test(test_origins_name_where_each_part_comes_from),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
