/*
 * inspect.c - inspectdb: a model file written from a live database
 * (pd_migrate_inspect). inspect_read.c reads the catalog, inspect_map.c
 * decides each table's model, and this file writes the text: a header saying
 * how it was made and what to do next, the models in table-name order (a
 * table the language cannot express as a commented-out model with the
 * reason), the comments that name what a model leaves out, and at the end one
 * line per object not inspected. The text is deterministic: the same schema
 * always gives the same bytes (no time stamps, every list in a fixed order).
 * The work lives in a scratch arena; only the text is the caller's.
 */
#include <string.h>

#include "inspect.h"
#include "prodata/migrate.h"
#include "prodata/strbuf.h"

/* How far the text has been scanned for line ends, so a candidate knows its line. */
typedef struct LineCount
{
    size_t offset;
    int lines;
} LineCount;

typedef struct Writer
{
    PdStrbuf *buf;
    const InspectModel *models;
    const char *prefix; /* "" for a model, "# " for one that is a comment */
    LineCount *count;
} Writer;

/* The 1-based line the next character written goes on. */
static int
next_line(const Writer *writer)
{
    const PdStrbuf *buf = writer->buf;
    for (; writer->count->offset < buf->length; writer->count->offset++)
        writer->count->lines += buf->data[writer->count->offset] == '\n';
    return writer->count->lines + 1;
}

/* A string of the language: "..." with \", \\, \n, \t, \r and \u00XX for other control characters. */
static void
write_string(PdStrbuf *buf, const char *text)
{
    pd_strbuf_append_char(buf, '"');
    for (const unsigned char *c = (const unsigned char *)text; *c != '\0'; c++)
    {
        if (*c == '"' || *c == '\\')
            pd_strbuf_appendf(buf, "\\%c", *c);
        else if (*c == '\n')
            pd_strbuf_append(buf, "\\n");
        else if (*c == '\t')
            pd_strbuf_append(buf, "\\t");
        else if (*c == '\r')
            pd_strbuf_append(buf, "\\r");
        else if (*c < 0x20 || *c == 0x7f)
            pd_strbuf_appendf(buf, "\\u%04x", *c);
        else
            pd_strbuf_append_char(buf, (char)*c);
    }
    pd_strbuf_append_char(buf, '"');
}

/*
 * A comment: "# text" after indent, each line of a text of several lines on a comment line of its own
 * (indented further), control characters but tab written as \u00XX, so it reads as one comment.
 */
static void
write_comment(const Writer *writer, const char *indent, const char *text)
{
    PdStrbuf *buf = writer->buf;
    pd_strbuf_appendf(buf, "%s%s# ", writer->prefix, indent);
    for (const unsigned char *c = (const unsigned char *)text; *c != '\0'; c++)
    {
        if (*c == '\n')
            pd_strbuf_appendf(buf, "\n%s%s#   ", writer->prefix, indent);
        else if ((*c < 0x20 && *c != '\t') || *c == 0x7f)
            pd_strbuf_appendf(buf, "\\u%04x", *c);
        else
            pd_strbuf_append_char(buf, (char)*c);
    }
    pd_strbuf_append_char(buf, '\n');
}

static void
write_literal(PdStrbuf *buf, const PdLiteral *literal)
{
    if (literal->kind == PD_LITERAL_STRING)
        write_string(buf, literal->text);
    else
        pd_strbuf_append(buf, literal->text);
}

static const char *
check_op_text(PdCheckOp op)
{
    static const char *ops[] = {"=", "!=", "<", "<=", ">", ">="};
    return (size_t)op < sizeof(ops) / sizeof(ops[0]) ? ops[op] : "=";
}

static void
write_default(PdStrbuf *buf, const InspectField *field)
{
    const PdDefault *value = &field->field.default_value;
    if (field->field.is_auto_now)
        pd_strbuf_append(buf, " auto_now");
    else if (field->is_serial)
        pd_strbuf_append(buf, " default=serial");
    else if (value->kind == PD_DEFAULT_NOW)
        pd_strbuf_append(buf, " default=now");
    else if (value->kind == PD_DEFAULT_UUID)
        pd_strbuf_append(buf, " default=uuid");
    else if (value->kind == PD_DEFAULT_LITERAL)
    {
        pd_strbuf_append(buf, " default=");
        write_literal(buf, &value->literal);
    }
}

/* The relation's options: on_delete always, related=, fk_name= and deferrable when they apply. */
static void
write_relation(PdStrbuf *buf, const InspectField *field)
{
    pd_strbuf_appendf(buf, " on_delete=%s", pd_model_on_delete_name(field->field.on_delete));
    if (field->related_name != NULL)
        pd_strbuf_appendf(buf, " related=%s", field->related_name);
    if (field->fk_name != NULL)
    {
        pd_strbuf_append(buf, " fk_name=");
        write_string(buf, field->fk_name);
    }
    if (field->is_deferrable)
        pd_strbuf_append(buf, " deferrable");
}

