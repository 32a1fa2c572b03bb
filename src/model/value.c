/*
 * value.c - whether a literal is a valid value of a field: the rules behind
 * defaults, check(...) literals and choices in the model file, and behind
 * every value the REST layer accepts (pd_model_check_value). The rules follow
 * what PostgreSQL would accept for the column, and are stricter where
 * PostgreSQL would silently round or guess (decimal digits, dates) and where
 * the type promises a shape (email, url, slug). Ranges and families come from
 * the kind table (kind.c); the shape of each kind's text is here. Validation
 * only: nothing is converted or allocated, so it is safe from any thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "syntax.h"

/* "<found> is not a valid <kind>, expected <what>" */
static bool invalid(PdError *err, const PdField *field, const PdLiteral *value, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool
invalid(PdError *err, const PdField *field, const PdLiteral *value, const char *fmt, ...)
{
    char expected[160];
    va_list args;
    va_start(args, fmt);
    vsnprintf(expected, sizeof(expected), fmt, args);
    va_end(args);
    const char *kind = pd_model_kind_name(field->kind);
    switch (value->kind)
    {
        case PD_LITERAL_STRING:
            return pd_error_set(err, PD_ERR_INVALID_INPUT, "string \"%.60s\" is not a valid %s, expected %s",
                                value->text, kind, expected);
        case PD_LITERAL_NUMBER:
            return pd_error_set(err, PD_ERR_INVALID_INPUT, "number %.40s is not a valid %s, expected %s",
                                value->text, kind, expected);
        default:
            return pd_error_set(err, PD_ERR_INVALID_INPUT, "%s is not a valid %s, expected %s",
                                value->kind == PD_LITERAL_NULL ? "null" : value->text, kind, expected);
    }
}

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Exactly `count` digits as a number, moving *text on; -1 when they are not there. */
static int
read_fixed(const char **text, int count)
{
    int value = 0;
    for (int i = 0; i < count; i++)
    {
        if (!is_digit((*text)[i]))
            return -1;
        value = value * 10 + ((*text)[i] - '0');
    }
    *text += count;
    return value;
}

static bool
read_date(const char **text)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int year = read_fixed(text, 4);
    if (year < 1 || **text != '-')
        return false;
    (*text)++;
    int month = read_fixed(text, 2);
    if (month < 1 || month > 12 || **text != '-')
        return false;
    (*text)++;
    int day = read_fixed(text, 2);
    bool is_leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    int last = days[month - 1] + (month == 2 && is_leap ? 1 : 0);
    return day >= 1 && day <= last;
}

/* HH:MM[:SS[.ffffff]] */
static bool
read_time(const char **text)
{
    int hour = read_fixed(text, 2);
    if (hour < 0 || hour > 23 || **text != ':')
        return false;
    (*text)++;
    int minute = read_fixed(text, 2);
    if (minute < 0 || minute > 59)
        return false;
    if (**text != ':')
        return true;
    (*text)++;
    int second = read_fixed(text, 2);
    if (second < 0 || second > 59)
        return false;
    if (**text != '.')
        return true;
    (*text)++;
    int digits = 0;
    while (is_digit(**text))
    {
        (*text)++;
        digits++;
    }
    return digits >= 1 && digits <= 6;
}

/* Z, or +HH, +HH:MM, -HH:MM */
static bool
read_zone(const char **text)
{
    if (**text == 'Z')
    {
        (*text)++;
        return true;
    }
    if (**text != '+' && **text != '-')
        return false;
    (*text)++;
    int hour = read_fixed(text, 2);
    if (hour < 0 || hour > 15)
        return false;
    if (**text != ':')
        return true;
    (*text)++;
    int minute = read_fixed(text, 2);
    return minute >= 0 && minute <= 59;
}

static bool
is_timestamp(const char *text)
{
    if (!read_date(&text))
        return false;
    if (*text == '\0')
        return true;
    if (*text != 'T' && *text != ' ')
        return false;
    text++;
    if (!read_time(&text))
        return false;
    return *text == '\0' || (read_zone(&text) && *text == '\0');
}

/* ISO 8601: P[nY][nM][nW][nD][T[nH][nM][n[.n]S]] with at least one part. */
static bool
is_iso_duration(const char *text)
{
    if (*text++ != 'P')
        return false;
    bool in_time = false, has_part = false;
    while (*text != '\0')
    {
        if (*text == 'T' && !in_time)
        {
            in_time = true;
            text++;
            continue;
        }
        const char *start = text;
        while (is_digit(*text) || (*text == '.' && in_time))
            text++;
        if (text == start || *text == '\0')
            return false;
        const char *units = in_time ? "HMS" : "YMWD";
        if (strchr(units, *text) == NULL)
            return false;
        text++;
        has_part = true;
    }
    return has_part;
}

