/*
 * checksum.c - the sha256 that identifies what an applied migration did. The
 * executor records it when a file is applied and refuses to go on when an
 * applied file's checksum changes. It is taken over the file's statements in
 * normal form (split.c: comments and blanks between tokens do not count),
 * section by section, and its model state, so re-indenting or commenting an
 * applied file is accepted and any change to a statement is refused.
 * Histories written before this recorded the sha256 of the whole file's
 * bytes; that is still accepted (apply.c), and replaced by the new one.
 */
#include <openssl/evp.h>
#include <string.h>

#include "prodata/migrate.h"
#include "split.h"

void
pd_migration_checksum(const char *data, size_t length, char out[65])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_length = 0;
    /* EVP_Digest only fails when OpenSSL cannot allocate; an empty checksum then never matches a record. */
    if (!EVP_Digest(data, length, digest, &digest_length, EVP_sha256(), NULL) || digest_length != 32)
    {
        memset(out, 0, 65);
        return;
    }
    static const char hex[] = "0123456789abcdef";
    for (unsigned int i = 0; i < digest_length; i++)
    {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 0x0f];
    }
    out[64] = '\0';
}

/* The state's lines with trailing blanks cut and blank lines left out. */
static void
append_state(PdStrbuf *out, const char *state)
{
    for (const char *line = state; *line != '\0';)
    {
        size_t length = strcspn(line, "\n");
        size_t kept = length;
        while (kept > 0 && (line[kept - 1] == ' ' || line[kept - 1] == '\t' || line[kept - 1] == '\r'))
            kept--;
        if (kept > 0)
        {
            pd_strbuf_append_length(out, line, kept);
            pd_strbuf_append_char(out, '\n');
        }
        line += length + (line[length] == '\n');
    }
}

bool
pd_migration_statement_checksum(PdArena *arena, const PdMigrationFile *file, char out[65], PdError *err)
{
    PdStrbuf text;
    pd_strbuf_init(&text, arena);
    pd_strbuf_append(&text, "prodata statements 1\n+up\n");
    if (!pd_split_normalize_section(arena, file->up_sql, &text, err))
        return false;
    if (file->up_concurrently_sql != NULL && file->up_concurrently_sql[0] != '\0')
    {
        pd_strbuf_append(&text, "+up concurrently\n");
        if (!pd_split_normalize_section(arena, file->up_concurrently_sql, &text, err))
            return false;
    }
    if (file->up_batched_sql != NULL && file->up_batched_sql[0] != '\0')
    {
        pd_strbuf_appendf(&text, "+up batched %d\n", file->batch_rows);
        if (!pd_split_normalize_section(arena, file->up_batched_sql, &text, err))
            return false;
    }
    pd_strbuf_append(&text, file->down_sql != NULL ? "+down\n" : "+down irreversible\n");
    if (file->down_sql != NULL && !pd_split_normalize_section(arena, file->down_sql, &text, err))
        return false;
    if (file->state_text != NULL)
    {
        pd_strbuf_append(&text, "+state\n");
        append_state(&text, file->state_text);
    }
    if (pd_strbuf_failed(&text))
        return pd_arena_error(arena, err);
    pd_migration_checksum(text.data, text.length, out);
    return true;
}
