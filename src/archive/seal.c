/*
 * seal.c - sealed files (seal.h). A sealed file is a 32-byte prefix (magic
 * "PDSEALED", version 1, cipher 1 = AES-256-GCM, the unit size as a power of
 * two, zeros, a random 16-byte salt) then units, each its ciphertext and a
 * 16-byte tag. Unit 0 holds the first 64 bytes (a format's header, written
 * last), each later unit 64 KiB, the last one what remains; so a file of P
 * bytes has a size computed from P alone, and the other way. Each file has
 * its own key, HKDF-SHA256 of the repository key with the file's salt, so a
 * unit's nonce can simply be its index; each unit authenticates the prefix,
 * its index and whether it is the last, so a cut at a unit's end, units
 * swapped within or across files, or a prefix edited, all fail a tag. The
 * file key also binds the file's name in the repository (pd_seal_name), so
 * a whole file copied over another (a segment for a later one, a history
 * file for another timeline's) fails too. Plain files pass through the
 * same calls untouched.
 */
#define _GNU_SOURCE /* sync_file_range */
#include "seal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

static const unsigned char magic[8] = {'P', 'D', 'S', 'E', 'A', 'L', 'E', 'D'};
enum
{
    SEAL_VERSION = 1,
    SEAL_CIPHER_AES_256_GCM = 1,
    SEAL_UNIT_LOG2 = 16,
    OFFSET_SALT = 16,
};
_Static_assert(PD_SEAL_UNIT_BYTES == 1u << SEAL_UNIT_LOG2, "SEAL_UNIT_LOG2 spells PD_SEAL_UNIT_BYTES");

/* ---- the arithmetic of units ------------------------------------------------------------------------- */

/* Where unit index starts in the file, and the plaintext bytes before it. */
static uint64_t
unit_offset(uint64_t index)
{
    return index == 0 ? PD_SEAL_PREFIX_BYTES
                      : PD_SEAL_PREFIX_BYTES + PD_SEAL_HEAD_BYTES + PD_SEAL_TAG_BYTES +
                            (index - 1) * (uint64_t)PD_SEAL_SCRATCH_BYTES;
}

static uint64_t
unit_start(uint64_t index)
{
    return index == 0 ? 0 : PD_SEAL_HEAD_BYTES + (index - 1) * (uint64_t)PD_SEAL_UNIT_BYTES;
}

/* The unit holding plaintext byte at. */
static uint64_t
unit_of(uint64_t at)
{
    return at < PD_SEAL_HEAD_BYTES ? 0 : 1 + (at - PD_SEAL_HEAD_BYTES) / PD_SEAL_UNIT_BYTES;
}

/* The plaintext size of a sealed file of file_bytes; false when no plaintext size gives that file size. */
static bool
plain_size(uint64_t file_bytes, uint64_t *size)
{
    if (file_bytes < PD_SEAL_PREFIX_BYTES + PD_SEAL_TAG_BYTES)
        return false;
    uint64_t body = file_bytes - PD_SEAL_PREFIX_BYTES;
    if (body <= PD_SEAL_HEAD_BYTES + PD_SEAL_TAG_BYTES)
        return (*size = body - PD_SEAL_TAG_BYTES), true;
    uint64_t rest = body - PD_SEAL_HEAD_BYTES - PD_SEAL_TAG_BYTES;
    uint64_t full = rest / PD_SEAL_SCRATCH_BYTES, tail = rest % PD_SEAL_SCRATCH_BYTES;
    if (tail != 0 && tail <= PD_SEAL_TAG_BYTES)
        return false;
    *size = PD_SEAL_HEAD_BYTES + full * PD_SEAL_UNIT_BYTES + (tail != 0 ? tail - PD_SEAL_TAG_BYTES : 0);
    return true;
}

/* The index of the last unit of a file of size plaintext bytes. */
static uint64_t
last_unit(uint64_t size)
{
    return size <= PD_SEAL_HEAD_BYTES ? 0 : unit_of(size - 1);
}

/* ---- the cipher ------------------------------------------------------------------------------------ */

bool
pd_seal_hkdf(const void *secret, size_t length, const void *salt, size_t salt_length, const char *info,
             unsigned char out[32], PdError *err)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *context = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[5], *next = params;
    *next++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    *next++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, length);
    if (salt_length > 0)
        *next++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_length);
    *next++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info));
    *next = OSSL_PARAM_construct_end();
    bool ok = context != NULL && EVP_KDF_derive(context, out, 32, params) == 1;
    EVP_KDF_CTX_free(context);
    EVP_KDF_free(kdf);
    return ok || pd_error_set(err, PD_ERR_INTERNAL, "OpenSSL could not derive a key (HKDF-SHA256)");
}