/* The unit's number (0 to 8) when word names one ("day" or "days"), else -1. */
static int
interval_unit(const char *word, size_t length)
{
    static const char *units[] = {"microsecond", "millisecond", "second", "minute", "hour",
                                  "day",         "week",        "month",  "year"};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
    {
        size_t unit_length = strlen(units[i]);
        if (strncmp(word, units[i], unit_length) == 0 &&
            (length == unit_length || (length == unit_length + 1 && word[unit_length] == 's')))
            return (int)i;
    }
    return -1;
}

/* A number as PostgreSQL reads it in an interval: digits with at most one '.', at least one digit. */
static bool
is_interval_number(const char *text, size_t length)
{
    size_t dots = 0, digits = 0;
    for (size_t i = 0; i < length; i++)
        text[i] == '.' ? dots++ : digits++;
    return digits > 0 && dots <= 1;
}

/* PostgreSQL's plain forms: "3 days", "1 year 2 months", "2 days 04:05:06", "-01:30:00", "3 04:05:06" (a
 * clock comes last). */
static bool
is_plain_duration(const char *text)
{
    bool has_part = false;
    unsigned seen_units = 0; /* PostgreSQL refuses a unit given twice ("1 day 2 days") */
    for (;;)
    {
        while (*text == ' ')
            text++;
        if (*text == '\0')
            return has_part;
        const char *p = text + (*text == '-' || *text == '+');
        size_t digits = strspn(p, "0123456789");
        if (digits >= 1 && digits <= 2 && p[digits] == ':' && strlen(p) < 24)
        {
            char padded[32];
            snprintf(padded, sizeof(padded), "%s%s", digits == 1 ? "0" : "", p);
            const char *clock = padded;
            return read_time(&clock) && *clock == '\0';
        }
        const char *number_text = p;
        size_t number = strspn(p, "0123456789.");
        if (!is_interval_number(p, number) || p[number] != ' ')
            return false;
        p += number;
        while (*p == ' ')
            p++;
        const char *word = p;
        while (*p >= 'a' && *p <= 'z')
            p++;
        /* A whole number right before a clock counts days: "3 01:02:03", as Django writes durations (the
         * REST layer's encoding, kind.h). */
        size_t clock_digits = strspn(word, "0123456789");
        bool is_days = p == word && strspn(number_text, "0123456789") == number && clock_digits >= 1 &&
                       clock_digits <= 2 && word[clock_digits] == ':';
        int unit = is_days ? interval_unit("days", 4) : interval_unit(word, (size_t)(p - word));
        if (unit < 0 || (seen_units & (1u << unit)) != 0 || (!is_days && *p != ' ' && *p != '\0'))
            return false;
        seen_units |= 1u << unit;
        has_part = true;
        text = p;
    }
}

static bool
is_uuid(const char *text)
{
    for (int i = 0; i < 36; i++)
    {
        bool is_dash = i == 8 || i == 13 || i == 18 || i == 23;
        char c = text[i];
        if (is_dash ? c != '-' : strchr("0123456789abcdefABCDEF", c) == NULL || c == '\0')
            return false;
    }
    return text[36] == '\0';
}

static bool
is_base64(const char *text)
{
    size_t length = strlen(text), padding = 0;
    if (length % 4 != 0)
        return false;
    for (size_t i = 0; i < length; i++)
    {
        char c = text[i];
        if (c == '=')
            padding++;
        else if (padding > 0 ||
                 !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '+' || c == '/'))
            return false;
    }
    return padding <= 2;
}

static bool
is_json(const char *text)
{
    json_error_t error;
    json_t *value = json_loads(text, JSON_DECODE_ANY, &error);
    if (value == NULL)
        return false;
    json_decref(value);
    return true;
}

