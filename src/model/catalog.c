/*
 * catalog.c - the entry points of the model language: text or a file in, a
 * checked catalog out (parser.c reads, check.c judges), and the lookups
 * every reader of a catalog uses. A catalog is built completely before it is
 * handed out, so a caller never sees half of one.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "syntax.h"

bool
pd_model_parse(PdArena *arena, const char *file_name, const char *text, PdCatalog **catalog, PdError *err)
{
    PdFileSyntax syntax;
    if (!pd_model_parse_syntax(arena, file_name, text, &syntax, err) ||
        !pd_model_inherit(arena, &syntax, err))
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

static int
compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The *.pdm files of folder (not those starting with "."), sorted by name, as paths "folder/name". */
static bool
list_folder(PdArena *arena, const char *folder, char ***paths, size_t *count, PdError *err)
{
    DIR *dir = opendir(folder);
    if (dir == NULL)
        return pd_error_set(err, PD_ERR_IO, "could not open model folder \"%s\": %s", folder,
                            strerror(errno));
    char **names = NULL;
    size_t n = 0;
    bool is_ok = true;
    for (struct dirent *entry; is_ok && (entry = readdir(dir)) != NULL;)
    {
        size_t length = strlen(entry->d_name);
        if (entry->d_name[0] == '.' || length < 5 || strcmp(entry->d_name + length - 4, ".pdm") != 0)
            continue;
        char **grown = pd_arena_grow(arena, names, n, n + 1, sizeof(char *));
        char *name = pd_arena_sprintf(arena, "%s/%s", folder, entry->d_name);
        is_ok = grown != NULL && name != NULL;
        if (is_ok)
        {
            names = grown;
            names[n++] = name;
        }
    }
    closedir(dir);
    if (!is_ok)
        return pd_arena_error(arena, err);
    if (n == 0)
        return pd_error_set(err, PD_ERR_INVALID_INPUT,
                            "model folder \"%s\" holds no model file, expected files named *.pdm", folder);
    qsort(names, n, sizeof(char *), compare_names);
    *paths = names;
    *count = n;
    return true;
}

/*
 * A project split over several files (one per app, as Django's apps): the files of the folder in name order
 * are read as one, so a model may refer to a model of another file and names are unique across them all.
 * The first file with problems of form stops the reading (its problems are reported); meaning is checked
 * once every file has the right form, each position naming its file.
 */
static bool
load_folder(PdArena *arena, const char *folder, PdCatalog **catalog, PdError *err)
{
    char **paths = NULL;
    size_t count = 0;
    if (!list_folder(arena, folder, &paths, &count, err))
        return false;
    PdFileSyntax all = {0};
    for (size_t i = 0; i < count; i++)
    {
        char *text = NULL;
        PdFileSyntax one;
        if (!read_file(arena, paths[i], &text, err) ||
            !pd_model_parse_syntax(arena, paths[i], text, &one, err))
            return false;
        PdModelSyntax *models = pd_arena_grow(arena, all.models, all.model_count,
                                              all.model_count + one.model_count + 1, sizeof(PdModelSyntax));
        if (models == NULL)
            return pd_arena_error(arena, err);
        if (one.model_count > 0)
            memcpy(models + all.model_count, one.models, one.model_count * sizeof(PdModelSyntax));
        all.models = models;
        all.model_count += one.model_count;
    }
    if (!pd_model_inherit(arena, &all, err))
        return false;
    return pd_model_check_syntax(arena, &all, catalog, err);
}

bool
pd_model_load_file(PdArena *arena, const char *path, PdCatalog **catalog, PdError *err)
{
    struct stat info;
    if (stat(path, &info) == 0 && S_ISDIR(info.st_mode))
        return load_folder(arena, path, catalog, err);
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

size_t
pd_model_key_count(const PdModel *model)
{
    return model->key_field_count > 0 ? model->key_field_count : 1;
}

const PdField *
pd_model_key_field(const PdModel *model, size_t i)
{
    if (model->key_field_count == 0)
        return i == 0 ? pd_model_primary_key(model) : NULL;
    return i < model->key_field_count ? pd_model_find_field(model, model->key_fields[i]) : NULL;
}

bool
pd_model_is_key_part(const PdModel *model, const PdField *field)
{
    for (size_t i = 0; i < model->key_field_count; i++)
        if (strcmp(model->key_fields[i], field->name) == 0)
            return true;
    return false;
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
           field->through_model_name != NULL /* DRF: a through many-to-many is written through its model */ ||
           field->generated != NULL;
}

bool
pd_model_has_join_table(const PdField *field)
{
    return field->kind == PD_FIELD_MANY_TO_MANY && field->through_model_name == NULL;
}
