/*
 * fuzz_body.c - libFuzzer target for the request-body reader: any bytes as a
 * JSON body for the bookstore's Book (every kind of field the example has:
 * strings, a decimal with a check, a time stamp, a boolean, json, a foreign
 * key, many-to-many keys, choices), read with pd_values_from_json and then
 * validated in the three modes the server uses (create, replace, partial).
 * Invariants: no crash, leak or sanitizer report; a failure always carries a
 * code and a message (the server turns it into a 400 and must have words for
 * it); every collected problem names a field or is the body's own problem; a
 * success of create validation implies a success of partial validation
 * (partial asks less).
 */
#include "fuzz.h"

#include "prodata/error.h"
#include "prodata/model.h"
#include "prodata/object.h"

static const char MODELS[] = "model Author {\n"
                             "  name     string(200)   search\n"
                             "  email    email          unique\n"
                             "  born     date           null\n"
                             "}\n"
                             "model Tag {\n"
                             "  name  slug(40)  unique\n"
                             "}\n"
                             "model Book {\n"
                             "  title      string(300)   index  search\n"
                             "  author     Author        related=books\n"
                             "  price      decimal(8,2)  default=0  check(>= 0)\n"
                             "  published  timestamptz   default=now\n"
                             "  in_stock   bool          default=true\n"
                             "  meta       json          null\n"
                             "  tags       Tag[]\n"
                             "  pages      smallint      null\n"
                             "  length     duration      null\n"
                             "  ref        uuid          null\n"
                             "  cover      binary        null\n"
                             "  status     string(16)    choices(draft \"Draft\", published \"Published\") "
                             "default=\"draft\"\n"
                             "}\n";

static void
check_failure(const PdError *err, const char *what)
{
    FUZZ_ASSERT(err->code != PD_OK, "%s failed without a code", what);
    FUZZ_ASSERT(err->message[0] != '\0', "%s failed without a message", what);
    for (size_t i = 0; i < err->problem_count && i < PD_ERROR_MAX_PROBLEMS; i++)
        FUZZ_ASSERT(err->problems[i].message[0] != '\0', "%s: problem %zu has no message", what, i);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    PdArena *arena = pd_arena_new(0);
    PdCatalog *catalog = NULL;
    PdError err = {0};
    FUZZ_ASSERT(pd_model_parse(arena, "fuzz.pdm", MODELS, &catalog, &err), "models: %s", err.message);
    const PdModel *book = pd_model_find(catalog, "Book");
    PdValues *values = pd_values_new(arena, book);
    FUZZ_ASSERT(values != NULL, "pd_values_new");
    if (!pd_values_from_json(values, (const char *)data, size, &err))
    {
        check_failure(&err, "pd_values_from_json");
        pd_arena_free(arena);
        return 0;
    }
    PdError create_err = {0};
    bool created = pd_values_validate(values, PD_VALIDATE_CREATE, &create_err);
    if (!created)
        check_failure(&create_err, "create validation");
    PdError replace_err = {0};
    if (!pd_values_validate(values, PD_VALIDATE_REPLACE, &replace_err))
        check_failure(&replace_err, "replace validation");
    PdError partial_err = {0};
    bool partial = pd_values_validate(values, PD_VALIDATE_PARTIAL, &partial_err);
    if (!partial)
        check_failure(&partial_err, "partial validation");
    FUZZ_ASSERT(!created || partial, "create validation passed but partial failed: %s", partial_err.message);
    pd_arena_free(arena);
    return 0;
}
