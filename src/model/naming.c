/*
 * naming.c - every name the database or the REST API sees that the model
 * file does not spell out: tables and resources from model names, constraint
 * and index names, join tables and their columns (column types and kind names
 * come from the kind table, kind.c). These rules are part of the migration
 * contract (a changed rule renames objects in every existing database), so
 * they are deliberately simple and documented in docs/models.md. Names longer
 * than PostgreSQL's 63 bytes are cut and end in "_" plus 8 hex digits of the
 * FNV-1a hash of the full name, so they stay deterministic and distinct.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "prodata/strbuf.h"
#include "syntax.h"

#define NAME_MAX_BYTES 63
#define HASH_SUFFIX_BYTES 9 /* "_" + 8 hex digits */

static bool
is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

static bool
is_lower_or_digit(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

char *
pd_model_snake_case(PdArena *arena, const char *name)
{
    size_t length = strlen(name);
    char *out = pd_arena_alloc(arena, length * 2 + 1);
    if (out == NULL)
        return NULL;
    size_t used = 0;
    for (size_t i = 0; i < length; i++)
    {
        char c = name[i];
        /* A word starts at a capital after a lower-case letter or digit ("BookReview"), or at the last
         * capital of a run that a lower-case letter follows ("HTTPServer" -> http_server). */
        bool starts_word = i > 0 && is_upper(c) &&
                           (is_lower_or_digit(name[i - 1]) ||
                            (is_upper(name[i - 1]) && name[i + 1] >= 'a' && name[i + 1] <= 'z'));
        if (starts_word && used > 0 && out[used - 1] != '_')
            out[used++] = '_';
        out[used++] = is_upper(c) ? (char)(c - 'A' + 'a') : c;
    }
    out[used] = '\0';
    return out;
}

static bool
ends_with(const char *word, size_t length, const char *suffix)
{
    size_t suffix_length = strlen(suffix);
    return length >= suffix_length && strcmp(word + length - suffix_length, suffix) == 0;
}

char *
pd_model_plural(PdArena *arena, const char *word)
{
    size_t length = strlen(word);
    if (ends_with(word, length, "s") || ends_with(word, length, "x") || ends_with(word, length, "z") ||
        ends_with(word, length, "ch") || ends_with(word, length, "sh"))
        return pd_arena_sprintf(arena, "%ses", word);
    if (length >= 2 && word[length - 1] == 'y' && strchr("aeiou", word[length - 2]) == NULL)
        return pd_arena_sprintf(arena, "%.*sies", (int)(length - 1), word);
    return pd_arena_sprintf(arena, "%ss", word);
}

static uint32_t
fnv1a(const char *text)
{
    uint32_t hash = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++)
    {
        hash ^= *p;
        hash *= 16777619u;
    }
    return hash;
}

/* Keeps a name within 63 bytes: cut (never inside a UTF-8 sequence) and end in the full name's hash. */
static char *
fit_name(PdArena *arena, char *name)
{
    if (name == NULL || strlen(name) <= NAME_MAX_BYTES)
        return name;
    size_t keep = NAME_MAX_BYTES - HASH_SUFFIX_BYTES;
    while (keep > 0 && ((unsigned char)name[keep] & 0xC0) == 0x80)
        keep--;
    return pd_arena_sprintf(arena, "%.*s_%08x", (int)keep, name, fnv1a(name));
}

char *
pd_model_constraint_name(PdArena *arena, const char *table, const char *column, const char *suffix)
{
    char *name = column != NULL ? pd_arena_sprintf(arena, "%s_%s_%s", table, column, suffix)
                                : pd_arena_sprintf(arena, "%s_%s", table, suffix);
    return name != NULL ? fit_name(arena, name) : NULL;
}

char *
pd_model_foreign_key_name(PdArena *arena, const PdModel *model, const PdField *field)
{
    if (field->kind != PD_FIELD_FOREIGN_KEY && field->kind != PD_FIELD_ONE_TO_ONE)
        return NULL;
    if (field->fk_name != NULL) /* given: kept as written, it follows no rename */
        return pd_arena_strdup(arena, field->fk_name);
    return pd_model_constraint_name(arena, model->table, field->column, "fkey");
}

char *
pd_model_search_index_name(PdArena *arena, const char *table, const char *column, const PdField *field)
{
    if (field->search != PD_SEARCH_TRIGRAM && field->search != PD_SEARCH_FULLTEXT)
        return NULL;
    return pd_model_constraint_name(arena, table, column,
                                    field->search == PD_SEARCH_TRIGRAM ? "trgm" : "fts");
}

