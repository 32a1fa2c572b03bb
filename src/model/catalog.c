/*
 * catalog.c - the entry points of the model language: text or a file in, a
 * checked catalog out (parser.c reads, check.c judges), and the lookups
 * every reader of a catalog uses. A catalog is built completely before it is
 * handed out, so a caller never sees half of one.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "syntax.h"

bool
pd_model_parse(PdArena *arena, const char *file_name, const char *text, PdCatalog **catalog, PdError *err)
{
    PdFileSyntax syntax;
    if (!pd_model_parse_syntax(arena, file_name, text, &syntax, err))
        return false;
    return pd_model_check_syntax(arena, &syntax, catalog, err);
}

static bool
read_file(PdArena *arena, const char *path, char **text, PdError *err)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL)
        return pd_error_set(err, PD_ERR_IO, "could not open model file \"%s\": %s", path, strerror(errno));
    size_t capacity = 1 << 16, length = 0;
    char *data = pd_arena_alloc(arena, capacity);
    while (data != NULL)
    {
        length += fread(data + length, 1, capacity - length - 1, file);
        if (length < capacity - 1)
            break;
        data = pd_arena_grow(arena, data, length, capacity * 2, 1);
        capacity *= 2;
    }
    bool is_error = ferror(file) != 0;
    int saved_errno = errno;
    fclose(file);
    if (data == NULL)
        return pd_arena_error(arena, err);
    if (is_error)
        return pd_error_set(err, PD_ERR_IO, "could not read model file \"%s\": %s", path,
                            strerror(saved_errno));
    if (memchr(data, '\0', length) != NULL)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "%s: a NUL byte in the file, expected text", path);
    data[length] = '\0';
    *text = data;
    return true;
}

bool
pd_model_load_file(PdArena *arena, const char *path, PdCatalog **catalog, PdError *err)
{
    char *text = NULL;
    if (!read_file(arena, path, &text, err))
        return false;
    return pd_model_parse(arena, path, text, catalog, err);
}

const PdModel *
pd_model_find(const PdCatalog *catalog, const char *name)
{
    for (size_t i = 0; i < catalog->model_count; i++)
        if (strcmp(catalog->models[i].name, name) == 0)
            return &catalog->models[i];
    return NULL;
}

const PdField *
pd_model_find_field(const PdModel *model, const char *name)
{
    for (size_t i = 0; i < model->field_count; i++)
        if (strcmp(model->fields[i].name, name) == 0)
            return &model->fields[i];
    return NULL;
}

const PdField *
pd_model_primary_key(const PdModel *model)
{
    for (size_t i = 0; i < model->field_count; i++)
        if (model->fields[i].is_primary_key)
            return &model->fields[i];
    return NULL;
}

bool
pd_model_is_auto_key(const PdField *field)
{
    return field->kind == PD_FIELD_AUTO ||
           (field->is_primary_key && field->default_value.kind == PD_DEFAULT_SERIAL);
}

bool
pd_model_is_read_only(const PdField *field)
{
    return pd_model_is_auto_key(field) || field->is_auto_now || field->is_auto_now_add ||
           field->generated != NULL;
}
