/*
 * inspect_sql.c - PostgreSQL's deparsed definitions (format_type, pg_get_expr,
 * pg_get_constraintdef, pg_get_indexdef) read back in the model language's
 * terms, for inspectdb. The rule that makes its output exact: a default or a
 * check is accepted only when the SQL the planner writes for the value read
 * back (schema.c's spelling) is deparsed by PostgreSQL into exactly the text
 * found. So each reader extracts a candidate value, spells what PostgreSQL
 * would print for the planner's SQL of it (constants as get_const_expr prints
 * them: int4 bare unless negative, int8 and negative numbers quoted with their
 * type, numeric bare when it has a point and no sign; implicit casts where the
 * operators need them), and compares the two texts. Anything it does not know
 * is refused and left to a comment by the caller: never a near miss. Pure
 * code, no database.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inspect.h"
#include "prodata/strbuf.h"

/* ---- reading tokens ----------------------------------------------------- */

static bool
skip(const char **p, const char *text)
{
    size_t length = strlen(text);
    if (strncmp(*p, text, length) != 0)
        return false;
    *p += length;
    return true;
}

static bool
is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || c == '_';
}

static bool
is_ident_char(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}

/*
 * An identifier as quote_identifier() prints it: bare lower case, or "quoted" with "" inside. *name gets
 * it unquoted (arena), NULL on exhaustion; false when none is there.
 */
static bool
read_identifier(PdArena *arena, const char **p, const char **name)
{
    const char *start = *p;
    if (is_ident_start(*start))
    {
        const char *end = start;
        while (is_ident_char(*end))
            end++;
        *name = pd_arena_strndup(arena, start, (size_t)(end - start));
        *p = end;
        return true;
    }
    if (*start != '"')
        return false;
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    for (const char *c = start + 1; *c != '\0'; c++)
    {
        if (*c == '"' && c[1] == '"')
            pd_strbuf_append_char(&buf, *c++);
        else if (*c == '"')
        {
            *name = pd_strbuf_text(&buf);
            *p = c + 1;
            return true;
        }
        else
            pd_strbuf_append_char(&buf, *c);
    }
    return false;
}

/* A string literal '...' with '' inside, as simple_quote_literal() prints it (standard_conforming_strings
 * on): its value into *value (arena). */
static bool
read_quoted(PdArena *arena, const char **p, const char **value)
{
    const char *c = *p;
    if (*c != '\'')
        return false;
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    for (c++; *c != '\0'; c++)
    {
        if (*c == '\'' && c[1] == '\'')
            pd_strbuf_append_char(&buf, *c++);
        else if (*c == '\'')
        {
            *value = pd_strbuf_text(&buf);
            *p = c + 1;
            return *value != NULL;
        }
        else
            pd_strbuf_append_char(&buf, *c);
    }
    return false;
}

/* Appends value as simple_quote_literal() prints it. */
static void
append_quoted(PdStrbuf *buf, const char *value)
{
    pd_strbuf_append_char(buf, '\'');
    for (const char *c = value; *c != '\0'; c++)
    {
        if (*c == '\'')
            pd_strbuf_append_char(buf, '\'');
        pd_strbuf_append_char(buf, *c);
    }
    pd_strbuf_append_char(buf, '\'');
}

/* -?digits[.digits]: the numbers PostgreSQL prints (numeric_out never writes an exponent). */
static bool
is_printed_number(const char *text)
{
    const char *c = text;
    if (*c == '-')
        c++;
    if (!isdigit((unsigned char)*c))
        return false;
    while (isdigit((unsigned char)*c))
        c++;
    if (*c == '.')
    {
        c++;
        if (!isdigit((unsigned char)*c))
            return false;
        while (isdigit((unsigned char)*c))
            c++;
    }
    return *c == '\0';
}

/* ---- how PostgreSQL prints the planner's SQL of a value ---------------- */

typedef enum ConstType
{
    CONST_INT4,
    CONST_INT8,
    CONST_NUMERIC
} ConstType;

/*
 * The type PostgreSQL gives a number written bare (the planner writes numbers so, schema.c): an integer
 * that fits int4 is int4, else int8 when it fits, else numeric; one with a point is numeric.
 */
static ConstType
number_const_type(const char *text)
{
    if (strchr(text, '.') != NULL)
        return CONST_NUMERIC;
    errno = 0;
    char *end;
    long long value = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return CONST_NUMERIC;
    if (value >= INT32_MIN && value <= INT32_MAX)
        return CONST_INT4;
    return CONST_INT8;
}

