/*
 * utf8.c - cutting text between UTF-8 characters. Fixed buffers (a PdError's
 * texts, a log line, a value quoted in a message) are filled by printf rules,
 * which count bytes; these functions move a cut back to the start of the
 * character it would split. Only the end is judged: text that is not UTF-8
 * is passed on as it is, never repaired.
 */
#include "utf8.h"

#include <stdbool.h>
#include <string.h>

size_t
pd_core_utf8_whole(const char *text, size_t length)
{
    size_t start = length; /* just after the lead byte of the last character, once found */
    while (start > 0 && length - start < 3 && ((unsigned char)text[start - 1] & 0xc0) == 0x80)
        start--;
    if (start == 0)
        return length;
    unsigned char lead = (unsigned char)text[start - 1];
    size_t wanted = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    return wanted > length - start + 1 ? start - 1 : length;
}

size_t
pd_core_utf8_prefix(const char *text, size_t max)
{
    size_t length = strnlen(text, max + 1);
    if (length <= max)
        return length;
    bool is_inside_character = ((unsigned char)text[max] & 0xc0) == 0x80;
    return is_inside_character ? pd_core_utf8_whole(text, max) : max;
}