/* One DNS label: 1-63 of [A-Za-z0-9-], not starting or ending with "-". */
static bool
is_label(const char *label, size_t length)
{
    if (length == 0 || length > 63 || label[0] == '-' || label[length - 1] == '-')
        return false;
    for (size_t i = 0; i < length; i++)
    {
        char c = label[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-'))
            return false;
    }
    return true;
}

/* Dot-separated labels; min_labels 2 for an email domain, 1 for a URL host (localhost). */
static bool
is_domain(const char *domain, size_t length, size_t min_labels)
{
    size_t labels = 0, start = 0;
    bool is_all_digits = true;
    for (size_t i = 0; i <= length; i++)
    {
        if (i < length && domain[i] != '.')
            continue;
        if (!is_label(domain + start, i - start))
            return false;
        is_all_digits = strspn(domain + start, "0123456789") >= i - start;
        labels++;
        start = i + 1;
    }
    /* The last label is a name, not a number (an IPv4 address is only a URL host, checked apart). */
    return labels >= min_labels && !is_all_digits;
}

static bool
is_email(const char *text)
{
    const char *at = strrchr(text, '@');
    size_t length = strlen(text);
    if (at == NULL || length > 254)
        return false;
    size_t local_length = (size_t)(at - text);
    if (local_length == 0 || local_length > 64 || text[0] == '.' || at[-1] == '.' ||
        strstr(text, "..") != NULL)
        return false;
    for (const char *p = text; p < at; p++)
    {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
              strchr("!#$%&'*+/=?^_`{|}~.-", c)))
            return false;
    }
    return is_domain(at + 1, strlen(at + 1), 2);
}

static bool
is_ipv4(const char *host, size_t length)
{
    int parts = 0;
    size_t i = 0;
    while (i < length)
    {
        size_t start = i;
        int value = 0;
        while (i < length && is_digit(host[i]) && i - start < 3)
            value = value * 10 + (host[i++] - '0');
        if (i == start || value > 255 || (i < length && host[i] != '.'))
            return false;
        parts++;
        if (i < length)
            i++;
        if (i == length && host[length - 1] == '.')
            return false;
    }
    return parts == 4;
}

/* http(s)://host[:port][/path][?query][#fragment]; ftp(s) likewise. */
static bool
is_url(const char *text)
{
    static const char *schemes[] = {"http://", "https://", "ftp://", "ftps://"};
    const char *rest = NULL;
    for (size_t i = 0; i < 4 && rest == NULL; i++)
        if (strncasecmp(text, schemes[i], strlen(schemes[i])) == 0)
            rest = text + strlen(schemes[i]);
    if (rest == NULL)
        return false;
    const char *bracket = rest[0] == '[' ? strchr(rest, ']') : NULL;
    size_t host_length = bracket != NULL ? (size_t)(bracket - rest) + 1 : strcspn(rest, ":/?#");
    const char *after = rest + host_length;
    bool is_host = (host_length > 2 && rest[0] == '[' && rest[host_length - 1] == ']' &&
                    strspn(rest + 1, "0123456789abcdefABCDEF:.") == host_length - 2) ||
                   is_ipv4(rest, host_length) || is_domain(rest, host_length, 1);
    if (!is_host)
        return false;
    if (*after == ':')
    {
        size_t digits = strspn(after + 1, "0123456789");
        if (digits == 0 || digits > 5 || atoi(after + 1) > 65535)
            return false;
        after += 1 + digits;
    }
    if (*after != '\0' && *after != '/' && *after != '?' && *after != '#')
        return false;
    for (const unsigned char *p = (const unsigned char *)after; *p != '\0'; p++)
        if (*p <= ' ' || *p == 0x7F)
            return false;
    return true;
}

static bool
is_slug(const char *text)
{
    return text[0] != '\0' &&
           strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == strlen(text);
}

static size_t
utf8_count(const char *text)
{
    size_t count = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++)
        if ((*p & 0xC0) != 0x80)
            count++;
    return count;
}

/*
 * Whether PostgreSQL takes the text as a double precision value. Like its
 * float8in: out of range when strtod overflows, or underflows all the way to
 * zero (1e-400, which strtod quietly turns into 0); subnormals are accepted.
 */
static bool
is_double_in_range(const char *text)
{
    errno = 0;
    double number = strtod(text, NULL);
    if (!isfinite(number))
        return false;
    return !(errno == ERANGE && number == 0.0);
}

static bool check_type(const PdField *field, const PdLiteral *value, bool check_format, PdError *err);