/* A backup label's shape, YYYYMMDD-HHMMSS then F, D or I (as pd_backup_is_label; kept here so that
 * prodata-wal, which links no manifest code, needs nothing of backup_repo.c). */
static bool
is_label(const char *name)
{
    for (int i = 0; i < 15; i++)
        if (i == 8 ? name[i] != '-' : (name[i] < '0' || name[i] > '9'))
            return false;
    return name[15] == 'F' || name[15] == 'D' || name[15] == 'I';
}

const char *
pd_seal_name(const char *path)
{
    for (const char *at = strstr(path, "/backup/"); at != NULL; at = strstr(at + 1, "/backup/"))
    {
        if (strnlen(at + 8, 17) > 16 && at[8 + 16] == '/' && is_label(at + 8))
            return at + 1;
    }
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

/* The file's own key: HKDF of the repository key with its salt, bound to its name in the repository. */
static bool
file_key(const PdArchiveKey *key, const unsigned char *salt, const char *name, unsigned char out[32],
         PdError *err)
{
    char info[4200];
    int length = snprintf(info, sizeof(info), "prodata sealed file v1 %s", name);
    if (length < 0 || (size_t)length >= sizeof(info))
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "the repository path %s is too long to seal", name);
    return pd_seal_hkdf(key->bytes, sizeof(key->bytes), salt, 16, info, out, err);
}

/* The nonce (the unit's index) and the data each unit authenticates (prefix, index, last). */
static void
unit_context(const unsigned char *prefix, uint64_t index, bool is_last, unsigned char nonce[12],
             unsigned char aad[PD_SEAL_PREFIX_BYTES + 9])
{
    memset(nonce, 0, 12);
    pd_archive_put_u64(nonce + 4, index);
    memcpy(aad, prefix, PD_SEAL_PREFIX_BYTES);
    pd_archive_put_u64(aad + PD_SEAL_PREFIX_BYTES, index);
    aad[PD_SEAL_PREFIX_BYTES + 8] = is_last ? 1 : 0;
}

/*
 * Seals (is_sealing) or opens length bytes of unit index from in to out (the same place or apart); the tag
 * follows the sealed bytes (out's when sealing, in's when opening). Opening fails (false, no error set) when
 * the tag does not match.
 */
static bool
unit_cipher(const unsigned char *key, const unsigned char *prefix, uint64_t index, bool is_last,
            bool is_sealing, const unsigned char *in, unsigned char *out, size_t length, bool *is_authentic,
            PdError *err)
{
    unsigned char nonce[12], aad[PD_SEAL_PREFIX_BYTES + 9], tag[PD_SEAL_TAG_BYTES];
    unit_context(prefix, index, is_last, nonce, aad);
    EVP_CIPHER_CTX *context = EVP_CIPHER_CTX_new();
    int n = 0, end = 0;
    if (!is_sealing)
        memcpy(tag, in + length, sizeof(tag)); /* before out, which may be in, is written */
    bool ok = context != NULL &&
              EVP_CipherInit_ex(context, EVP_aes_256_gcm(), NULL, key, nonce, is_sealing) == 1 &&
              EVP_CipherUpdate(context, NULL, &n, aad, (int)sizeof(aad)) == 1 &&
              (length == 0 || EVP_CipherUpdate(context, out, &n, in, (int)length) == 1);
    if (ok && !is_sealing)
        ok = EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, PD_SEAL_TAG_BYTES, tag) == 1;
    bool is_final = ok && EVP_CipherFinal_ex(context, out + n, &end) == 1;
    if (ok && is_sealing)
        ok = is_final &&
             EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, PD_SEAL_TAG_BYTES, out + length) == 1;
    EVP_CIPHER_CTX_free(context);
    if (!ok)
        return pd_error_set(err, PD_ERR_INTERNAL, "OpenSSL could not run AES-256-GCM");
    *is_authentic = is_final;
    return true;
}

static bool
not_authentic(PdError *err, const char *path, uint64_t index)
{
    pd_error_set(err, PD_ERR_REFUSED,
                 "%s is corrupt, was sealed with another key or under another name: unit %llu fails its "
                 "AES-256-GCM tag",
                 path, (unsigned long long)index);
    pd_error_field(err, "archive_key");
    return pd_error_hint(err, "The repository's files open only with the key they were written with "
                              "(archive_key_file or archive_key), under the name they were written as; a "
                              "damaged file: restore another backup.");
}

