/*
 * checksum.c - the sha256 that identifies a migration file's exact bytes. The
 * executor records it when a file is applied and refuses to go on when an
 * applied file's checksum changes, so it covers the whole text, comments
 * included: an edit anywhere is an edit.
 */
#include <openssl/evp.h>
#include <string.h>

#include "prodata/migrate.h"

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
