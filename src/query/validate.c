/*
 * validate.c - reading and judging one field's input as Django REST
 * Framework's ModelSerializer field of that kind would (its to_internal_value,
 * then its validators), with DRF's own messages, and producing the text the
 * statement's parameter carries. The shapes of dates, addresses and the like
 * are the model's (pd_model_check_value), so what is accepted here is what
 * the column takes; the words are DRF's. Where Python reads more forms than
 * the column's canonical one (a uuid without hyphens, a fraction of a second
 * past microseconds, a float's digits) the value is rewritten here into the
 * form PostgreSQL stores as Django would have it, never left to PostgreSQL's
 * own reading (which rounds where Django cuts). A NUL in a string (JSON's
 * \u0000) never reaches PostgreSQL, whose text and jsonb cannot hold one: a
 * text field refuses it in DRF's words, a json field in ours, and any other
 * field cannot read it. Decimal digits are counted
 * as Python's Decimal counts them. Nothing touches the database: a unique
 * key or a missing foreign key is the database's to refuse (refusal.c).
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "values.h"

/* DRF guards against huge number strings (IntegerField.MAX_STRING_LENGTH). */
#define MAX_NUMBER_STRING 1000

/* The most digits of a second's fraction a time takes; those past six are dropped (pd_query_cut_fraction). */
#define MAX_FRACTION_DIGITS 9

typedef struct Reader
{
    PdArena *arena;
    const PdField *field;
    const PdValueInput *input;
    PdValueProblems *problems;
} Reader;