static bool
check_integer(const PdField *field, const PdLiteral *value, long long min, long long max, PdError *err)
{
    const char *text = value->text;
    bool is_whole = value->kind == PD_LITERAL_NUMBER &&
                    strspn(text + (text[0] == '-'), "0123456789") == strlen(text + (text[0] == '-'));
    errno = 0;
    long long number = is_whole ? strtoll(text, NULL, 10) : 0;
    if (!is_whole || errno == ERANGE || number < min || number > max)
        return invalid(err, field, value, "a whole number from %lld to %lld", min, max);
    return true;
}

/* digits before the point <= precision - scale, digits after <= scale, no exponent. */
static bool
check_decimal(const PdField *field, const PdLiteral *value, PdError *err)
{
    const char *text = value->text;
    if (value->kind == PD_LITERAL_NUMBER && strpbrk(text, "eE") == NULL)
    {
        const char *digits = text + (text[0] == '-');
        while (*digits == '0' && is_digit(digits[1]))
            digits++;
        size_t whole = strspn(digits, "0123456789");
        if (whole == 1 && digits[0] == '0')
            whole = 0;
        const char *point = strchr(text, '.');
        size_t fraction = point != NULL ? strlen(point + 1) : 0;
        if (whole <= (size_t)(field->precision - field->scale) && fraction <= (size_t)field->scale)
            return true;
    }
    return invalid(err, field, value, "a number with at most %d digits before the point and %d after",
                   field->precision - field->scale, field->scale);
}

/* The shapes of the text kinds that promise one, with what the error says is expected. */
static const struct
{
    bool (*is_valid)(const char *text);
    const char *expected;
} string_shapes[PD_FIELD_KIND_COUNT] = {
    [PD_FIELD_EMAIL] = {is_email, "an address such as \"ann@example.com\""},
    [PD_FIELD_URL] = {is_url, "an http(s) or ftp(s) URL such as \"https://example.com/\""},
    [PD_FIELD_SLUG] = {is_slug, "letters, digits, \"-\" and \"_\""},
};

static bool
check_string(const PdField *field, const PdLiteral *value, bool check_format, PdError *err)
{
    if (value->kind != PD_LITERAL_STRING)
        return invalid(err, field, value, "a string");
    if (!check_format)
        return true;
    bool (*is_valid)(const char *) = string_shapes[field->kind].is_valid;
    if (is_valid != NULL && !is_valid(value->text))
        return invalid(err, field, value, "%s", string_shapes[field->kind].expected);
    if (field->max_length > 0 && utf8_count(value->text) > (size_t)field->max_length)
        return invalid(err, field, value, "at most %d characters", field->max_length);
    return true;
}

static bool
is_date(const char *text)
{
    return read_date(&text) && *text == '\0';
}

static bool
is_time(const char *text)
{
    return read_time(&text) && *text == '\0';
}

static bool
is_duration(const char *text)
{
    return is_iso_duration(text) || is_plain_duration(text);
}

/*
 * An address as inet and cidr read it: IPv4 dotted (four parts) or IPv6, then
 * /prefix (0-32, 0-128) where given or required. cidr also refuses bits set
 * right of the prefix, as PostgreSQL does ("192.168.1.5/24" is an inet).
 */
static bool
is_network(const char *text, bool is_cidr)
{
    char address[64];
    const char *slash = strchr(text, '/');
    size_t length = slash != NULL ? (size_t)(slash - text) : strlen(text);
    if (length == 0 || length >= sizeof(address) || (is_cidr && slash == NULL))
        return false;
    memcpy(address, text, length);
    address[length] = '\0';
    unsigned char bytes[16];
    bool is_v6 = strchr(address, ':') != NULL;
    if (inet_pton(is_v6 ? AF_INET6 : AF_INET, address, bytes) != 1)
        return false;
    int bits = is_v6 ? 128 : 32, prefix = bits;
    if (slash != NULL)
    {
        const char *p = slash + 1;
        size_t digits = strspn(p, "0123456789");
        if (digits == 0 || digits > 3 || p[digits] != '\0' || (prefix = atoi(p)) > bits)
            return false;
    }
    for (int bit = prefix; is_cidr && bit < bits; bit++)
        if (bytes[bit / 8] & (0x80 >> (bit % 8)))
            return false;
    return true;
}

static bool
is_inet(const char *text)
{
    return is_network(text, false);
}

static bool
is_cidr(const char *text)
{
    return is_network(text, true);
}

