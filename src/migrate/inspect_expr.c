/*
 * inspect_expr.c - a condition as PostgreSQL deparses it (a CHECK's
 * definition, an index's WHERE) written in the model language's expression
 * grammar, for inspectdb: "((ends > starts) OR (ends IS NULL))" becomes
 * "(ends > starts) or (ends is null)". Only what that grammar has is read:
 * columns, numbers, strings, true/false/null, the six comparisons, IS [NOT]
 * NULL, NOT, AND, OR and parentheses; the casts the deparser adds
 * ("(status)::text", "(0)::numeric", "'2024-01-01'::date") are dropped, a
 * string cast to a number becomes the number. Anything else (functions,
 * arithmetic, LIKE, ANY, E'' strings) refuses. The text is only a candidate:
 * the model parser checks it against the fields, and inspect_verify.c keeps
 * it only when the migration made from it deparses to the same definition,
 * so dropping a cast here can never make a near miss. Pure code.
 */
#include <ctype.h>
#include <string.h>

#include "inspect.h"
#include "prodata/strbuf.h"

typedef enum
{
    TOKEN_OPEN,
    TOKEN_CLOSE,
    TOKEN_WORD,   /* a column or a keyword, lower case */
    TOKEN_NUMBER, /* digits, a point, a sign */
    TOKEN_STRING, /* its value, unquoted */
    TOKEN_OPERATOR
} TokenKind;

typedef struct Token
{
    TokenKind kind;
    const char *text;
    bool is_numeric_cast; /* a ::type of a number followed it */
} Token;

typedef struct Lexer
{
    PdArena *arena;
    const char *p;
    Token *tokens;
    size_t count;
} Lexer;

static const char *const multiword_types[] = {
    "character varying",   "timestamp with time zone", "timestamp without time zone",
    "time with time zone", "time without time zone",   "double precision",
    "bit varying"};

static const char *const numeric_types[] = {"integer", "bigint",           "smallint",
                                            "numeric", "double precision", "real"};

static bool
starts_word(const char *p, const char *word)
{
    size_t length = strlen(word);
    return strncmp(p, word, length) == 0 && !isalnum((unsigned char)p[length]) && p[length] != '_';
}

/* Skips "::type" (a multi-word name, numbers in parentheses, []); whether the type is a number's. */
static bool
skip_cast(Lexer *lexer, bool *is_numeric)
{
    const char *p = lexer->p + 2;
    const char *name = p;
    size_t length = 0;
    for (size_t i = 0; i < sizeof(multiword_types) / sizeof(multiword_types[0]) && length == 0; i++)
        if (starts_word(p, multiword_types[i]))
            length = strlen(multiword_types[i]);
    if (length == 0)
        length = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
    if (length == 0)
        return false;
    *is_numeric = false;
    for (size_t i = 0; i < sizeof(numeric_types) / sizeof(numeric_types[0]); i++)
        *is_numeric = *is_numeric ||
                      (strlen(numeric_types[i]) == length && strncmp(name, numeric_types[i], length) == 0);
    p += length;
    if (*p == '(') /* (n) or (p,s): exactly one closing parenthesis */
    {
        size_t numbers = strspn(p + 1, "0123456789,");
        if (p[1 + numbers] != ')')
            return false;
        p += numbers + 2;
    }
    if (strncmp(p, "[]", 2) == 0)
        p += 2;
    lexer->p = p;
    return true;
}

/* A token; an unquoted word in lower case (the deparser prints keywords in upper case, columns quoted
 * unless they are lower case). */
static bool
add_token(Lexer *lexer, TokenKind kind, const char *start, size_t length, bool is_folded)
{
    lexer->tokens = pd_arena_reserve_next(lexer->arena, lexer->tokens, lexer->count, sizeof(Token));
    if (lexer->tokens == NULL)
        return false;
    char *text = pd_arena_strndup(lexer->arena, start, length);
    for (char *c = text; c != NULL && *c != '\0' && is_folded; c++)
        *c = (char)tolower((unsigned char)*c);
    lexer->tokens[lexer->count++] = (Token){kind, text, false};
    return text != NULL;
}