const char *
pd_model_search_name(PdSearchKind search)
{
    static const char *names[] = {"", "search", "trigram", "fulltext"};
    return (size_t)search < sizeof(names) / sizeof(names[0]) ? names[search] : "";
}

const char *
pd_model_field_extension(const PdField *field, int index)
{
    const char *needs[2] = {NULL, NULL};
    int count = 0;
    if (field->kind == PD_FIELD_CITEXT)
        needs[count++] = "citext";
    if (field->search == PD_SEARCH_TRIGRAM)
        needs[count++] = "pg_trgm";
    return index >= 0 && index < count ? needs[index] : NULL;
}

char *
pd_model_check_constraint_name(PdArena *arena, const char *table, const char *column, size_t check_index)
{
    if (check_index == 0)
        return pd_model_constraint_name(arena, table, column, "check");
    char suffix[32];
    snprintf(suffix, sizeof(suffix), "check%zu", check_index);
    return pd_model_constraint_name(arena, table, column, suffix);
}

char *
pd_model_index_name(PdArena *arena, const PdModel *model, const PdIndex *index)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    pd_strbuf_append(&buf, model->table);
    for (size_t i = 0; i < index->field_count; i++)
    {
        const PdField *field = pd_model_find_field(model, index->fields[i]);
        pd_strbuf_append_char(&buf, '_');
        pd_strbuf_append(&buf, field != NULL && field->column != NULL ? field->column : index->fields[i]);
    }
    pd_strbuf_append(&buf, index->is_unique ? "_uniq" : "_idx");
    if (pd_strbuf_failed(&buf))
        return NULL;
    return fit_name(arena, buf.data);
}

char *
pd_model_through_table_name(PdArena *arena, const char *table, const char *field)
{
    char *name = pd_arena_sprintf(arena, "%s_%s", table, field);
    return name != NULL ? fit_name(arena, name) : NULL;
}

/* The column of the foreign key of through that points at target (the checker made sure there is one). */
static char *
through_fk_column(const PdModel *through, const char *target)
{
    for (size_t i = 0; i < through->field_count; i++)
        if (through->fields[i].kind == PD_FIELD_FOREIGN_KEY &&
            strcmp(through->fields[i].target_name, target) == 0)
            return (char *)through->fields[i].column;
    return NULL;
}

bool
pd_model_through_columns(PdArena *arena, const PdModel *model, const PdField *field, char **source_column,
                         char **target_column)
{
    if (field->through_model != NULL)
    {
        *source_column = through_fk_column(field->through_model, model->name);
        *target_column =
            field->target != NULL ? through_fk_column(field->through_model, field->target->name) : NULL;
        return *source_column != NULL && *target_column != NULL;
    }
    char *source = pd_model_snake_case(arena, model->name);
    char *target = field->target != NULL ? pd_model_snake_case(arena, field->target->name) : NULL;
    if (source == NULL || target == NULL)
        return false;
    bool is_self = strcmp(source, target) == 0;
    char *from = pd_arena_sprintf(arena, is_self ? "from_%s_id" : "%s_id", source);
    char *to = pd_arena_sprintf(arena, is_self ? "to_%s_id" : "%s_id", target);
    if (from == NULL || to == NULL)
        return false;
    *source_column = fit_name(arena, from);
    *target_column = fit_name(arena, to);
    return *source_column != NULL && *target_column != NULL;
}

const char *
pd_model_on_delete_name(PdOnDelete on_delete)
{
    static const char *names[] = {"cascade", "restrict", "protect", "set_null", "set_default"};
    if ((size_t)on_delete < sizeof(names) / sizeof(names[0]))
        return names[on_delete];
    return "unknown";
}

bool
pd_model_is_lower_name(const char *name)
{
    if (!((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_'))
        return false;
    for (const char *p = name; *p != '\0'; p++)
        if (!is_lower_or_digit(*p) && *p != '_')
            return false;
    return true;
}

bool
pd_model_is_sql_name(const char *name)
{
    if (!((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_') || strlen(name) > NAME_MAX_BYTES)
        return false;
    for (const char *p = name; *p != '\0'; p++)
        if (!is_lower_or_digit(*p) && *p != '_' && *p != '$')
            return false;
    return true;
}