/* How get_const_expr() prints that constant. */
static void
append_number_const(PdStrbuf *buf, const char *text, ConstType type)
{
    bool is_negative = text[0] == '-';
    switch (type)
    {
        case CONST_INT4:
            pd_strbuf_appendf(buf, is_negative ? "'%s'::integer" : "%s", text);
            break;
        case CONST_INT8:
            pd_strbuf_appendf(buf, "'%s'::bigint", text);
            break;
        case CONST_NUMERIC:
            pd_strbuf_appendf(buf, !is_negative && strchr(text, '.') != NULL ? "%s" : "'%s'::numeric", text);
            break;
    }
}

static PdKindFamily
family_of(const PdField *field)
{
    return pd_kind_info(field->kind)->family;
}

/* What pg_get_expr() prints for the planner's DEFAULT of literal in field's column. */
static const char *
default_as_printed(PdArena *arena, const PdField *field, const PdLiteral *literal)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    if (literal->kind == PD_LITERAL_NUMBER)
        append_number_const(&buf, literal->text, number_const_type(literal->text));
    else if (literal->kind == PD_LITERAL_BOOL)
        pd_strbuf_append(&buf, literal->text);
    else if (family_of(field) == PD_FAMILY_BINARY)
    {
        pd_strbuf_append(&buf, "decode(");
        append_quoted(&buf, literal->text);
        pd_strbuf_append(&buf, "::text, 'base64'::text)");
    }
    else
    {
        append_quoted(&buf, literal->text);
        pd_strbuf_appendf(&buf, "::%s", pd_kind_info(field->kind)->sql_type);
    }
    return pd_strbuf_text(&buf);
}

/*
 * The value a printed default or check operand holds, as the model writes it: a number (the digits of
 * 0, '-5'::integer, (0)::numeric), a boolean, or the text of the first quoted string. Its kind follows the
 * field's family. False when none is there.
 */
static bool
candidate_value(PdArena *arena, const PdField *field, const char *printed, PdLiteral *literal)
{
    PdKindFamily family = family_of(field);
    if (family == PD_FAMILY_INTEGER || family == PD_FAMILY_NUMERIC)
    {
        const char *start = printed + strspn(printed, "('");
        size_t length = strspn(start, "-0123456789.");
        literal->kind = PD_LITERAL_NUMBER;
        literal->text = pd_arena_strndup(arena, start, length);
        return literal->text != NULL && is_printed_number(literal->text);
    }
    if (family == PD_FAMILY_BOOLEAN)
    {
        literal->kind = PD_LITERAL_BOOL;
        literal->text = printed;
        return strcmp(printed, "true") == 0 || strcmp(printed, "false") == 0;
    }
    const char *quote = strchr(printed, '\'');
    literal->kind = PD_LITERAL_STRING;
    return quote != NULL && read_quoted(arena, &quote, &literal->text);
}

bool
pd_inspect_read_default(PdArena *arena, const PdField *field, const char *sql, PdDefault *value,
                        bool *is_current_timestamp)
{
    *is_current_timestamp = false;
    const char *now_sql = pd_kind_info(field->kind)->now_sql;
    if (now_sql != NULL && strcmp(sql, now_sql) == 0)
    {
        *value = (PdDefault){.kind = PD_DEFAULT_NOW};
        return true;
    }
    if (field->kind == PD_FIELD_TIMESTAMPTZ && strcmp(sql, "CURRENT_TIMESTAMP") == 0)
    {
        *value = (PdDefault){.kind = PD_DEFAULT_NOW};
        *is_current_timestamp = true;
        return true;
    }
    if (field->kind == PD_FIELD_UUID && strcmp(sql, "gen_random_uuid()") == 0)
    {
        *value = (PdDefault){.kind = PD_DEFAULT_UUID};
        return true;
    }
    if (field->is_array) /* only the empty array, '{}'::integer[], reads back; any other is a comment */
    {
        PdColumnType type = {.kind = field->kind};
        const char *base = pd_kind_column_sql(arena, &type);
        bool is_empty =
            base != NULL &&
            (strcmp(sql, pd_arena_sprintf(arena, "'{}'::%s[]", base)) == 0 ||
             strcmp(sql, pd_model_column_type(arena, field) != NULL
                             ? pd_arena_sprintf(arena, "'{}'::%s", pd_model_column_type(arena, field))
                             : "") == 0);
        if (is_empty)
            *value =
                (PdDefault){.kind = PD_DEFAULT_LITERAL, .literal = {.kind = PD_LITERAL_ARRAY, .text = "[]"}};
        return is_empty;
    }
    PdLiteral literal;
    PdError ignored;
    if (!candidate_value(arena, field, sql, &literal) || !pd_model_check_value(field, &literal, &ignored))
        return false;
    const char *printed = default_as_printed(arena, field, &literal);
    if (printed == NULL || strcmp(printed, sql) != 0)
        return false;
    *value = (PdDefault){.kind = PD_DEFAULT_LITERAL, .literal = literal};
    return true;
}