/* The kinds whose values are strings of a given form (dates, times, durations, uuids, base64). */
static const struct
{
    bool (*is_valid)(const char *text);
    const char *expected;
} text_forms[PD_FIELD_KIND_COUNT] = {
    [PD_FIELD_DATE] = {is_date, "a date as \"YYYY-MM-DD\""},
    [PD_FIELD_TIME] = {is_time, "a time as \"HH:MM\", \"HH:MM:SS\" or \"HH:MM:SS.ffffff\""},
    [PD_FIELD_TIMESTAMPTZ] = {is_timestamp, "a time stamp as \"YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM]\""},
    [PD_FIELD_DURATION] = {is_duration, "an interval such as \"3 days\", \"01:30:00\" or \"P1DT2H\""},
    [PD_FIELD_UUID] = {is_uuid, "a uuid as \"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx\""},
    [PD_FIELD_BINARY] = {is_base64, "a base64 string"},
    [PD_FIELD_INET] = {is_inet, "an IPv4 or IPv6 address such as \"192.168.0.1\" or \"2001:db8::1/64\""},
    [PD_FIELD_CIDR] = {is_cidr, "a network such as \"10.0.0.0/8\" or \"2001:db8::/32\", no bits set right of "
                                "the prefix"},
};

static bool
check_text_form(const PdField *field, const PdLiteral *value, PdError *err)
{
    bool (*is_valid)(const char *) = text_forms[field->kind].is_valid;
    if (is_valid == NULL)
        return pd_error_set(err, PD_ERR_INTERNAL, "no value rule for field \"%s\" of kind %s", field->name,
                            pd_model_kind_name(field->kind));
    return (value->kind == PD_LITERAL_STRING && is_valid(value->text)) ||
           invalid(err, field, value, "%s", text_forms[field->kind].expected);
}

/* A key's value is a value of the target's primary key. */
static bool
check_relation(const PdField *field, const PdLiteral *value, bool check_format, PdError *err)
{
    if (field->kind == PD_FIELD_MANY_TO_MANY)
        return pd_error_set(err, PD_ERR_INVALID_INPUT,
                            "a single value for a many-to-many field, expected a list of keys, set "
                            "through its join table");
    const PdField *key = field->target != NULL ? pd_model_primary_key(field->target) : NULL;
    if (key == NULL)
        return pd_error_set(err, PD_ERR_INTERNAL, "relation \"%s\" is not resolved", field->name);
    return check_type(key, value, check_format, err);
}

static bool
check_type(const PdField *field, const PdLiteral *value, bool check_format, PdError *err)
{
    const PdKindInfo *info = pd_kind_info(field->kind);
    switch (info->family)
    {
        case PD_FAMILY_INTEGER:
            return check_integer(field, value, info->min_value, info->max_value, err);
        case PD_FAMILY_NUMERIC:
            if (info->numbers == PD_NUMBERS_PRECISION_SCALE)
                return check_decimal(field, value, err);
            if (value->kind != PD_LITERAL_NUMBER || !is_double_in_range(value->text))
                return invalid(err, field, value, "a number within double precision's range");
            return true;
        case PD_FAMILY_BOOLEAN:
            return value->kind == PD_LITERAL_BOOL || invalid(err, field, value, "true or false");
        case PD_FAMILY_TEXT:
            return check_string(field, value, check_format, err);
        case PD_FAMILY_RELATION:
            return check_relation(field, value, check_format, err);
        case PD_FAMILY_JSON:
            /* numbers and booleans are JSON as they stand; a string holds JSON text */
            return value->kind != PD_LITERAL_STRING || is_json(value->text) ||
                   invalid(err, field, value, "a string holding JSON text such as \"{}\"");
        case PD_FAMILY_TEMPORAL:
        case PD_FAMILY_UUID:
        case PD_FAMILY_BINARY:
        case PD_FAMILY_NETWORK:
            break;
    }
    return check_text_form(field, value, err);
}

static bool
is_same_value(const PdLiteral *a, const PdLiteral *b)
{
    if (a->kind != b->kind)
        return false;
    if (a->kind == PD_LITERAL_NUMBER)
        return strtod(a->text, NULL) == strtod(b->text, NULL);
    return strcmp(a->text, b->text) == 0;
}

static bool
check_choice(const PdField *field, const PdLiteral *value, PdError *err)
{
    char listed[128] = "";
    size_t used = 0;
    for (size_t i = 0; i < field->choice_count; i++)
    {
        if (is_same_value(&field->choices[i].value, value))
            return true;
        if (used < sizeof(listed))
            used += (size_t)snprintf(listed + used, sizeof(listed) - used, "%s%s", i > 0 ? ", " : "",
                                     field->choices[i].value.text);
    }
    if (used >= sizeof(listed))
        strcpy(listed + sizeof(listed) - 4, "...");
    const char *quote = value->kind == PD_LITERAL_STRING ? "\"" : "";
    return pd_error_set(err, PD_ERR_INVALID_INPUT,
                        "%s%.60s%s is not one of the choices of field \"%s\", expected one of %s", quote,
                        value->text, quote, field->name, listed);
}