static bool
new_prefix(const PdArchiveKey *key, const char *name, unsigned char prefix[PD_SEAL_PREFIX_BYTES],
           unsigned char fkey[32], PdError *err)
{
    memset(prefix, 0, PD_SEAL_PREFIX_BYTES);
    memcpy(prefix, magic, sizeof(magic));
    prefix[8] = SEAL_VERSION;
    prefix[9] = SEAL_CIPHER_AES_256_GCM;
    prefix[10] = SEAL_UNIT_LOG2;
    if (RAND_bytes(prefix + OFFSET_SALT, 16) != 1)
        return pd_error_set(err, PD_ERR_INTERNAL, "OpenSSL could not make a random salt");
    return file_key(key, prefix + OFFSET_SALT, name, fkey, err);
}

/* Checks a file's prefix (length bytes of it at hand) and derives its key. */
static bool
read_prefix(const PdArchiveKey *key, const unsigned char *bytes, size_t length, const char *path,
            unsigned char prefix[PD_SEAL_PREFIX_BYTES], unsigned char fkey[32], PdError *err)
{
    if (length < PD_SEAL_PREFIX_BYTES || bytes[8] != SEAL_VERSION || bytes[9] != SEAL_CIPHER_AES_256_GCM ||
        bytes[10] != SEAL_UNIT_LOG2)
        return pd_error_set(err, PD_ERR_REFUSED,
                            "%s is corrupt: its sealed prefix names an unknown version, cipher or unit size",
                            path);
    for (size_t i = 11; i < OFFSET_SALT; i++)
        if (bytes[i] != 0)
            return pd_error_set(err, PD_ERR_REFUSED, "%s is corrupt: reserved bytes of its prefix are set",
                                path);
    memcpy(prefix, bytes, PD_SEAL_PREFIX_BYTES);
    return file_key(key, prefix + OFFSET_SALT, pd_seal_name(path), fkey, err);
}

/* Whether bytes start as a sealed file does; with the key given or not, says what is wrong. */
static bool
check_kind(const PdArchiveKey *key, const unsigned char *bytes, size_t length, const char *path,
           bool *is_sealed, PdError *err)
{
    *is_sealed = length >= sizeof(magic) && memcmp(bytes, magic, sizeof(magic)) == 0;
    if (*is_sealed && key == NULL)
    {
        pd_error_set(err, PD_ERR_REFUSED, "%s is encrypted, and no key is set", path);
        pd_error_field(err, "archive_key_file");
        return pd_error_hint(err, "Name the repository's key: archive_key_file = FILE (or archive_key) in "
                                  "prodata.conf, or PRODATA_ARCHIVE_KEY_FILE.");
    }
    if (!*is_sealed && key != NULL)
    {
        pd_error_set(err, PD_ERR_REFUSED, "%s is not encrypted, in a repository that is", path);
        return pd_error_hint(err,
                             "Every file of an encrypted repository is sealed: this one was put there by "
                             "something else, or the repository is another one.");
    }
    return true;
}

/* ---- writing --------------------------------------------------------------------------------------- */

static bool
write_at(PdSealOut *out, const unsigned char *bytes, size_t length, uint64_t offset, PdError *err)
{
    while (length > 0)
    {
        ssize_t done = pwrite(out->fd, bytes, length, (off_t)offset);
        if (done < 0 && errno == EINTR)
            continue;
        if (done <= 0)
            return pd_archive_io_error(err, "write", out->path);
        if (out->starts_writeback)
            (void)sync_file_range(out->fd, (off_t)offset, (off_t)done, SYNC_FILE_RANGE_WRITE);
        bytes += done, offset += (uint64_t)done, length -= (size_t)done;
    }
    return true;
}

bool
pd_seal_out_open(PdArena *arena, const PdArchiveKey *key, int fd, const char *path, const char *final,
                 PdSealOut *out, PdError *err)
{
    memset(out, 0, sizeof(*out));
    out->fd = fd;
    out->path = path;
    out->is_sealed = key != NULL;
    out->index = 1;
    out->file_offset = out->is_sealed ? unit_offset(1) : PD_SEAL_HEAD_BYTES;
    if (!out->is_sealed)
        return true;
    out->unit = pd_arena_alloc(arena, PD_SEAL_SCRATCH_BYTES);
    if (out->unit == NULL)
        return pd_arena_error(arena, err);
    return new_prefix(key, pd_seal_name(final != NULL ? final : path), out->prefix, out->file_key, err);
}