bool
pd_inspect_is_nextval(const char *sql, const char *sequence)
{
    const char *p = sql;
    return skip(&p, "nextval('") && skip(&p, sequence) && strcmp(p, "'::regclass)") == 0;
}

bool
pd_inspect_read_auto_now(PdArena *arena, const char *definition, const char ***columns, size_t *count)
{
    static const char head[] = "CREATE TRIGGER prodata_auto_now BEFORE UPDATE ON ";
    static const char row[] = " FOR EACH ROW EXECUTE FUNCTION ";
    static const char function[] = "prodata_auto_now(";
    const char *p = definition;
    if (!skip(&p, head) || (p = strstr(p, row)) == NULL)
        return false;
    p += strlen(row);
    const char *schema;
    if (!skip(&p, function) && !(read_identifier(arena, &p, &schema) && skip(&p, ".") && skip(&p, function)))
        return false;
    *columns = NULL;
    *count = 0;
    while (*p == '\'')
    {
        const char *column;
        if (!read_quoted(arena, &p, &column) ||
            (*columns = pd_arena_reserve_next(arena, *columns, *count, sizeof(char *))) == NULL)
            return false;
        (*columns)[(*count)++] = column;
        if (!skip(&p, ", "))
            break;
    }
    return *count > 0 && strcmp(p, ")") == 0;
}

/* ---- checks -------------------------------------------------------------- */

static const struct
{
    const char *sql;
    PdCheckOp op;
} check_ops[] = {{">=", PD_CHECK_GE}, {"<=", PD_CHECK_LE}, {"<>", PD_CHECK_NE},
                 {"=", PD_CHECK_EQ},  {"<", PD_CHECK_LT},  {">", PD_CHECK_GT}};

static const char *
check_op_sql(PdCheckOp op)
{
    for (size_t i = 0; i < sizeof(check_ops) / sizeof(check_ops[0]); i++)
        if (check_ops[i].op == op)
            return check_ops[i].sql;
    return "=";
}

/* What pg_get_constraintdef() prints for the planner's CHECK of a literal; NULL when the planner's
 * comparison would not be of that shape. column is the identifier as printed. */
static const char *
check_as_printed(PdArena *arena, const PdField *field, const char *column, PdCheckOp op,
                 const PdLiteral *literal)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    bool is_string_column = field->kind == PD_FIELD_STRING;
    pd_strbuf_appendf(&buf, is_string_column ? "CHECK (((%s)::text %s " : "CHECK ((%s %s ", column,
                      check_op_sql(op));
    if (literal->kind == PD_LITERAL_NUMBER)
    {
        ConstType type = number_const_type(literal->text);
        PdKindFamily family = family_of(field);
        bool is_cast =
            field->kind == PD_FIELD_FLOAT || (field->kind == PD_FIELD_DECIMAL && type != CONST_NUMERIC);
        if (family == PD_FAMILY_INTEGER && type == CONST_NUMERIC)
            return NULL;
        if (is_cast)
            pd_strbuf_append_char(&buf, '(');
        append_number_const(&buf, literal->text, type);
        if (is_cast)
            pd_strbuf_append(&buf, field->kind == PD_FIELD_FLOAT ? ")::double precision" : ")::numeric");
    }
    else
    {
        append_quoted(&buf, literal->text);
        pd_strbuf_appendf(&buf, "::%s",
                          family_of(field) == PD_FAMILY_TEXT ? "text" : pd_kind_info(field->kind)->sql_type);
    }
    pd_strbuf_append(&buf, "))");
    return pd_strbuf_text(&buf);
}

/* The column of a check as printed: "col", "\"order\"", or "(col)::text" for a varchar; *column gets the
 * identifier as printed, *name unquoted. */