/* An array field's value: an array literal whose every element is a value of the element type. */
static bool
check_array(const PdField *field, const PdLiteral *value, bool check_format, PdError *err)
{
    if (value->kind != PD_LITERAL_ARRAY)
        return pd_error_set(err, PD_ERR_INVALID_INPUT, "%s%.60s%s is not an array, expected [value, ...]",
                            value->kind == PD_LITERAL_STRING   ? "string \""
                            : value->kind == PD_LITERAL_NUMBER ? "number "
                                                               : "",
                            value->text, value->kind == PD_LITERAL_STRING ? "\"" : "");
    PdField element = *field;
    element.is_array = false;
    element.is_nullable = false;
    for (size_t i = 0; i < value->item_count; i++)
        if (!check_type(&element, &value->items[i], check_format, err))
        {
            PdError inner = *err;
            return pd_error_set(err, PD_ERR_INVALID_INPUT, "element %zu: %s", i + 1, inner.message);
        }
    return true;
}

bool
pd_model_check_literal(const PdField *field, const PdLiteral *value, bool check_choices, bool check_format,
                       PdError *err)
{
    if (value->kind == PD_LITERAL_NULL)
    {
        if (field->is_nullable)
            return true;
        return pd_error_set(err, PD_ERR_INVALID_INPUT,
                            "null for field \"%s\", expected a value (the field is not null)", field->name);
    }
    if (field->is_array)
        return check_array(field, value, check_format, err);
    if (value->kind == PD_LITERAL_ARRAY)
        return pd_error_set(err, PD_ERR_INVALID_INPUT,
                            "array %.60s for field \"%s\" that is not an array, expected a single value",
                            value->text, field->name);
    if (!check_type(field, value, check_format, err))
        return false;
    return !check_choices || field->choice_count == 0 || check_choice(field, value, err);
}

bool
pd_model_check_value(const PdField *field, const PdLiteral *value, PdError *err)
{
    return pd_model_check_literal(field, value, true, true, err);
}

/* Whether text reads as a number of the model language: -?digits[.digits][e[+-]digits]. */
static bool
is_number_text(const char *text)
{
    const char *c = text + (*text == '-');
    size_t digits = strspn(c, "0123456789");
    if (digits == 0)
        return false;
    c += digits;
    if (*c == '.')
    {
        digits = strspn(c + 1, "0123456789");
        if (digits == 0)
            return false;
        c += 1 + digits;
    }
    if (*c == 'e' || *c == 'E')
    {
        c += 1 + (c[1] == '+' || c[1] == '-');
        digits = strspn(c, "0123456789");
        if (digits == 0)
            return false;
        c += digits;
    }
    return *c == '\0';
}

bool
pd_model_literal_from_text(PdArena *arena, const PdField *field, const char *text, PdLiteral *out,
                           PdError *err)
{
    const PdField *typed = field;
    if ((field->kind == PD_FIELD_FOREIGN_KEY || field->kind == PD_FIELD_ONE_TO_ONE) && field->target != NULL)
        typed = pd_model_primary_key(field->target);
    PdKindFamily family = pd_kind_info(typed->kind)->family;
    bool is_bool = strcmp(text, "true") == 0 || strcmp(text, "false") == 0;
    PdLiteral value = {PD_LITERAL_STRING, pd_arena_strdup(arena, text)};
    if (value.text == NULL)
        return pd_arena_error(arena, err);
    /* A number only as the language writes one, so that the state it is recorded in parses again. */
    bool is_number_family =
        family == PD_FAMILY_INTEGER || family == PD_FAMILY_NUMERIC || family == PD_FAMILY_JSON;
    if (is_number_family && is_number_text(text))
        value.kind = PD_LITERAL_NUMBER;
    else if ((family == PD_FAMILY_BOOLEAN || family == PD_FAMILY_JSON) && is_bool)
        value.kind = PD_LITERAL_BOOL;
    if (!pd_model_check_literal(field, &value, true, true, err))
        return false;
    *out = value;
    return true;
}
