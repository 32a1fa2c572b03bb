/*
 * validate.c - reading and judging one field's input as Django REST
 * Framework's ModelSerializer field of that kind would (its to_internal_value,
 * then its validators), with DRF's own messages, and producing the text the
 * statement's parameter carries. The shapes of dates, addresses, uuids and
 * the like are the model's (pd_model_check_value), so what is accepted here
 * is what the column takes; the words are DRF's. Decimal digits are counted
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

/* text without surrounding white space, in the arena (DRF's trim_whitespace, str.strip()). */
static const char *
trimmed(PdArena *arena, const char *text)
{
    while (is_space(*text))
        text++;
    size_t length = strlen(text);
    while (length > 0 && is_space(text[length - 1]))
        length--;
    return pd_arena_strndup(arena, text, length);
}

static size_t
utf8_count(const char *text)
{
    size_t count = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++)
        count += (*p & 0xC0) != 0x80;
    return count;
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
    const char *text = trimmed(reader->arena, input->text);
    if (text[0] == '\0')
        return allows_blank(field) ? (*out = text, true) : fail(reader, "This field may not be blank.");
    bool is_ok = true;
    if (field->max_length > 0 && utf8_count(text) > (size_t)field->max_length)
        is_ok = fail(reader, "Ensure this field has no more than %d characters.", field->max_length);
    if (formats[field->kind] != NULL && !has_shape(field, text))
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
    if (input->shape != PD_VALUE_STRING && input->shape != PD_VALUE_NUMBER)
        return fail(reader, "%s", invalid), NULL;
    if (strlen(input->text) > MAX_NUMBER_STRING)
        return fail(reader, "String value too large."), NULL;
    return trimmed(reader->arena, input->text);
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
    errno = 0;
    double number = strtod(text, &end);
    if (text[0] == '\0' || *end != '\0' || strncmp(text, "0x", 2) == 0 || strncmp(text, "0X", 2) == 0)
        return fail(reader, "A valid number is required.");
    if (!isfinite(number) && errno == ERANGE)
        return fail(reader, "A valid number is required.");
    *out = text;
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
    if (!parse_decimal(text, &digits))
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
    if (input->shape == PD_VALUE_BOOL || input->shape == PD_VALUE_STRING || input->shape == PD_VALUE_NUMBER)
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
        input->shape == PD_VALUE_STRING || (input->shape == PD_VALUE_NUMBER && kind == PD_FIELD_DURATION);
    const char *text = is_text ? input->text : "";
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

static bool
read_json(Reader *reader, const char **out)
{
    const PdValueInput *input = reader->input;
    if (input->shape == PD_VALUE_STRING)
    {
        json_error_t error;
        json_t *value = json_loads(input->text, JSON_DECODE_ANY, &error);
        if (value == NULL)
            return fail(reader, "Value must be valid JSON.");
        json_decref(value);
    }
    else if (input->shape == PD_VALUE_KEYS)
        return fail(reader, "Value must be valid JSON.");
    *out = input->text;
    return true;
}

static bool
read_formed(Reader *reader, const char **out, const char *message)
{
    const PdValueInput *input = reader->input;
    if (input->shape != PD_VALUE_STRING || !has_shape(reader->field, input->text))
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
    if (!is_usable)
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
            return read_formed(reader, out, "Must be a valid UUID.");
        case PD_FAMILY_BINARY:
            return read_formed(reader, out, "Incorrect format. Expected a base64 string.");
        case PD_FAMILY_RELATION:
            break;
    }
    if (field->kind == PD_FIELD_MANY_TO_MANY)
        return read_keys(reader, out);
    return read_key(reader, reader->input, out);
}

/* ---- validators after reading ---- */

/* DRF's ChoiceField: the input's text must be one of the choices' values. */
static bool
read_choice(Reader *reader, const char **out)
{
    const PdValueInput *input = reader->input;
    const char *text =
        input->shape == PD_VALUE_BOOL ? (input->text[0] == 't' ? "True" : "False") : input->text;
    if (input->shape == PD_VALUE_STRING || input->shape == PD_VALUE_NUMBER || input->shape == PD_VALUE_BOOL)
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
    bool is_read = field->choice_count > 0 ? read_choice(&reader, &text) : read_scalar(&reader, &text);
    if (!is_read || !apply_checks(&reader, text))
        return false;
    if (text == NULL)
        return fail(&reader, "Out of memory.");
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
            pd_error_add_problem(err, NULL, 0, 0, field->name, "%s", problems.messages[p]);
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