static bool
read_check_column(PdArena *arena, const char **p, bool is_string_column, const char **column,
                  const char **name)
{
    bool is_cast = is_string_column && skip(p, "(");
    const char *start = *p;
    if (!read_identifier(arena, p, name) || *name == NULL)
        return false;
    *column = pd_arena_strndup(arena, start, (size_t)(*p - start));
    return *column != NULL && (!is_cast || skip(p, ")::text"));
}

bool
pd_inspect_read_check(PdArena *arena, const PdField *field, const char *column, const char *definition,
                      PdCheck *check)
{
    PdKindFamily family = family_of(field);
    if (family != PD_FAMILY_INTEGER && family != PD_FAMILY_NUMERIC && family != PD_FAMILY_TEXT &&
        family != PD_FAMILY_TEMPORAL)
        return false;
    const char *p = definition, *printed_column, *name;
    if (!skip(&p, "CHECK (("))
        return false;
    /* IS [NOT] NULL compares the column bare, whatever its type. */
    const char *bare = p;
    if (read_identifier(arena, &bare, &name) && name != NULL && strcmp(name, column) == 0)
    {
        bool is_null = strcmp(bare, " IS NULL))") == 0;
        if (is_null || strcmp(bare, " IS NOT NULL))") == 0)
        {
            *check = (PdCheck){.op = is_null ? PD_CHECK_EQ : PD_CHECK_NE, .value = {PD_LITERAL_NULL, "null"}};
            return true;
        }
    }
    if (!read_check_column(arena, &p, field->kind == PD_FIELD_STRING, &printed_column, &name) ||
        strcmp(name, column) != 0 || !skip(&p, " "))
        return false;
    for (size_t i = 0; i < sizeof(check_ops) / sizeof(check_ops[0]); i++)
    {
        const char *operand = p;
        if (!skip(&operand, check_ops[i].sql) || !skip(&operand, " "))
            continue;
        PdLiteral literal;
        PdError ignored;
        if (!candidate_value(arena, field, operand, &literal) || literal.kind == PD_LITERAL_BOOL ||
            !pd_model_check_value(field, &literal, &ignored))
            return false;
        const char *printed = check_as_printed(arena, field, printed_column, check_ops[i].op, &literal);
        if (printed == NULL || strcmp(printed, definition) != 0)
            return false;
        *check = (PdCheck){.op = check_ops[i].op, .value = literal};
        return true;
    }
    return false;
}

/* ---- keys and indexes ----------------------------------------------------- */

/* "a, b, c)" up to and past the ")": identifiers only. */
static bool
skip_identifier_list(const char **p)
{
    PdArena *scratch = pd_arena_new(0);
    const char *name;
    bool is_list = scratch != NULL;
    while (is_list)
    {
        is_list = read_identifier(scratch, p, &name);
        if (!is_list || skip(p, ")"))
            break;
        is_list = skip(p, ", ");
    }
    pd_arena_free(scratch);
    return is_list;
}

bool
pd_inspect_is_plain_key(const char *definition, bool is_primary)
{
    const char *p = definition;
    return skip(&p, is_primary ? "PRIMARY KEY (" : "UNIQUE (") && skip_identifier_list(&p) && *p == '\0';
}

static const struct
{
    const char *sql;
    PdOnDelete on_delete;
} delete_actions[] = {{" ON DELETE CASCADE", PD_ON_DELETE_CASCADE},
                      {" ON DELETE RESTRICT", PD_ON_DELETE_RESTRICT},
                      {" ON DELETE SET NULL", PD_ON_DELETE_SET_NULL},
                      {" ON DELETE SET DEFAULT", PD_ON_DELETE_SET_DEFAULT}};