static bool fail(Reader *reader, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool
fail(Reader *reader, const char *fmt, ...)
{
    PdValueProblems *problems = reader->problems;
    if (problems->count >= PD_VALUE_MAX_PROBLEMS)
        return false;
    va_list args;
    va_start(args, fmt);
    vsnprintf(problems->messages[problems->count++], sizeof(problems->messages[0]), fmt, args);
    va_end(args);
    return false;
}

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/*
 * text's *length bytes without surrounding white space, in the arena (DRF's trim_whitespace, str.strip(),
 * which keeps a NUL); *length becomes the copy's. NULL when the arena is exhausted.
 */
static const char *
trimmed(PdArena *arena, const char *text, size_t *length)
{
    size_t start = 0;
    size_t end = *length;
    while (start < end && is_space(text[start]))
        start++;
    while (end > start && is_space(text[end - 1]))
        end--;
    *length = end - start;
    return pd_arena_strndup(arena, text + start, *length);
}

static size_t
utf8_count(const char *text, size_t length)
{
    size_t count = 0;
    for (size_t i = 0; i < length; i++)
        count += ((unsigned char)text[i] & 0xC0) != 0x80;
    return count;
}

/*
 * Whether a string holds a NUL (JSON's \u0000): its text then ends before its length. Python reads such a
 * string whole, and only DRF's CharField names the NUL; every other field fails to read it (int(), float(),
 * Decimal(), uuid.UUID(), the date parsers, base64), so its usual message is given.
 */
static bool
has_nul(const PdValueInput *input)
{
    return input->text != NULL && strlen(input->text) < input->length;
}

/* Whether the model's own rule for the field takes text as a string (shape only: no length, no choices). */
static bool
has_shape(const PdField *field, const char *text)
{
    PdField loose = *field;
    loose.max_length = 0;
    loose.choice_count = 0;
    loose.is_nullable = true;
    PdLiteral literal = {PD_LITERAL_STRING, text};
    PdError ignored = {0};
    return pd_model_check_value(&loose, &literal, &ignored);
}

/* ---- text ---- */

static bool
allows_blank(const PdField *field)
{
    const PdDefault *value = &field->default_value;
    return value->kind == PD_DEFAULT_LITERAL && value->literal.kind == PD_LITERAL_STRING &&
           value->literal.text[0] == '\0';
}

static bool
read_text(Reader *reader, const char **out)
{
    static const char *formats[PD_FIELD_KIND_COUNT] = {
        [PD_FIELD_EMAIL] = "Enter a valid email address.",
        [PD_FIELD_URL] = "Enter a valid URL.",
        [PD_FIELD_SLUG] = "Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens.",
    };
    const PdValueInput *input = reader->input;
    const PdField *field = reader->field;
    if (input->shape != PD_VALUE_STRING && input->shape != PD_VALUE_NUMBER)
        return fail(reader, "Not a valid string.");
    size_t length = input->length;
    const char *text = trimmed(reader->arena, input->text, &length);
    if (text == NULL)
        return *out = NULL, true; /* out of memory: pd_query_value_read says so */
    if (length == 0)
        return allows_blank(field) ? (*out = text, true) : fail(reader, "This field may not be blank.");
    /* DRF's validators in their order: the length, the NUL (which PostgreSQL's text cannot hold either),
     * the form (no form the model checks takes a control character) */
    bool holds_nul = strlen(text) < length;
    bool is_ok = true;
    if (field->max_length > 0 && utf8_count(text, length) > (size_t)field->max_length)
        is_ok = fail(reader, "Ensure this field has no more than %d characters.", field->max_length);
    if (holds_nul)
        is_ok = fail(reader, "Null characters are not allowed.");
    if (formats[field->kind] != NULL && (holds_nul || !has_shape(field, text)))
        is_ok = fail(reader, "%s", formats[field->kind]);
    *out = text;
    return is_ok;
}

/* ---- numbers ---- */

/* The input as a number's text: a JSON number, or a string trimmed; NULL (with the problem) otherwise. */
static const char *
number_text(Reader *reader, const char *invalid)
{
    const PdValueInput *input = reader->input;
    if ((input->shape != PD_VALUE_STRING && input->shape != PD_VALUE_NUMBER) || has_nul(input))
        return fail(reader, "%s", invalid), NULL;
    size_t length = input->length;
    if (length > MAX_NUMBER_STRING)
        return fail(reader, "String value too large."), NULL;
    const char *text = trimmed(reader->arena, input->text, &length);
    return text != NULL ? text : (fail(reader, "Out of memory."), NULL);
}

static bool
range_problem(Reader *reader, bool is_above, long long limit)
{
    return fail(reader, "Ensure this value is %s than or equal to %lld.", is_above ? "less" : "greater",
                limit);
}

static bool
read_integer(Reader *reader, const char **out)
{
    const char *text = number_text(reader, "A valid integer is required.");
    if (text == NULL)
        return false;
    /* DRF takes "12.0" as 12 (its re_decimal): drop a point followed only by zeros. */
    char *whole = pd_arena_strdup(reader->arena, text);
    char *point = strchr(whole, '.');
    if (point != NULL && strspn(point + 1, "0") == strlen(point + 1))
        *point = '\0';
    const char *digits = whole + (whole[0] == '-' || whole[0] == '+');
    if (digits[0] == '\0' || strspn(digits, "0123456789") != strlen(digits))
        return fail(reader, "A valid integer is required.");
    const PdKindInfo *info = pd_kind_info(reader->field->kind);
    errno = 0;
    long long number = strtoll(whole, NULL, 10);
    bool is_negative = whole[0] == '-';
    if (errno == ERANGE || number > info->max_value)
        return is_negative ? range_problem(reader, false, info->min_value)
                           : range_problem(reader, true, info->max_value);
    if (number < info->min_value)
        return range_problem(reader, false, info->min_value);
    *out = pd_arena_sprintf(reader->arena, "%lld", number);
    return true;
}

static bool
read_float(Reader *reader, const char **out)
{
    const char *text = number_text(reader, "A valid number is required.");
    if (text == NULL)
        return false;
    char *end = NULL;
    double number = strtod(text, &end);
    /* DRF refuses NaN and the infinities, "1e400" among them; strtod's hexadecimal form is not Python's */
    if (text[0] == '\0' || *end != '\0' || strpbrk(text, "xX") != NULL || !isfinite(number))
        return fail(reader, "A valid number is required.");
    /* the double Python's float() makes of it, as Django sends it: "1e-400" is 0.0 (PostgreSQL refuses it) */
    *out = pd_query_real_text(reader->arena, number);
    return true;
}

/* Digits as Python's Decimal keeps them: significant digits and the exponent of the last one. */
typedef struct DecimalDigits
{
    int total;
    int whole;
    int places;
} DecimalDigits;

static bool
parse_decimal(const char *text, DecimalDigits *digits)
{
    const char *p = text + (text[0] == '-' || text[0] == '+');
    size_t before = strspn(p, "0123456789");
    const char *fraction = p + before;
    size_t after = 0;
    if (*fraction == '.')
        after = strspn(fraction + 1, "0123456789"), fraction++;
    if (before + after == 0)
        return false;
    const char *rest = fraction + after;
    long exponent = 0;
    if (*rest == 'e' || *rest == 'E')
    {
        char *end = NULL;
        errno = 0;
        exponent = strtol(rest + 1, &end, 10);
        if (end == rest + 1 || *end != '\0' || errno == ERANGE || labs(exponent) > 100000)
            return false;
    }
    else if (*rest != '\0')
        return false;
    /* the coefficient's digits without leading zeros (at least one), the exponent of its last digit */
    char coefficient[2 * MAX_NUMBER_STRING + 2];
    snprintf(coefficient, sizeof(coefficient), "%.*s%.*s", (int)before, p, (int)after,
             after > 0 ? fraction : "");
    const char *significant = coefficient + strspn(coefficient, "0");
    int count = (int)strlen(significant);
    if (count == 0)
        significant = "0", count = 1;
    long exp = exponent - (long)after;
    if (exp >= 0)
        *digits = (DecimalDigits){count + (int)exp, count + (int)exp, 0};
    else if (count > -exp)
        *digits = (DecimalDigits){count, count + (int)exp, (int)-exp};
    else
        *digits = (DecimalDigits){(int)-exp, 0, (int)-exp};
    return true;
}

static bool
read_decimal(Reader *reader, const char **out)
{
    const char *text = number_text(reader, "A valid number is required.");
    if (text == NULL)
        return false;
    DecimalDigits digits;
    if (!parse_decimal(text, &digits)) /* NaN and the infinities have no digits: DRF refuses them too */
        return fail(reader, "A valid number is required.");
    const PdField *field = reader->field;
    if (digits.total > field->precision)
        return fail(reader, "Ensure that there are no more than %d digits in total.", field->precision);
    if (digits.places > field->scale)
        return fail(reader, "Ensure that there are no more than %d decimal places.", field->scale);
    if (digits.whole > field->precision - field->scale)
        return fail(reader, "Ensure that there are no more than %d digits before the decimal point.",
                    field->precision - field->scale);
    *out = text;
    return true;
}

/* ---- booleans, times, the rest ---- */

static bool
read_bool(Reader *reader, const char **out)
{
    static const char *truths[] = {"t",    "T",    "y",  "Y",  "yes", "Yes", "YES", "true",
                                   "True", "TRUE", "on", "On", "ON",  "1",   "1.0"};
    static const char *lies[] = {"f",     "F",     "n",   "N",   "no",  "No", "NO", "false",
                                 "False", "FALSE", "off", "Off", "OFF", "0",  "0.0"};
    const PdValueInput *input = reader->input;
    bool is_usable =
        input->shape == PD_VALUE_BOOL || input->shape == PD_VALUE_STRING || input->shape == PD_VALUE_NUMBER;
    if (is_usable && !has_nul(input))
        for (size_t i = 0; i < sizeof(truths) / sizeof(truths[0]); i++)
        {
            /* a real 1.0 is True to Python, the string "1.0" is not */
            bool is_real_only = i == sizeof(truths) / sizeof(truths[0]) - 1;
            if (is_real_only && input->shape != PD_VALUE_NUMBER)
                continue;
            if (strcmp(input->text, truths[i]) == 0)
                return *out = "true", true;
            if (strcmp(input->text, lies[i]) == 0)
                return *out = "false", true;
        }
    return fail(reader, "Must be a valid boolean.");
}

/* Whether a timestamp's text names its offset (Z, +HH[:MM], -HH[:MM] after the time). */
static bool
has_offset(const char *text)
{
    return strlen(text) > 11 && strpbrk(text + 11, "Z+-") != NULL;
}

/*
 * Whether a time stamp of the right shape stays within Python's years 1 to 9999 once moved to UTC, as DRF's
 * DateTimeField needs (its enforce_timezone fails with "Datetime value out of range." past them, where
 * PostgreSQL would store 10000-01-01 or a year BC). An offset is under a day, so only the first and the last
 * day can cross.
 */
static bool
is_in_utc_range(const char *text)
{
    bool is_first_day = strncmp(text, "0001-01-01", 10) == 0;
    bool is_last_day = strncmp(text, "9999-12-31", 10) == 0;
    const char *zone = strpbrk(text + 11, "Z+-");
    if ((!is_first_day && !is_last_day) || zone == NULL || *zone == 'Z')
        return true;
    int minutes = atoi(text + 11) * 60 + atoi(text + 14);
    int offset = atoi(zone + 1) * 60 + (zone[3] == ':' ? atoi(zone + 4) : 0);
    int utc = *zone == '+' ? minutes - offset : minutes + offset;
    return is_first_day ? utc >= 0 : utc < 24 * 60;
}

const char *
pd_query_cut_fraction(PdArena *arena, const char *text)
{
    const char *point = strchr(text, '.');
    size_t digits = point != NULL ? strspn(point + 1, "0123456789") : 0;
    if (digits <= 6 || digits > MAX_FRACTION_DIGITS)
        return text;
    return pd_arena_sprintf(arena, "%.*s%s", (int)(point + 7 - text), text, point + 1 + digits);
}

static bool
read_temporal(Reader *reader, const char **out)
{
    static const char *formats[PD_FIELD_KIND_COUNT] = {
        [PD_FIELD_DATE] = "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.",
        [PD_FIELD_TIME] = "Time has wrong format. Use one of these formats instead: hh:mm[:ss[.uuuuuu]].",
        [PD_FIELD_TIMESTAMPTZ] = "Datetime has wrong format. Use one of these formats instead: "
                                 "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].",
        [PD_FIELD_DURATION] = "Duration has wrong format. Use one of these formats instead: "
                              "[DD] [HH:[MM:]]ss[.uuuuuu].",
    };
    const PdValueInput *input = reader->input;
    PdFieldKind kind = reader->field->kind;
    bool is_text =
        (input->shape == PD_VALUE_STRING || (input->shape == PD_VALUE_NUMBER && kind == PD_FIELD_DURATION)) &&
        !has_nul(input);
    const char *text = is_text ? input->text : "";
    if (kind == PD_FIELD_TIME || kind == PD_FIELD_TIMESTAMPTZ)
        text = pd_query_cut_fraction(reader->arena, text);
    if (text == NULL)
        return *out = NULL, true; /* out of memory: pd_query_value_read says so */
    bool is_seconds =
        kind == PD_FIELD_DURATION && text[0] != '\0' && strspn(text, "0123456789.") == strlen(text);
    if (!is_text || !(is_seconds || has_shape(reader->field, text)) ||
        (kind == PD_FIELD_TIMESTAMPTZ && strlen(text) <= 10))
        return fail(reader, "%s", formats[kind]);
    if (kind == PD_FIELD_TIMESTAMPTZ && !is_in_utc_range(text))
        return fail(reader, "Datetime value out of range.");
    /* a time stamp without an offset is UTC, as DRF reads it with Django's default TIME_ZONE */
    *out = kind == PD_FIELD_TIMESTAMPTZ && !has_offset(text)
               ? pd_arena_sprintf(reader->arena, "%s+00:00", text)
           : is_seconds ? pd_arena_sprintf(reader->arena, "%s seconds", text)
                        : text;
    return true;
}

/* Whether JSON text holds a string with a NUL, which JSON writes \u0000 (and a backslash of its own \\). */
static bool
has_nul_escape(const char *json)
{
    for (const char *p = json; (p = strchr(p, '\\')) != NULL && p[1] != '\0'; p += 2)
        if (strncmp(p + 1, "u0000", 5) == 0)
            return true;
    return false;
}

static bool
read_json(Reader *reader, const char **out)
{
    const PdValueInput *input = reader->input;
    if (input->shape == PD_VALUE_STRING)
    {
        json_error_t error;
        json_t *value = json_loads(input->text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
        if (value == NULL)
            return fail(reader, "Value must be valid JSON.");
        json_decref(value);
    }
    else if (input->shape == PD_VALUE_KEYS)
        return fail(reader, "Value must be valid JSON.");
    /* DRF's JSONField takes it, but PostgreSQL's jsonb refuses \u0000 (22P05): said here, under the field */
    if (has_nul_escape(input->text))
        return fail(reader, "Null characters are not allowed: PostgreSQL's jsonb cannot store \\u0000.");
    *out = input->text;
    return true;
}

/* text without every occurrence of word, as Python's str.replace(word, "") (in place: it only shortens). */
static void
remove_word(char *text, const char *word)
{
    size_t length = strlen(word);
    char *to = text;
    for (const char *from = text; *from != '\0';)
    {
        if (strncmp(from, word, length) == 0)
            from += length;
        else
            *to++ = *from++;
    }
    *to = '\0';
}

/* Python's int(..., 16) takes more (a sign, "0x", underscores, spaces around), which no client sends. */
bool
pd_query_uuid_text(PdArena *arena, const char *text, const char **canonical)
{
    char copy[128]; /* the longest form a client writes, "urn:uuid:{...}", has 47 characters */
    if (strlen(text) >= sizeof(copy))
        return false;
    strcpy(copy, text);
    remove_word(copy, "urn:");
    remove_word(copy, "uuid:");
    const char *start = copy + strspn(copy, "{}");
    size_t end = strlen(start);
    while (end > 0 && (start[end - 1] == '{' || start[end - 1] == '}'))
        end--;
    char hex[32];
    size_t count = 0;
    for (size_t i = 0; i < end; i++)
    {
        char c = start[i];
        if (c == '-')
            continue;
        if (count == sizeof(hex) || strchr("0123456789abcdefABCDEF", c) == NULL)
            return false;
        hex[count++] = c >= 'A' && c <= 'F' ? (char)(c - 'A' + 'a') : c;
    }
    if (count != sizeof(hex))
        return false;
    *canonical =
        pd_arena_sprintf(arena, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
    return true;
}

/* DRF's UUIDField: a string uuid.UUID reads, or a whole number as uuid.UUID(int=...); PostgreSQL's form. */
static bool
read_uuid(Reader *reader, const char **out)
{
    const PdValueInput *input = reader->input;
    if (input->shape == PD_VALUE_STRING && !has_nul(input) &&
        pd_query_uuid_text(reader->arena, input->text, out))
        return true;
    bool is_whole = input->shape == PD_VALUE_NUMBER && strcmp(input->type_name, "int") == 0 &&
                    input->text[0] != '\0' && strspn(input->text, "0123456789") == strlen(input->text);
    errno = 0;
    unsigned long long number = is_whole ? strtoull(input->text, NULL, 10) : 0;
    if (!is_whole || errno == ERANGE) /* jansson reads no integer past 64 bits anyway */
        return fail(reader, "Must be a valid UUID.");
    *out = pd_arena_sprintf(reader->arena, "00000000-0000-0000-%04llx-%012llx", number >> 48,
                            number & 0xffffffffffffULL);
    return true;
}

static bool
read_formed(Reader *reader, const char **out, const char *message)
{
    const PdValueInput *input = reader->input;
    if (input->shape != PD_VALUE_STRING || has_nul(input) || !has_shape(reader->field, input->text))
        return fail(reader, "%s", message);
    *out = input->text;
    return true;
}

static bool read_scalar(Reader *reader, const char **out);

/* A key of the relation's target: DRF's PrimaryKeyRelatedField. */
static bool
read_key(Reader *reader, const PdValueInput *input, const char **out)
{
    const PdField *key = pd_model_primary_key(reader->field->target);
    const char *type_name = input->type_name;
    bool is_integer = pd_kind_info(key->kind)->family == PD_FAMILY_INTEGER;
    bool is_usable = input->shape == PD_VALUE_STRING ||
                     (input->shape == PD_VALUE_NUMBER && is_integer && strcmp(type_name, "int") == 0);
    PdValueProblems scratch = {0};
    Reader inner = {reader->arena, key, input, &scratch};
    if (!is_usable || has_nul(input)) /* the look-up by a key with a NUL fails to read it: a ValueError */
        return fail(reader, "Incorrect type. Expected pk value, received %s.", type_name);
    if (read_scalar(&inner, out))
        return true;
    /* a key of the right type out of its range names no object */
    if (is_integer && strspn(input->text, "-0123456789") == strlen(input->text))
        return fail(reader, "Invalid pk \"%s\" - object does not exist.", input->text);
    return fail(reader, "Incorrect type. Expected pk value, received %s.", type_name);
}

/* An array literal of the keys ("{1,2}"), every element quoted. */
static bool
read_keys(Reader *reader, const char **out)
{
    const PdValueInput *input = reader->input;
    if (input->shape != PD_VALUE_KEYS)
        return fail(reader, "Expected a list of items but got type \"%s\".", input->type_name);
    PdStrbuf array;
    pd_strbuf_init(&array, reader->arena);
    pd_strbuf_append_char(&array, '{');
    for (size_t i = 0; i < input->item_count; i++)
    {
        const char *key = NULL;
        if (!read_key(reader, &input->items[i], &key))
            return false;
        pd_strbuf_append(&array, i > 0 ? ",\"" : "\"");
        for (const char *c = key; *c != '\0'; c++)
        {
            if (*c == '"' || *c == '\\')
                pd_strbuf_append_char(&array, '\\');
            pd_strbuf_append_char(&array, *c);
        }
        pd_strbuf_append_char(&array, '"');
    }
    pd_strbuf_append_char(&array, '}');
    *out = pd_strbuf_text(&array);
    return *out != NULL;
}

static bool
read_scalar(Reader *reader, const char **out)
{
    const PdField *field = reader->field;
    switch (pd_kind_info(field->kind)->family)
    {
        case PD_FAMILY_INTEGER:
            return read_integer(reader, out);
        case PD_FAMILY_TEXT:
            return read_text(reader, out);
        case PD_FAMILY_NUMERIC:
            return field->kind == PD_FIELD_DECIMAL ? read_decimal(reader, out) : read_float(reader, out);
        case PD_FAMILY_BOOLEAN:
            return read_bool(reader, out);
        case PD_FAMILY_TEMPORAL:
            return read_temporal(reader, out);
        case PD_FAMILY_JSON:
            return read_json(reader, out);
        case PD_FAMILY_UUID:
            return read_uuid(reader, out);
        case PD_FAMILY_BINARY:
            return read_formed(reader, out, "Incorrect format. Expected a base64 string.");
        case PD_FAMILY_NETWORK:
            return read_formed(reader, out,
                               field->kind == PD_FIELD_CIDR
                                   ? "Enter a valid IPv4 or IPv6 network, such as "
                                     "10.0.0.0/8, with no bits set right of the prefix."
                                   : "Enter a valid IPv4 or IPv6 address.");
        case PD_FAMILY_RELATION:
            break;
    }
    if (field->kind == PD_FIELD_MANY_TO_MANY)
        return read_keys(reader, out);
    return read_key(reader, reader->input, out);
}

/* ---- validators after reading ---- */

/* A string with its NULs written \u0000, as the client wrote them, for a message that quotes it. */
static const char *
shown_text(PdArena *arena, const PdValueInput *input)
{
    PdStrbuf shown;
    pd_strbuf_init(&shown, arena);
    for (size_t i = 0; i < input->length; i++)
    {
        if (input->text[i] == '\0')
            pd_strbuf_append(&shown, "\\u0000");
        else
            pd_strbuf_append_char(&shown, input->text[i]);
    }
    const char *text = pd_strbuf_text(&shown);
    return text != NULL ? text : "";
}

/* DRF's ChoiceField: the input's text must be one of the choices' values (none holds a NUL). */
static bool
read_choice(Reader *reader, const char **out)
{
    const PdValueInput *input = reader->input;
    const char *text =
        input->shape == PD_VALUE_BOOL ? (input->text[0] == 't' ? "True" : "False") : input->text;
    if (has_nul(input))
        text = shown_text(reader->arena, input);
    else if (input->shape == PD_VALUE_STRING || input->shape == PD_VALUE_NUMBER ||
             input->shape == PD_VALUE_BOOL)
        for (size_t i = 0; i < reader->field->choice_count; i++)
            if (strcmp(reader->field->choices[i].value.text, text) == 0)
                return *out = reader->field->choices[i].value.text, true;
    return fail(reader, "\"%.150s\" is not a valid choice.", text != NULL ? text : "");
}

static bool
check_holds(PdCheckOp op, double value, double limit)
{
    switch (op)
    {
        case PD_CHECK_EQ:
            return value == limit;
        case PD_CHECK_NE:
            return value != limit;
        case PD_CHECK_LT:
            return value < limit;
        case PD_CHECK_LE:
            return value <= limit;
        case PD_CHECK_GT:
            return value > limit;
        case PD_CHECK_GE:
            break;
    }
    return value >= limit;
}

const char *
pd_query_check_message(PdArena *arena, const PdCheck *check)
{
    static const char *words[] = {
        [PD_CHECK_EQ] = "equal to",     [PD_CHECK_NE] = "not equal to",
        [PD_CHECK_LT] = "less than",    [PD_CHECK_LE] = "less than or equal to",
        [PD_CHECK_GT] = "greater than", [PD_CHECK_GE] = "greater than or equal to",
    };
    const char *quote = check->value.kind == PD_LITERAL_STRING ? "\"" : "";
    return pd_arena_sprintf(arena, "Ensure this value is %s %s%s%s.", words[check->op], quote,
                            check->value.text, quote);
}

/* Numeric checks judged before the database (the database judges the others, refusal.c words them). */
static bool
apply_checks(Reader *reader, const char *text)
{
    PdKindFamily family = pd_kind_info(reader->field->kind)->family;
    if (family != PD_FAMILY_INTEGER && family != PD_FAMILY_NUMERIC)
        return true;
    bool is_ok = true;
    double value = strtod(text, NULL);
    for (size_t i = 0; i < reader->field->check_count; i++)
    {
        const PdCheck *check = &reader->field->checks[i];
        if (check->value.kind == PD_LITERAL_NUMBER &&
            !check_holds(check->op, value, strtod(check->value.text, NULL)))
            is_ok = fail(reader, "%s", pd_query_check_message(reader->arena, check));
    }
    return is_ok;
}

/* An element's text in an array literal: quoted, its quotes and backslashes escaped. */
static void
append_element(PdStrbuf *array, const char *text)
{
    pd_strbuf_append_char(array, '"');
    for (const char *c = text; *c != '\0'; c++)
    {
        if (*c == '"' || *c == '\\')
            pd_strbuf_append_char(array, '\\');
        pd_strbuf_append_char(array, *c);
    }
    pd_strbuf_append_char(array, '"');
}

/*
 * DRF's ListField: a JSON array whose every element the element kind's field reads; a problem of an
 * element is kept with its index (DRF answers {"scores": {"1": ["A valid integer is required."]}}). The
 * text is an array literal, "{\"1\",\"2\"}", each element as the scalar reader wrote it.
 */
static bool
read_array(Reader *reader, const char **out)
{
    const PdValueInput *input = reader->input;
    if (input->shape != PD_VALUE_KEYS)
        return fail(reader, "Expected a list of items but got type \"%s\".", input->type_name);
    PdField element = *reader->field;
    element.is_array = false;
    element.is_nullable = false;
    PdStrbuf array;
    pd_strbuf_init(&array, reader->arena);
    pd_strbuf_append_char(&array, '{');
    bool is_ok = true;
    for (size_t i = 0; i < input->item_count; i++)
    {
        PdValueProblems scratch = {0};
        Reader inner = {reader->arena, &element, &input->items[i], &scratch};
        const char *text = NULL;
        bool is_read = input->items[i].shape == PD_VALUE_NULL ? fail(&inner, "This field may not be null.")
                                                              : read_scalar(&inner, &text);
        if (is_read && text != NULL)
        {
            pd_strbuf_append(&array, i > 0 ? "," : "");
            append_element(&array, text);
            continue;
        }
        is_ok = false;
        for (size_t p = 0; p < scratch.count && reader->problems->count < PD_VALUE_MAX_PROBLEMS; p++)
        {
            PdValueProblems *problems = reader->problems;
            memcpy(problems->messages[problems->count], scratch.messages[p], sizeof(scratch.messages[p]));
            problems->elements[problems->count++] = i + 1;
        }
    }
    pd_strbuf_append_char(&array, '}');
    *out = pd_strbuf_text(&array);
    return is_ok;
}

bool
pd_query_value_read(PdArena *arena, const PdField *field, const PdValueInput *input, PdValueParam *out,
                    PdValueProblems *problems)
{
    Reader reader = {arena, field, input, problems};
    out->is_set = true;
    out->text = NULL;
    if (input->shape == PD_VALUE_NULL)
        return field->is_nullable && field->kind != PD_FIELD_MANY_TO_MANY
                   ? true
                   : fail(&reader, "This field may not be null.");
    const char *text = NULL;
    bool is_read = field->is_array           ? read_array(&reader, &text)
                   : field->choice_count > 0 ? read_choice(&reader, &text)
                                             : read_scalar(&reader, &text);
    if (is_read && text == NULL) /* a reader's text did not fit in the arena */
        return fail(&reader, "Out of memory.");
    if (!is_read || !apply_checks(&reader, text))
        return false;
    out->text = text;
    return true;
}

bool
pd_query_values_params(PdArena *arena, const PdValues *values, PdValidateMode mode, PdValueParam **params,
                       PdError *err)
{
    const PdModel *model = values->model;
    PdValueParam *out = pd_arena_calloc(arena, model->field_count > 0 ? model->field_count : 1, sizeof(*out));
    if (out == NULL)
        return pd_arena_error(arena, err);
    bool is_ok = true;
    for (size_t i = 0; i < model->field_count; i++)
    {
        const PdField *field = &model->fields[i];
        PdValueProblems problems = {0};
        if (values->inputs[i].shape == PD_VALUE_UNSET)
        {
            if (mode != PD_VALIDATE_PARTIAL && !pd_query_field_is_optional(field))
                is_ok = pd_error_add_problem(err, NULL, 0, 0, field->name, "This field is required.");
            continue;
        }
        if (pd_query_value_read(arena, field, &values->inputs[i], &out[i], &problems))
            continue;
        for (size_t p = 0; p < problems.count; p++)
        {
            /* an element's problem goes under "<field>.<index>", which the REST layer nests as DRF does */
            char name[64];
            if (problems.elements[p] > 0)
                snprintf(name, sizeof(name), "%s.%zu", field->name, problems.elements[p] - 1);
            pd_error_add_problem(err, NULL, 0, 0, problems.elements[p] > 0 ? name : field->name, "%s",
                                 problems.messages[p]);
        }
        is_ok = false;
    }
    if (is_ok && pd_arena_failed(arena))
        return pd_arena_error(arena, err);
    if (is_ok)
        *params = out;
    return is_ok;
}

bool
pd_values_validate(const PdValues *values, PdValidateMode mode, PdError *err)
{
    PdArena *scratch = pd_arena_new_child(values->arena, 0);
    if (scratch == NULL)
        return pd_arena_error(values->arena, err);
    PdValueParam *params = NULL;
    bool is_ok = pd_query_values_params(scratch, values, mode, &params, err);
    pd_arena_free(scratch);
    return is_ok;
}