/* Seals the unit being filled (is_last: the file's last) and writes it. */
static bool
flush_unit(PdSealOut *out, bool is_last, PdError *err)
{
    bool is_authentic;
    if (!unit_cipher(out->file_key, out->prefix, out->index, is_last, true, out->unit, out->unit, out->filled,
                     &is_authentic, err) ||
        !write_at(out, out->unit, out->filled + PD_SEAL_TAG_BYTES, out->file_offset, err))
        return false;
    out->file_offset += out->filled + PD_SEAL_TAG_BYTES;
    out->index++;
    out->filled = 0;
    return true;
}

bool
pd_seal_out_write(PdSealOut *out, const void *bytes, size_t length, PdError *err)
{
    const unsigned char *next = bytes;
    if (!out->is_sealed)
    {
        if (!write_at(out, next, length, out->file_offset, err))
            return false;
        out->file_offset += length;
        return true;
    }
    while (length > 0)
    {
        if (out->filled == PD_SEAL_UNIT_BYTES && !flush_unit(out, false, err))
            return false;
        size_t take = PD_SEAL_UNIT_BYTES - out->filled;
        take = take < length ? take : length;
        memcpy(out->unit + out->filled, next, take);
        out->filled += take, next += take, length -= take;
    }
    return true;
}

bool
pd_seal_out_close(PdSealOut *out, const unsigned char head[PD_SEAL_HEAD_BYTES], PdError *err)
{
    if (!out->is_sealed)
        return write_at(out, head, PD_SEAL_HEAD_BYTES, 0, err);
    bool is_empty = out->index == 1 && out->filled == 0; /* nothing after the head: unit 0 is the last */
    if (!is_empty && !flush_unit(out, true, err))
        return false;
    unsigned char unit0[PD_SEAL_HEAD_BYTES + PD_SEAL_TAG_BYTES];
    bool is_authentic;
    memcpy(unit0, head, PD_SEAL_HEAD_BYTES);
    return unit_cipher(out->file_key, out->prefix, 0, is_empty, true, unit0, unit0, PD_SEAL_HEAD_BYTES,
                       &is_authentic, err) &&
           write_at(out, out->prefix, PD_SEAL_PREFIX_BYTES, 0, err) &&
           write_at(out, unit0, sizeof(unit0), PD_SEAL_PREFIX_BYTES, err);
}

/* ---- reading --------------------------------------------------------------------------------------- */

static bool open_unit(PdSealIn *in, uint64_t index, PdError *err);

bool
pd_seal_in_open(PdArena *arena, const PdArchiveKey *key, int fd, const char *path, unsigned char *scratch,
                PdSealIn *in, PdError *err)
{
    memset(in, 0, sizeof(*in));
    in->fd = fd;
    in->path = path;
    in->cached = UINT64_MAX;
    struct stat info;
    unsigned char prefix[PD_SEAL_PREFIX_BYTES];
    size_t got;
    if (fstat(fd, &info) != 0)
        return pd_archive_io_error(err, "stat", path);
    in->size = (uint64_t)info.st_size;
    if (!pd_archive_read_full_at(fd, prefix, sizeof(prefix), 0, &got, path, err) ||
        !check_kind(key, prefix, got, path, &in->is_sealed, err))
        return false;
    if (!in->is_sealed)
        return true;
    if (!plain_size((uint64_t)info.st_size, &in->size))
        return pd_error_set(err, PD_ERR_REFUSED, "%s is corrupt: no sealed file has its size (%lld bytes)",
                            path, (long long)info.st_size);
    in->scratch = scratch != NULL ? scratch : pd_arena_alloc(arena, PD_SEAL_SCRATCH_BYTES);
    if (in->scratch == NULL)
        return pd_arena_error(arena, err);
    if (!read_prefix(key, prefix, got, path, in->prefix, in->file_key, err))
        return false;
    /* a file of one unit is opened whole now: an empty one would otherwise never meet a tag */
    return in->size > PD_SEAL_HEAD_BYTES || open_unit(in, 0, err);
}

bool
pd_seal_in_open_path(PdArena *arena, const PdArchiveKey *key, const char *path, unsigned char *scratch,
                     PdSealIn *in, PdError *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pd_archive_io_error(err, "open", path);
    if (pd_seal_in_open(arena, key, fd, path, scratch, in, err))
        return true;
    close(fd);
    return false;
}