/* After the referenced column: ON DELETE and DEFERRABLE INITIALLY DEFERRED, nothing else. */
static bool
read_foreign_key_tail(const char *p, PdOnDelete *on_delete, bool *is_deferrable, const char **reason)
{
    *on_delete = PD_ON_DELETE_PROTECT; /* NO ACTION is not printed */
    if (strncmp(p, " MATCH ", 7) == 0)
        return *reason = "MATCH FULL", false;
    if (strncmp(p, " ON UPDATE ", 11) == 0)
        return *reason = "an ON UPDATE action", false;
    for (size_t i = 0; i < sizeof(delete_actions) / sizeof(delete_actions[0]); i++)
        if (skip(&p, delete_actions[i].sql))
        {
            *on_delete = delete_actions[i].on_delete;
            break;
        }
    if (strncmp(p, " (", 2) == 0)
        return *reason = "an ON DELETE action on some columns only", false;
    *is_deferrable = skip(&p, " DEFERRABLE INITIALLY DEFERRED");
    if (!*is_deferrable && strncmp(p, " DEFERRABLE", 11) == 0)
        return *reason = "DEFERRABLE INITIALLY IMMEDIATE (the language has deferrable, initially deferred)",
               false;
    if (strcmp(p, " NOT VALID") == 0)
        return *reason = "NOT VALID", false;
    return *p == '\0' || (*reason = "an option the language has not", false);
}

bool
pd_inspect_read_foreign_key(const char *definition, PdOnDelete *on_delete, bool *is_deferrable,
                            const char **reason)
{
    PdArena *scratch = pd_arena_new(0);
    if (scratch == NULL)
        return *reason = "out of memory", false;
    const char *p = definition, *name;
    bool is_read = skip(&p, "FOREIGN KEY (") && read_identifier(scratch, &p, &name) &&
                   skip(&p, ") REFERENCES ") && read_identifier(scratch, &p, &name);
    if (is_read && skip(&p, "."))
        is_read = read_identifier(scratch, &p, &name);
    is_read = is_read && skip(&p, "(") && read_identifier(scratch, &p, &name) && skip(&p, ")");
    pd_arena_free(scratch);
    if (!is_read)
        return *reason = "a key of several columns", false;
    return read_foreign_key_tail(p, on_delete, is_deferrable, reason);
}

/* The words get_rule_expr may print after an index column other than an operator class. */
static bool
is_ordering_word(const char *word)
{
    return strcmp(word, "ASC") == 0 || strcmp(word, "DESC") == 0 || strcmp(word, "NULLS") == 0 ||
           strcmp(word, "COLLATE") == 0;
}

/*
 * lower(column) or upper(column), as the deparser prints the planner's: "lower(email)" on text,
 * "lower((email)::text)" on varchar. *function gets "lower" or "upper"; false for any other expression.
 */
static bool
read_index_function(PdArena *arena, const char **p, const char **column, const char **function)
{
    *function = skip(p, "lower(") ? "lower" : skip(p, "upper(") ? "upper" : NULL;
    if (*function == NULL)
        return false;
    if (skip(p, "("))
        return read_identifier(arena, p, column) && skip(p, ")::text)");
    return read_identifier(arena, p, column) && skip(p, ")");
}

/* One column of an index: "name", "lower(name)" or either with " opclass", then ", " or ")". */
static bool
read_index_column(PdArena *arena, const char **p, const char **column, const char **function,
                  const char **opclass, const char **reason)
{
    *opclass = NULL;
    *function = NULL;
    const char *column_start = *p;
    if (**p == '(' || !read_identifier(arena, p, column))
        return *reason = "an expression index", false;
    if (**p == '(' && (*p = column_start, !read_index_function(arena, p, column, function)))
        return *reason = "an expression index", false;
    if (skip(p, " "))
    {
        const char *start = *p;
        while (**p != '\0' && **p != ' ' && **p != ',' && **p != ')')
            (*p)++;
        *opclass = pd_arena_strndup(arena, start, (size_t)(*p - start));
        if (*opclass == NULL)
            return *reason = "out of memory", false;
        if (is_ordering_word(*opclass))
            return *reason = "a column ordering or collation (DESC, NULLS, COLLATE)", false;
        /* A bare word: a quoted or schema-qualified class is not one the model can write. */
        bool is_word = is_ident_start(**opclass);
        for (const char *c = *opclass; *c != '\0'; c++)
            is_word = is_word && is_ident_char(*c) && *c != '$';
        if (!is_word)
            return *reason = "an operator class the language cannot name", false;
    }
    return true;
}

static const char *
index_tail_reason(const char *p)
{
    if (strncmp(p, " INCLUDE ", 9) == 0)
        return "INCLUDE columns";
    if (strncmp(p, " NULLS NOT DISTINCT", 19) == 0)
        return "NULLS NOT DISTINCT";
    if (strncmp(p, " WITH ", 6) == 0)
        return "storage parameters (WITH ...)";
    return "an option the language has not";
}

