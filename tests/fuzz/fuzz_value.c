/*
 * fuzz_value.c - the value validators (pd_model_check_value, what the REST
 * layer will run on every value it is sent) on any text, against fields of
 * every kind, with lengths, precision, choices and null. The first input byte
 * picks the field, the second the literal kind; the rest is the literal.
 * A value is valid or an input error, never a crash; and a value valid for a
 * field with choices is one of them.
 */
#include "fuzz.h"
#include "prodata/model.h"

static const char models[] =
    "model Kinds {\n"
    "  s string(5) null\n  t text\n  e email\n  u url\n  g slug(8)\n"
    "  si smallint\n  i int\n  bi bigint\n  b bool\n  f float\n  d decimal(6,2)\n  d0 decimal(3,0)\n"
    "  da date\n  ti time\n  ts timestamptz\n  du duration\n  uid uuid\n  j json\n  bin binary\n"
    "  c string(10) choices(draft \"Draft\", published)\n  n int choices(1, 2, 30) null\n"
    "  parent Kinds null on_delete=set_null\n"
    "}\n";

static PdArena *catalog_arena;
static const PdModel *model;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (model == NULL)
    {
        PdCatalog *catalog;
        PdError err;
        catalog_arena = pd_arena_new(0);
        FUZZ_ASSERT(pd_model_parse(catalog_arena, "kinds.pdm", models, &catalog, &err), "%s", err.message);
        model = &catalog->models[0];
    }
    if (size < 2)
        return 0;
    PdArena *arena = pd_arena_new(0);
    const PdField *field = &model->fields[data[0] % model->field_count];
    PdLiteral value = {.kind = (PdLiteralKind)(data[1] % 4), .text = fuzz_text(arena, data + 2, size - 2)};
    PdError err;
    if (pd_model_check_value(field, &value, &err))
    {
        bool is_choice = field->choice_count == 0 || value.kind == PD_LITERAL_NULL;
        for (size_t i = 0; i < field->choice_count && !is_choice; i++)
            is_choice = value.kind == PD_LITERAL_NUMBER
                            ? strtod(field->choices[i].value.text, NULL) == strtod(value.text, NULL)
                            : strcmp(field->choices[i].value.text, value.text) == 0;
        FUZZ_ASSERT(is_choice, "\"%s\" passed as a choice of %s", value.text, field->name);
    }
    else
        FUZZ_ASSERT(err.code == PD_ERR_INVALID_INPUT, "check failed with code %d", (int)err.code);
    pd_arena_free(arena);
    return 0;
}