/* A string '...' ('' inside) as its value; an identifier "..." as its name. */
static bool
read_quoted_token(Lexer *lexer, char quote, TokenKind kind)
{
    PdStrbuf buf;
    pd_strbuf_init(&buf, lexer->arena);
    for (const char *c = lexer->p + 1; *c != '\0'; c++)
    {
        if (*c == quote && c[1] == quote)
            pd_strbuf_append_char(&buf, *c++);
        else if (*c == quote)
        {
            lexer->p = c + 1;
            const char *text = pd_strbuf_text(&buf);
            return text != NULL && add_token(lexer, kind, text, strlen(text), false);
        }
        else
            pd_strbuf_append_char(&buf, *c);
    }
    return false;
}

static bool
read_operator(Lexer *lexer)
{
    static const char *const operators[] = {"<=", ">=", "<>", "=", "<", ">"};
    for (size_t i = 0; i < sizeof(operators) / sizeof(operators[0]); i++)
        if (strncmp(lexer->p, operators[i], strlen(operators[i])) == 0 &&
            strchr("<>=~!@#%^&|`?+-*/", lexer->p[strlen(operators[i])]) == NULL)
        {
            lexer->p += strlen(operators[i]);
            return add_token(lexer, TOKEN_OPERATOR, i == 2 ? "!=" : operators[i], strlen(operators[i]),
                             false);
        }
    return false;
}

static bool
read_token(Lexer *lexer)
{
    const char *p = lexer->p;
    if (*p == '(' || *p == ')')
        return lexer->p++, add_token(lexer, *p == '(' ? TOKEN_OPEN : TOKEN_CLOSE, p, 1, false);
    if (*p == '\'')
        return read_quoted_token(lexer, '\'', TOKEN_STRING);
    if (*p == '"')
        return read_quoted_token(lexer, '"', TOKEN_WORD);
    if (isdigit((unsigned char)*p) || (*p == '-' && isdigit((unsigned char)p[1])))
    {
        size_t length = 1 + strspn(p + 1, "0123456789.");
        lexer->p += length;
        return add_token(lexer, TOKEN_NUMBER, p, length, false);
    }
    if (isalpha((unsigned char)*p) || *p == '_')
    {
        size_t length = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
        if (p[length] == '(')
            return false; /* a function call */
        lexer->p += length;
        return add_token(lexer, TOKEN_WORD, p, length, true);
    }
    return read_operator(lexer);
}

/* The tokens, casts dropped (a number's cast marked on the token before it), parentheses balanced. */
static bool
tokenize(Lexer *lexer)
{
    int depth = 0;
    while (*lexer->p != '\0' && depth >= 0)
    {
        if (*lexer->p == ' ')
            lexer->p++;
        else if (strncmp(lexer->p, "::", 2) == 0)
        {
            bool is_numeric;
            if (lexer->count == 0 || !skip_cast(lexer, &is_numeric))
                return false;
            lexer->tokens[lexer->count - 1].is_numeric_cast = is_numeric;
        }
        else if (!read_token(lexer))
            return false;
        else
            depth += lexer->tokens[lexer->count - 1].kind == TOKEN_OPEN    ? 1
                     : lexer->tokens[lexer->count - 1].kind == TOKEN_CLOSE ? -1
                                                                           : 0;
    }
    return depth == 0;
}

static bool
is_keyword(const char *word)
{
    static const char *const keywords[] = {"and", "or", "not", "is", "null", "true", "false"};
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
        if (strcmp(word, keywords[i]) == 0)
            return true;
    return false;
}