bool
pd_inspect_read_index(PdArena *arena, const char *definition, InspectIndexShape *shape, const char **reason)
{
    memset(shape, 0, sizeof(*shape));
    const char *p = definition, *name;
    shape->is_unique = skip(&p, "CREATE UNIQUE INDEX ");
    if (!shape->is_unique && !skip(&p, "CREATE INDEX "))
        return *reason = "an unknown definition", false;
    if (!read_identifier(arena, &p, &name) || !skip(&p, " ON "))
        return *reason = "an unknown definition", false;
    if (skip(&p, "ONLY "))
        return *reason = "an index of a partitioned table", false;
    if (!read_identifier(arena, &p, &name) || !skip(&p, ".") || !read_identifier(arena, &p, &name) ||
        !skip(&p, " USING "))
        return *reason = "an unknown definition", false;
    shape->is_gin = !shape->is_unique && skip(&p, "gin (");
    if (!shape->is_gin && !skip(&p, "btree ("))
        return *reason = "an index method other than btree", false;
    do
    {
        const char *column, *function, *opclass;
        if (!read_index_column(arena, &p, &column, &function, &opclass, reason))
            return false;
        shape->columns = pd_arena_reserve_next(arena, shape->columns, shape->column_count, sizeof(char *));
        shape->functions =
            pd_arena_reserve_next(arena, shape->functions, shape->column_count, sizeof(char *));
        shape->opclasses =
            pd_arena_reserve_next(arena, shape->opclasses, shape->column_count, sizeof(char *));
        if (shape->columns == NULL || shape->functions == NULL || shape->opclasses == NULL)
            return *reason = "out of memory", false;
        shape->columns[shape->column_count] = column;
        shape->functions[shape->column_count] = function;
        shape->opclasses[shape->column_count++] = opclass;
    } while (skip(&p, ", "));
    if (!skip(&p, ")"))
        return *reason = "an unknown definition", false;
    if (skip(&p, " WHERE "))
        shape->where = p;
    return shape->where != NULL || *p == '\0' || (*reason = index_tail_reason(p), false);
}

/* ---- types ----------------------------------------------------------------- */

/* "name(n)" or "name(p,s)" with the numbers in range; false otherwise. */
static bool
read_type_numbers(const char *sql, const PdKindInfo *info, PdColumnType *type)
{
    const char *p = sql;
    if (!skip(&p, info->sql_type) || !skip(&p, "("))
        return false;
    char *end;
    long first = strtol(p, &end, 10);
    if (end == p || !isdigit((unsigned char)*p))
        return false;
    p = end;
    if (info->numbers == PD_NUMBERS_LENGTH)
    {
        type->length = (int)first;
        return strcmp(p, ")") == 0 && first >= 1 && first <= info->max_length;
    }
    if (!skip(&p, ",") || !isdigit((unsigned char)*p))
        return false;
    long second = strtol(p, &end, 10);
    type->precision = (int)first;
    type->scale = (int)second;
    return strcmp(end, ")") == 0 && first >= 1 && first <= info->max_precision && second >= 0 &&
           second <= first;
}

bool
pd_inspect_column_type(const char *type_sql, PdColumnType *type)
{
    size_t length = strlen(type_sql);
    if (length > 2 &&
        strcmp(type_sql + length - 2, "[]") == 0) /* an array: of a scalar kind but json, binary */
    {
        char element[128];
        if (length - 2 >= sizeof(element))
            return false;
        memcpy(element, type_sql, length - 2);
        element[length - 2] = '\0';
        if (!pd_inspect_column_type(element, type) || type->is_array)
            return false;
        PdKindFamily family = pd_kind_info(type->kind)->family;
        type->is_array = true;
        return family != PD_FAMILY_JSON && family != PD_FAMILY_BINARY;
    }
    for (int kind = 0; kind < PD_FIELD_KIND_COUNT; kind++)
    {
        const PdKindInfo *info = pd_kind_info((PdFieldKind)kind);
        /* email, url and slug are varchar too: a column reads as string(n), which says no more than it. */
        if (!info->is_written || info->sql_type == NULL || info->numbers == PD_NUMBERS_OPTIONAL_LENGTH)
            continue;
        *type = (PdColumnType){(PdFieldKind)kind, 0, 0, 0};
        if (info->numbers == PD_NUMBERS_NONE ? strcmp(type_sql, info->sql_type) == 0
                                             : read_type_numbers(type_sql, info, type))
            return true;
    }
    return false;
}
