/*
 * seal.h - the repository's optional encryption (seal.c): every file of an
 * encrypted repository (WAL, history files, backup files, manifests, verify
 * records) is a sealed file, AES-256-GCM in independent units, so that a
 * block file's runs are still read at any offset and a truncated, reordered
 * or altered unit fails its tag. Sealing wraps the formats and leaves them
 * unchanged: what a file holds once opened is exactly what a plain
 * repository stores. The writers and readers here serve plain files too
 * (key NULL), so each format's code has one path. Private to src/archive.
 */
#ifndef PRODATA_ARCHIVE_SEAL_H
#define PRODATA_ARCHIVE_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive.h"

/* The first bytes of a sealed file: magic "PDSEALED", version, cipher, unit size, zeros, per-file salt. */
#define PD_SEAL_PREFIX_BYTES 32
/* Plaintext of unit 0: a format's header, written last. */
#define PD_SEAL_HEAD_BYTES 64
/* Plaintext of every later unit but the last. */
#define PD_SEAL_UNIT_BYTES (64u * 1024u)
#define PD_SEAL_TAG_BYTES 16
/* A scratch buffer for one sealed unit. */
#define PD_SEAL_SCRATCH_BYTES (PD_SEAL_UNIT_BYTES + PD_SEAL_TAG_BYTES)

/* HKDF-SHA256 of secret (length bytes) with salt (none when salt_length is 0) and info into out. Errors:
 * PD_ERR_INTERNAL. */
bool pd_seal_hkdf(const void *secret, size_t length, const void *salt, size_t salt_length, const char *info,
                  unsigned char out[32], PdError *err);

/* A file written into the repository: plain or sealed, its first PD_SEAL_HEAD_BYTES given at the end. */
typedef struct PdSealOut
{
    int fd;
    const char *path;
    bool is_sealed;
    bool starts_writeback; /* asks the kernel to start writing each piece at once (sync_file_range) */
    unsigned char prefix[PD_SEAL_PREFIX_BYTES];
    unsigned char file_key[32];
    unsigned char *unit; /* PD_SEAL_SCRATCH_BYTES: the unit being filled, sealed in place */
    size_t filled;
    uint64_t index;       /* the unit being filled: 1, 2, ... */
    uint64_t file_offset; /* where the next byte goes in the file */
} PdSealOut;

/*
 * The name a sealed file is bound to: its path inside the repository ("backup/LABEL/..." for a backup's
 * files, the file name for WAL, history files and prodata.keycheck), taken from its path. A file moved to
 * another name fails its tags, so an archived segment cannot stand in for another.
 */
const char *pd_seal_name(const char *path);

/*
 * Starts the file open at fd (empty; path names it in errors), positioned after its head: the caller writes
 * the bytes after the first PD_SEAL_HEAD_BYTES, then gives those at close. key NULL: a plain file. final: the
 * path the file will have (pd_seal_name binds it), when it is written under a temporary one; NULL: path.
 * Errors: PD_ERR_IO, PD_ERR_INTERNAL (OpenSSL), PD_ERR_NO_MEMORY.
 */
bool pd_seal_out_open(PdArena *arena, const PdArchiveKey *key, int fd, const char *path, const char *final,
                      PdSealOut *out, PdError *err);

/* Appends length bytes. Errors: PD_ERR_IO, PD_ERR_INTERNAL. */
bool pd_seal_out_write(PdSealOut *out, const void *bytes, size_t length, PdError *err);

/* Ends the file: its head (PD_SEAL_HEAD_BYTES) written at its place. Not fsynced. Errors: PD_ERR_IO,
 * PD_ERR_INTERNAL. */
bool pd_seal_out_close(PdSealOut *out, const unsigned char head[PD_SEAL_HEAD_BYTES], PdError *err);

/* A repository file opened for reading: plain or sealed, read at any offset of what it holds. */
typedef struct PdSealIn
{
    int fd;
    const char *path;
    bool is_sealed;
    uint64_t size; /* the bytes it holds: the file's size when plain */
    unsigned char prefix[PD_SEAL_PREFIX_BYTES];
    unsigned char file_key[32];
    unsigned char *scratch; /* PD_SEAL_SCRATCH_BYTES: the unit read last, opened */
    uint64_t cached;        /* that unit's index; UINT64_MAX: none */
    size_t cached_bytes;
} PdSealIn;

/*
 * Opens the file at fd (path names it): sealed files need key, plain ones need key NULL (an encrypted
 * repository holds nothing plain). scratch: PD_SEAL_SCRATCH_BYTES the caller keeps, or NULL (taken from
 * arena when the file is sealed). Errors: PD_ERR_REFUSED (a sealed file without a key or a plain one with
 * one, a prefix or size that cannot be), PD_ERR_IO, PD_ERR_NO_MEMORY.
 */
bool pd_seal_in_open(PdArena *arena, const PdArchiveKey *key, int fd, const char *path,
                     unsigned char *scratch, PdSealIn *in, PdError *err);

/* pd_seal_in_open of the file at path, opened here; the caller closes in->fd once this returned true. */
bool pd_seal_in_open_path(PdArena *arena, const PdArchiveKey *key, const char *path, unsigned char *scratch,
                          PdSealIn *in, PdError *err);

/*
 * Reads up to length bytes at offset into into; *got is fewer only at the end. Errors: PD_ERR_REFUSED
 * ("... is corrupt or not of this key": a unit whose tag fails), PD_ERR_IO.
 */
bool pd_seal_in_read_at(PdSealIn *in, void *into, size_t length, uint64_t offset, size_t *got, PdError *err);

/*
 * A small file's whole text sealed (key NULL: as it is) into *sealed, arena-allocated, bound to the file's
 * final path (pd_seal_name), and the other way (path: where it was read). Errors: as pd_seal_in_open and
 * pd_seal_in_read_at, PD_ERR_NO_MEMORY.
 */
bool pd_seal_text(PdArena *arena, const PdArchiveKey *key, const char *final, const void *text, size_t length,
                  void **sealed, size_t *sealed_length, PdError *err);
/* Whether bytes (length of them) start as a sealed file does. */
bool pd_seal_is_sealed(const void *bytes, size_t length);

bool pd_unseal_text(PdArena *arena, const PdArchiveKey *key, const void *bytes, size_t length,
                    const char *path, char **text, size_t *text_length, PdError *err);

#endif