/* One field line, options in the canonical order, the language's own ones after. */
static void
write_field(const Writer *writer, const InspectField *field)
{
    PdStrbuf *buf = writer->buf;
    const PdField *f = &field->field;
    bool is_relation = f->kind == PD_FIELD_FOREIGN_KEY || f->kind == PD_FIELD_ONE_TO_ONE;
    pd_strbuf_appendf(buf, "%s  %s %s", writer->prefix, field->name, field->type_text);
    if (f->is_primary_key)
        pd_strbuf_append(buf, " primary_key");
    if (f->kind == PD_FIELD_ONE_TO_ONE)
        pd_strbuf_append(buf, " one_to_one");
    if (f->is_nullable)
        pd_strbuf_append(buf, " null");
    if (f->is_unique)
        pd_strbuf_append(buf, " unique");
    if (field->is_index)
        pd_strbuf_append(buf, " index");
    if (field->is_no_index)
        pd_strbuf_append(buf, " no_index");
    if (f->search == PD_SEARCH_TRIGRAM)
        pd_strbuf_append(buf, " search=trigram");
    write_default(buf, field);
    if (field->generated != NULL)
        pd_strbuf_appendf(buf, " generated(%s)", field->generated);
    for (size_t i = 0; i < f->check_count; i++)
    {
        pd_strbuf_appendf(buf, " check(%s ", check_op_text(f->checks[i].op));
        write_literal(buf, &f->checks[i].value);
        pd_strbuf_append_char(buf, ')');
    }
    if (is_relation)
        write_relation(buf, field);
    if (f->comment != NULL)
    {
        pd_strbuf_append(buf, " comment=");
        write_string(buf, f->comment);
    }
    pd_strbuf_append_char(buf, '\n');
}

static void
write_model_index(const Writer *writer, InspectModelIndex *index)
{
    PdStrbuf *buf = writer->buf;
    index->line = next_line(writer);
    pd_strbuf_appendf(buf, "%s  %s(", writer->prefix, index->is_unique ? "unique" : "index");
    for (size_t i = 0; i < index->field_count; i++)
    {
        const char *function = index->functions != NULL ? index->functions[i] : NULL;
        pd_strbuf_appendf(buf, "%s%s%s%s%s", i > 0 ? ", " : "", function != NULL ? function : "",
                          function != NULL ? "(" : "", index->fields[i], function != NULL ? ")" : "");
        if (index->opclasses[i] != NULL)
            pd_strbuf_appendf(buf, " %s", index->opclasses[i]);
    }
    pd_strbuf_append(buf, ")");
    if (index->where != NULL)
        pd_strbuf_appendf(buf, " where %s", index->where);
    pd_strbuf_append(buf, " name=");
    write_string(buf, index->name);
    pd_strbuf_append_char(buf, '\n');
}

/* primary_key(a, b): each key column by its field's name (a foreign key's without _id). */
static void
write_model_key(const Writer *writer, const InspectModel *model)
{
    if (model->key_column_count == 0)
        return;
    pd_strbuf_appendf(writer->buf, "%s  primary_key(", writer->prefix);
    for (size_t k = 0; k < model->key_column_count; k++)
    {
        const char *name = model->key_columns[k]->name;
        for (size_t i = 0; i < model->field_count; i++)
            if (model->fields[i].column == model->key_columns[k] && model->fields[i].name != NULL)
                name = model->fields[i].name;
        pd_strbuf_appendf(writer->buf, "%s%s", k > 0 ? ", " : "", name);
    }
    pd_strbuf_append(writer->buf, ")\n");
}

static void
write_model_check(const Writer *writer, InspectModelCheck *check)
{
    check->line = next_line(writer);
    pd_strbuf_appendf(writer->buf, "%s  check(%s) name=", writer->prefix, check->text);
    write_string(writer->buf, check->name);
    pd_strbuf_append_char(writer->buf, '\n');
}

static void
write_model(const Writer *writer, InspectModel *model)
{
    PdStrbuf *buf = writer->buf;
    for (size_t i = 0; i < model->note_count; i++)
        write_comment(writer, "", model->notes[i]);
    pd_strbuf_appendf(buf, "%smodel %s {\n", writer->prefix, model->name);
    if (model->has_table_directive)
    {
        pd_strbuf_appendf(buf, "%s  table ", writer->prefix);
        write_string(buf, model->table->name);
        pd_strbuf_append_char(buf, '\n');
    }
    if (model->resource != NULL)
    {
        pd_strbuf_appendf(buf, "%s  resource ", writer->prefix);
        write_string(buf, model->resource);
        pd_strbuf_append_char(buf, '\n');
    }
    if (model->table->comment != NULL)
    {
        pd_strbuf_appendf(buf, "%s  comment ", writer->prefix);
        write_string(buf, model->table->comment);
        pd_strbuf_append_char(buf, '\n');
    }
    for (size_t i = 0; i < model->field_count; i++)
    {
        const InspectField *field = &model->fields[i];
        for (size_t k = 0; k < field->note_count; k++)
            write_comment(writer, "  ", field->notes[k]);
        if (field->name != NULL)
            write_field(writer, field);
    }
    write_model_key(writer, model);
    for (size_t i = 0; i < model->index_count; i++)
        write_model_index(writer, &model->indexes[i]);
    for (size_t i = 0; i < model->check_count; i++)
        write_model_check(writer, &model->checks[i]);
    for (size_t i = 0; i < model->tail_note_count; i++)
        write_comment(writer, "  ", model->tail_notes[i]);
    pd_strbuf_appendf(buf, "%s}\n", writer->prefix);
}