/* Appends one operand or keyword; a string cast to a number is that number. False when it cannot be said. */
static bool
append_token(PdStrbuf *buf, const Token *token)
{
    if (token->kind == TOKEN_STRING && token->is_numeric_cast)
    {
        const char *t = token->text + (token->text[0] == '-');
        if (*t == '\0' || strspn(t, "0123456789.") != strlen(t))
            return false;
        pd_strbuf_append(buf, token->text);
        return true;
    }
    if (token->kind == TOKEN_STRING)
    {
        pd_strbuf_append_char(buf, '"');
        for (const unsigned char *c = (const unsigned char *)token->text; *c != '\0'; c++)
            if (*c == '"' || *c == '\\')
                pd_strbuf_appendf(buf, "\\%c", *c);
            else if (*c < 0x20 || *c == 0x7f)
                return false;
            else
                pd_strbuf_append_char(buf, (char)*c);
        pd_strbuf_append_char(buf, '"');
        return true;
    }
    if (token->kind == TOKEN_WORD && !is_keyword(token->text) &&
        strspn(token->text, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(token->text))
        return false;
    pd_strbuf_append(buf, token->text);
    return true;
}

/* The tokens as the model language's words: casts folded into their operands, parentheses kept. */
static bool
model_words(PdArena *arena, const Token *t, size_t count, const char ***words, size_t *word_count)
{
    *words = pd_arena_calloc(arena, count + 1, sizeof(char *));
    *word_count = 0;
    if (*words == NULL)
        return false;
    for (size_t i = 0; i < count; i++)
    {
        Token token = t[i];
        /* "(x)" around one operand the deparser cast: the operand alone. */
        if (t[i].kind == TOKEN_OPEN && i + 2 < count && t[i + 2].kind == TOKEN_CLOSE &&
            t[i + 1].kind != TOKEN_OPEN && t[i + 1].kind != TOKEN_OPERATOR &&
            (t[i + 2].is_numeric_cast || (i + 3 < count && t[i + 3].kind == TOKEN_OPERATOR) ||
             (i > 0 && t[i - 1].kind == TOKEN_OPERATOR)))
        {
            token = t[i + 1];
            token.is_numeric_cast =
                token.is_numeric_cast || (t[i + 2].is_numeric_cast && token.kind == TOKEN_STRING);
            i += 2;
        }
        PdStrbuf buf;
        pd_strbuf_init(&buf, arena);
        if (!append_token(&buf, &token) || ((*words)[(*word_count)++] = pd_strbuf_text(&buf)) == NULL)
            return false;
    }
    return true;
}

/*
 * Drops the parentheses the meaning does not need: around what has no "and" or "or" of its own (a
 * comparison, an is null, a not, an operand: each binds tighter than both), and around the whole.
 */
static void
drop_parentheses(const char **words, size_t count)
{
    for (size_t open = 0; open < count; open++)
    {
        if (words[open] == NULL || strcmp(words[open], "(") != 0)
            continue;
        size_t close = open + 1;
        bool has_junction = false;
        for (int depth = 0; close < count; close++)
        {
            const char *w = words[close];
            if (w == NULL)
                continue;
            if (strcmp(w, "(") == 0)
                depth++;
            else if (strcmp(w, ")") == 0 && depth-- == 0)
                break;
            else if (depth == 0 && (strcmp(w, "and") == 0 || strcmp(w, "or") == 0))
                has_junction = true;
        }
        bool is_whole = true;
        for (size_t k = 0; k < count; k++)
            is_whole = is_whole && (k >= open || words[k] == NULL) && (k <= close || words[k] == NULL);
        if (close < count && (!has_junction || is_whole))
            words[open] = words[close] = NULL;
    }
}

bool
pd_inspect_read_condition(PdArena *arena, const char *sql, const char **text)
{
    Lexer lexer = {arena, sql, NULL, 0};
    const char **words;
    size_t count;
    if (!tokenize(&lexer) || lexer.count == 0 ||
        !model_words(arena, lexer.tokens, lexer.count, &words, &count))
        return false;
    drop_parentheses(words, count);
    PdStrbuf buf;
    pd_strbuf_init(&buf, arena);
    const char *previous = NULL;
    for (size_t i = 0; i < count; i++)
    {
        if (words[i] == NULL)
            continue;
        if (previous != NULL && strcmp(previous, "(") != 0 && strcmp(words[i], ")") != 0)
            pd_strbuf_append_char(&buf, ' ');
        pd_strbuf_append(&buf, words[i]);
        previous = words[i];
    }
    return (*text = pd_strbuf_text(&buf)) != NULL;
}