/* Unit index read and opened into the scratch buffer (kept there for the next read). */
static bool
open_unit(PdSealIn *in, uint64_t index, PdError *err)
{
    if (in->cached == index)
        return true;
    uint64_t start = unit_start(index), last = last_unit(in->size);
    uint64_t end = index == 0
                       ? (in->size < PD_SEAL_HEAD_BYTES ? in->size : PD_SEAL_HEAD_BYTES)
                       : (start + PD_SEAL_UNIT_BYTES < in->size ? start + PD_SEAL_UNIT_BYTES : in->size);
    size_t length = (size_t)(end - start), got;
    bool is_authentic;
    in->cached = UINT64_MAX;
    if (!pd_archive_read_full_at(in->fd, in->scratch, length + PD_SEAL_TAG_BYTES, (int64_t)unit_offset(index),
                                 &got, in->path, err))
        return false;
    if (got != length + PD_SEAL_TAG_BYTES)
        return pd_error_set(err, PD_ERR_REFUSED, "%s is corrupt: it ends inside unit %llu", in->path,
                            (unsigned long long)index);
    if (!unit_cipher(in->file_key, in->prefix, index, index == last, false, in->scratch, in->scratch, length,
                     &is_authentic, err))
        return false;
    if (!is_authentic)
        return not_authentic(err, in->path, index);
    in->cached = index;
    in->cached_bytes = length;
    return true;
}

bool
pd_seal_in_read_at(PdSealIn *in, void *into, size_t length, uint64_t offset, size_t *got, PdError *err)
{
    *got = 0;
    if (!in->is_sealed)
        return pd_archive_read_full_at(in->fd, into, length, (int64_t)offset, got, in->path, err);
    unsigned char *out = into;
    while (*got < length && offset < in->size)
    {
        uint64_t index = unit_of(offset);
        if (!open_unit(in, index, err))
            return false;
        size_t skip = (size_t)(offset - unit_start(index));
        size_t take = in->cached_bytes - skip;
        take = take < length - *got ? take : length - *got;
        memcpy(out + *got, in->scratch + skip, take);
        *got += take, offset += take;
    }
    return true;
}

/* ---- small files, whole ---------------------------------------------------------------------------- */

bool
pd_seal_is_sealed(const void *bytes, size_t length)
{
    return length >= sizeof(magic) && memcmp(bytes, magic, sizeof(magic)) == 0;
}

bool
pd_seal_text(PdArena *arena, const PdArchiveKey *key, const char *final, const void *text, size_t length,
             void **sealed, size_t *sealed_length, PdError *err)
{
    if (key == NULL)
        return (*sealed = (void *)text), (*sealed_length = length), true;
    uint64_t last = last_unit(length);
    size_t total = (size_t)unit_offset(last) + (size_t)(length - unit_start(last)) + PD_SEAL_TAG_BYTES;
    unsigned char *out = pd_arena_alloc(arena, total), fkey[32];
    if (out == NULL)
        return pd_arena_error(arena, err);
    if (!new_prefix(key, pd_seal_name(final), out, fkey, err))
        return false;
    for (uint64_t index = 0; index <= last; index++)
    {
        uint64_t start = unit_start(index);
        size_t bytes = (size_t)((index == last ? length : unit_start(index + 1)) - start);
        bool is_authentic;
        if (!unit_cipher(fkey, out, index, index == last, true, (const unsigned char *)text + start,
                         out + unit_offset(index), bytes, &is_authentic, err))
            return false;
    }
    *sealed = out;
    *sealed_length = total;
    return true;
}

bool
pd_unseal_text(PdArena *arena, const PdArchiveKey *key, const void *bytes, size_t length, const char *path,
               char **text, size_t *text_length, PdError *err)
{
    const unsigned char *in = bytes;
    bool is_sealed;
    uint64_t size = length;
    unsigned char prefix[PD_SEAL_PREFIX_BYTES], fkey[32];
    if (!check_kind(key, in, length, path, &is_sealed, err))
        return false;
    if (is_sealed && !plain_size(length, &size))
        return pd_error_set(err, PD_ERR_REFUSED, "%s is corrupt: no sealed file has its size (%zu bytes)",
                            path, length);
    char *out = pd_arena_alloc(arena, (size_t)size + 1);
    if (out == NULL)
        return pd_arena_error(arena, err);
    if (!is_sealed)
        memcpy(out, in, length);
    else if (!read_prefix(key, in, length, path, prefix, fkey, err))
        return false;
    uint64_t last = last_unit(size);
    for (uint64_t index = 0; is_sealed && index <= last; index++)
    {
        uint64_t start = unit_start(index);
        size_t count = (size_t)((index == last ? size : unit_start(index + 1)) - start);
        bool is_authentic;
        if (!unit_cipher(fkey, prefix, index, index == last, false, in + unit_offset(index),
                         (unsigned char *)out + start, count, &is_authentic, err))
            return false;
        if (!is_authentic)
            return not_authentic(err, path, index);
    }
    out[size] = '\0';
    *text = out;
    *text_length = (size_t)size;
    return true;
}