static void
write_header(const Writer *writer, const InspectSchema *schema, const char *const *patterns,
             size_t pattern_count)
{
    PdStrbuf *buf = writer->buf;
    PdStrbuf line;
    pd_strbuf_init(&line, buf->arena);
    pd_strbuf_appendf(&line, "Models of database \"%s\", schema %s", schema->database, schema->schema);
    for (size_t i = 0; i < pattern_count; i++)
        pd_strbuf_appendf(&line, "%s%s", i == 0 ? ", tables " : ", ", patterns[i]);
    pd_strbuf_append(&line, ", written by prodata inspectdb.");
    const char *text = pd_strbuf_text(&line);
    write_comment(writer, "", text != NULL ? text : "");
    pd_strbuf_append(buf,
                     "# What the model language cannot express is kept as a comment naming the object\n"
                     "# and its definition: nothing is left out silently. To adopt the database:\n"
                     "#   1. review this file and save it as the model file (models.pdm);\n"
                     "#   2. prodata makemigrations          writes migrations/0001_initial.sql from it;\n"
                     "#   3. prodata migrate --fake-initial  records 0001 as applied, running nothing;\n"
                     "#   4. prodata check                   says whether the database is what the\n"
                     "#      migrations make (the objects commented here differ).\n");
}

static bool
write_text(PdArena *arena, const InspectSchema *schema, InspectModel *models, const char *const *patterns,
           size_t pattern_count, char **text, PdError *err)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    LineCount count = {0, 0};
    Writer writer = {&buf, models, "", &count};
    write_header(&writer, schema, patterns, pattern_count);
    for (size_t i = 0; i < schema->table_count; i++)
    {
        InspectModel *model = &models[i];
        pd_strbuf_append_char(&buf, '\n');
        if (model->not_a_model == NULL)
        {
            write_model(&writer, model);
            continue;
        }
        pd_strbuf_appendf(&buf, "# table %s is not a model: %s. As it would be:\n", model->table->name,
                          model->not_a_model);
        Writer commented = {&buf, models, "# ", &count};
        write_model(&commented, model);
    }
    if (schema->leftover_count > 0)
        pd_strbuf_append(&buf, "\n# Not inspected (the model language has no such objects yet):\n");
    for (size_t i = 0; i < schema->leftover_count; i++)
        write_comment(&writer, "", schema->leftovers[i]);
    const char *result = pd_strbuf_text(&buf);
    if (result == NULL)
        return pd_arena_error(arena, err);
    *text = (char *)result;
    return true;
}

/* What write_text needs, for pd_inspect_verify's rewrites. */
typedef struct Rewriter
{
    PdArena *arena;
    const InspectSchema *schema;
    InspectModel *models;
    const char *const *patterns;
    size_t pattern_count;
} Rewriter;

static bool
rewrite_text(void *context, const char **text, PdError *err)
{
    Rewriter *rewriter = context;
    char *written = NULL;
    if (!write_text(rewriter->arena, rewriter->schema, rewriter->models, rewriter->patterns,
                    rewriter->pattern_count, &written, err))
        return false;
    *text = written;
    return true;
}

bool
pd_migrate_inspect(PdArena *arena, PdDb *db, const char *const *patterns, size_t pattern_count, char **text,
                   PdError *err)
{
    PdArena *scratch = pd_arena_new_child(arena, 0);
    if (scratch == NULL)
        return pd_arena_error(arena, err);
    InspectSchema *schema = NULL;
    InspectModel *models = NULL;
    const char *written = NULL;
    Rewriter rewriter = {scratch, NULL, NULL, patterns, pattern_count};
    bool is_done = pd_inspect_read(scratch, db, patterns, pattern_count, &schema, err) &&
                   pd_inspect_map(scratch, schema, &models, err);
    rewriter.schema = schema;
    rewriter.models = models;
    is_done = is_done && rewrite_text(&rewriter, &written, err) &&
              pd_inspect_verify(scratch, db, schema, models, rewrite_text, &rewriter, &written, err);
    if (is_done && (*text = pd_arena_strdup(arena, written)) == NULL)
        is_done = pd_arena_error(arena, err);
    pd_arena_free(scratch);
    return is_done;
}
