/*
 * lexer.c - turns model-language text into tokens, each with the line and
 * column where it starts (columns count characters, not bytes). Tokens are
 * made on demand into a ring of PD_LEXER_LOOKAHEAD entries, so the text is
 * read once and the parser can look two or three tokens ahead to tell a
 * directive from a field. Line ends matter in this language (one field per
 * line) and become NEWLINE tokens, except inside ( ) and [ ] so that long
 * choices lists may wrap. A lexical error becomes an ERROR token holding its
 * message and position, and lexing goes on at the next line, so that one bad
 * character does not hide the problems after it; errors come out in text
 * order because the parser meets the ERROR token when it reaches it. Only
 * memory running out ends lexing for good.
 */
#include "lexer.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* One positioned problem (problems[0] and the message "file:line:col: what"), so the parser can collect it
 * with others and an HTTP layer can read the position without parsing the text. */
bool
pd_model_error_at_va(PdError *err, PdSourcePos pos, const char *fmt, va_list args)
{
    char what[sizeof(err->problems[0].message)];
    vsnprintf(what, sizeof(what), fmt, args);
    pd_error_clear(err);
    return pd_error_add_problem(err, pos.file != NULL ? pos.file : "models", pos.line, pos.column, NULL, "%s",
                                what);
}

bool
pd_model_error_at(PdError *err, PdSourcePos pos, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    pd_model_error_at_va(err, pos, fmt, args);
    va_end(args);
    return false;
}

void
pd_model_lexer_init(PdLexer *lexer, PdArena *arena, const char *file, const char *text)
{
    memset(lexer, 0, sizeof(*lexer));
    lexer->arena = arena;
    lexer->file = file;
    lexer->cursor = text;
    lexer->line = 1;
    lexer->column = 1;
}

static PdSourcePos
here(const PdLexer *lexer)
{
    PdSourcePos pos = {lexer->file, lexer->line, lexer->column};
    return pos;
}

/* Moves one byte on; UTF-8 continuation bytes do not start a new column. */
static void
advance(PdLexer *lexer)
{
    unsigned char c = (unsigned char)*lexer->cursor;
    lexer->cursor++;
    if (c == '\n')
    {
        lexer->line++;
        lexer->column = 1;
    }
    else if ((c & 0xC0) != 0x80)
        lexer->column++;
}

static bool fail(PdLexer *lexer, PdSourcePos pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static bool
fail(PdLexer *lexer, PdSourcePos pos, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(lexer->problem, sizeof(lexer->problem), fmt, args);
    va_end(args);
    lexer->problem_pos = pos;
    return false;
}

static bool
fail_memory(PdLexer *lexer)
{
    lexer->failed = true;
    return pd_arena_error(lexer->arena, &lexer->error);
}

static bool
is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool
is_ident_char(char c)
{
    return is_ident_start(c) || is_digit(c);
}

/* Skips blanks and comments; a line end counts only outside ( ) and [ ]. Returns true at a line end. */
static bool
skip_space(PdLexer *lexer)
{
    for (;;)
    {
        char c = *lexer->cursor;
        if (c == ' ' || c == '\t' || c == '\r' || (c == '\n' && lexer->nesting > 0))
            advance(lexer);
        else if (c == '#')
        {
            while (*lexer->cursor != '\0' && *lexer->cursor != '\n')
                advance(lexer);
        }
        else
            return c == '\n';
    }
}

/* Length of a well-formed UTF-8 sequence at s, 0 when it is not one. */
static size_t
utf8_length(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t length = (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (length == 0 || (length == 2 && s[0] < 0xC2) || (length == 4 && s[0] > 0xF4))
        return 0;
    for (size_t i = 1; i < length; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if (length == 3 && ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0)))
        return 0; /* overlong, or a UTF-16 surrogate */
    if (length == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90)))
        return 0;
    return length;
}

static void
append_utf8(char *out, size_t *length, unsigned code)
{
    if (code < 0x80)
        out[(*length)++] = (char)code;
    else if (code < 0x800)
    {
        out[(*length)++] = (char)(0xC0 | (code >> 6));
        out[(*length)++] = (char)(0x80 | (code & 0x3F));
    }
    else
    {
        out[(*length)++] = (char)(0xE0 | (code >> 12));
        out[(*length)++] = (char)(0x80 | ((code >> 6) & 0x3F));
        out[(*length)++] = (char)(0x80 | (code & 0x3F));
    }
}

/* \uXXXX: four hex digits of a code point outside the surrogate range. */
static bool
read_unicode_escape(PdLexer *lexer, unsigned *code)
{
    *code = 0;
    for (int i = 0; i < 4; i++)
    {
        char c = lexer->cursor[i];
        unsigned digit;
        if (is_digit(c))
            digit = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            digit = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            digit = (unsigned)(c - 'A' + 10);
        else
            return false;
        *code = *code * 16 + digit;
    }
    if (*code == 0 || (*code >= 0xD800 && *code <= 0xDFFF))
        return false;
    for (int i = 0; i < 4; i++)
        advance(lexer);
    return true;
}

static bool
read_escape(PdLexer *lexer, char *out, size_t *length)
{
    PdSourcePos pos = here(lexer);
    advance(lexer); /* the backslash */
    char c = *lexer->cursor;
    const char *simple = strchr("\"\\ntr", c);
    if (c != '\0' && simple != NULL)
    {
        static const char values[] = "\"\\\n\t\r";
        out[(*length)++] = values[simple - "\"\\ntr"];
        advance(lexer);
        return true;
    }
    if (c == 'u')
    {
        advance(lexer);
        unsigned code;
        if (read_unicode_escape(lexer, &code))
        {
            append_utf8(out, length, code);
            return true;
        }
    }
    return fail(lexer, pos,
                "unknown escape \"\\%s\" in a string, expected \\\", \\\\, \\n, \\t, \\r or \\uXXXX",
                c == '\0' || c == '\n' ? "" : (char[]){c, '\0'});
}

/* A string's value is never longer than its quoted text, so one allocation of that size suffices. */
static bool
read_string(PdLexer *lexer, PdToken *token)
{
    const char *end = lexer->cursor + 1;
    while (*end != '\0' && *end != '\n' && *end != '"')
        end += (*end == '\\' && end[1] != '\0') ? 2 : 1;
    char *out = pd_arena_alloc(lexer->arena, (size_t)(end - lexer->cursor) + 1);
    if (out == NULL)
        return fail_memory(lexer);
    size_t length = 0;
    advance(lexer); /* the opening quote */
    for (;;)
    {
        unsigned char c = (unsigned char)*lexer->cursor;
        if (c == '"')
            break;
        if (c == '\0' || c == '\n')
            return fail(lexer, token->pos, "unterminated string, expected a closing \" on the same line");
        if (c == '\\')
        {
            if (!read_escape(lexer, out, &length))
                return false;
            continue;
        }
        size_t size = utf8_length((const unsigned char *)lexer->cursor);
        if (size == 0 || (c < 0x20 && c != '\t') || c == 0x7F)
        {
            char found[8];
            snprintf(found, sizeof(found), "0x%02x", c);
            return fail(lexer, here(lexer),
                        "invalid byte %s in a string, expected UTF-8 text (escape control characters)",
                        found);
        }
        for (size_t i = 0; i < size; i++)
        {
            out[length++] = *lexer->cursor;
            advance(lexer);
        }
    }
    advance(lexer); /* the closing quote */
    out[length] = '\0';
    token->kind = PD_TOKEN_STRING;
    token->text = out;
    return true;
}

static bool
read_digits(PdLexer *lexer)
{
    if (!is_digit(*lexer->cursor))
        return false;
    while (is_digit(*lexer->cursor))
        advance(lexer);
    return true;
}

/* -?digits[.digits][(e|E)[+-]digits]; a number may not run into a name ("12ab"). */
static bool
read_number(PdLexer *lexer, PdToken *token)
{
    const char *start = lexer->cursor;
    if (*lexer->cursor == '-')
        advance(lexer);
    bool is_valid = read_digits(lexer);
    if (is_valid && *lexer->cursor == '.')
    {
        advance(lexer);
        is_valid = read_digits(lexer);
    }
    if (is_valid && (*lexer->cursor == 'e' || *lexer->cursor == 'E'))
    {
        advance(lexer);
        if (*lexer->cursor == '+' || *lexer->cursor == '-')
            advance(lexer);
        is_valid = read_digits(lexer);
    }
    if (!is_valid || is_ident_char(*lexer->cursor) || *lexer->cursor == '.')
    {
        while (is_ident_char(*lexer->cursor) || *lexer->cursor == '.')
            advance(lexer);
        char *text = pd_arena_strndup(lexer->arena, start, (size_t)(lexer->cursor - start));
        return text ? fail(lexer, token->pos,
                           "malformed number \"%s\", expected digits such as 12, -3 or 4.50", text)
                    : fail_memory(lexer);
    }
    token->kind = PD_TOKEN_NUMBER;
    token->text = pd_arena_strndup(lexer->arena, start, (size_t)(lexer->cursor - start));
    return token->text != NULL || fail_memory(lexer);
}

static bool
read_ident(PdLexer *lexer, PdToken *token)
{
    const char *start = lexer->cursor;
    while (is_ident_char(*lexer->cursor))
        advance(lexer);
    token->kind = PD_TOKEN_IDENT;
    token->text = pd_arena_strndup(lexer->arena, start, (size_t)(lexer->cursor - start));
    return token->text != NULL || fail_memory(lexer);
}

/* Punctuation and operators; the nesting count follows ( ) [ ] so line ends inside them are ignored. */
static bool
read_punctuation(PdLexer *lexer, PdToken *token)
{
    char c = *lexer->cursor;
    char next = lexer->cursor[1];
    static const char singles[] = "{}()[],-=<>|+*/";
    static const PdTokenKind kinds[] = {
        PD_TOKEN_LBRACE,   PD_TOKEN_RBRACE, PD_TOKEN_LPAREN, PD_TOKEN_RPAREN, PD_TOKEN_LBRACKET,
        PD_TOKEN_RBRACKET, PD_TOKEN_COMMA,  PD_TOKEN_MINUS,  PD_TOKEN_EQ,     PD_TOKEN_LT,
        PD_TOKEN_GT,       PD_TOKEN_PIPE,   PD_TOKEN_PLUS,   PD_TOKEN_STAR,   PD_TOKEN_SLASH};
    const char *found = c != '\0' ? strchr(singles, c) : NULL;
    if (c == '!' && next == '=')
        token->kind = PD_TOKEN_NE;
    else if (c == '<' && next == '=')
        token->kind = PD_TOKEN_LE;
    else if (c == '>' && next == '=')
        token->kind = PD_TOKEN_GE;
    else if (c == '|' && next == '|')
        token->kind = PD_TOKEN_CONCAT;
    else if (found != NULL)
        token->kind = kinds[found - singles];
    else
    {
        char shown[16];
        unsigned char byte = (unsigned char)c;
        if (byte > 0x20 && byte < 0x7F)
            snprintf(shown, sizeof(shown), "\"%c\"", c);
        else
            snprintf(shown, sizeof(shown), "byte 0x%02x", byte);
        return fail(lexer, token->pos,
                    "unexpected character %s, expected a name, a number, a string or one of { } ( ) [ ] , = "
                    "- < > != |",
                    shown);
    }
    bool is_double = token->kind == PD_TOKEN_NE || token->kind == PD_TOKEN_LE || token->kind == PD_TOKEN_GE ||
                     token->kind == PD_TOKEN_CONCAT;
    advance(lexer);
    if (is_double)
        advance(lexer);
    if (token->kind == PD_TOKEN_LBRACE || token->kind == PD_TOKEN_RBRACE)
        lexer->nesting = 0; /* an unclosed "(" ends where no "(" can be: one broken line, not the file */
    else if (token->kind == PD_TOKEN_LPAREN || token->kind == PD_TOKEN_LBRACKET)
        lexer->nesting++;
    else if ((token->kind == PD_TOKEN_RPAREN || token->kind == PD_TOKEN_RBRACKET) && lexer->nesting > 0)
        lexer->nesting--;
    return true;
}

/* The ERROR token for the error just found; lexing goes on at the next line. */
static void
lexical_error(PdLexer *lexer, PdToken *token)
{
    token->kind = PD_TOKEN_ERROR;
    token->text = NULL;
    if (lexer->failed)
        return;
    token->pos = lexer->problem_pos;
    token->text = pd_arena_strdup(lexer->arena, lexer->problem);
    if (token->text == NULL)
    {
        fail_memory(lexer);
        return;
    }
    while (*lexer->cursor != '\0' && *lexer->cursor != '\n')
        advance(lexer);
    lexer->nesting = 0;
}

static void
scan(PdLexer *lexer, PdToken *token)
{
    memset(token, 0, sizeof(*token));
    if (lexer->failed)
    {
        token->kind = PD_TOKEN_ERROR;
        return;
    }
    bool at_line_end = skip_space(lexer);
    token->pos = here(lexer);
    if (at_line_end)
    {
        /* A run of blank and comment lines is one NEWLINE. */
        while (*lexer->cursor == '\n')
        {
            advance(lexer);
            skip_space(lexer);
        }
        token->kind = PD_TOKEN_NEWLINE;
        return;
    }
    char c = *lexer->cursor;
    bool is_ok;
    if (c == '\0')
    {
        token->kind = PD_TOKEN_EOF;
        is_ok = true;
    }
    else if (c == '"')
        is_ok = read_string(lexer, token);
    else if (is_digit(c) || (c == '-' && is_digit(lexer->cursor[1])))
        is_ok = read_number(lexer, token);
    else if (is_ident_start(c))
        is_ok = read_ident(lexer, token);
    else
        is_ok = read_punctuation(lexer, token);
    if (!is_ok)
        lexical_error(lexer, token);
}

const PdToken *
pd_model_lexer_peek(PdLexer *lexer, size_t offset)
{
    while (lexer->ahead_count <= offset)
    {
        size_t slot = (lexer->ahead_start + lexer->ahead_count) % PD_LEXER_LOOKAHEAD;
        scan(lexer, &lexer->ahead[slot]);
        lexer->ahead_count++;
    }
    return &lexer->ahead[(lexer->ahead_start + offset) % PD_LEXER_LOOKAHEAD];
}

PdToken
pd_model_lexer_next(PdLexer *lexer)
{
    PdToken token = *pd_model_lexer_peek(lexer, 0);
    /* EOF, and the ERROR of exhausted memory, repeat forever; everything else is consumed. */
    if (token.kind != PD_TOKEN_EOF && !(token.kind == PD_TOKEN_ERROR && token.text == NULL))
    {
        lexer->ahead_start = (lexer->ahead_start + 1) % PD_LEXER_LOOKAHEAD;
        lexer->ahead_count--;
    }
    return token;
}

const char *
pd_model_token_describe(PdArena *arena, const PdToken *token)
{
    switch (token->kind)
    {
        case PD_TOKEN_EOF:
            return "end of file";
        case PD_TOKEN_NEWLINE:
            return "end of line";
        case PD_TOKEN_IDENT:
            return pd_arena_sprintf(arena, "\"%s\"", token->text);
        case PD_TOKEN_NUMBER:
            return pd_arena_sprintf(arena, "number %s", token->text);
        case PD_TOKEN_STRING:
            return pd_arena_sprintf(arena, "string \"%.40s\"", token->text);
        case PD_TOKEN_LBRACE:
            return "\"{\"";
        case PD_TOKEN_RBRACE:
            return "\"}\"";
        case PD_TOKEN_LPAREN:
            return "\"(\"";
        case PD_TOKEN_RPAREN:
            return "\")\"";
        case PD_TOKEN_LBRACKET:
            return "\"[\"";
        case PD_TOKEN_RBRACKET:
            return "\"]\"";
        case PD_TOKEN_COMMA:
            return "\",\"";
        case PD_TOKEN_MINUS:
            return "\"-\"";
        case PD_TOKEN_EQ:
            return "\"=\"";
        case PD_TOKEN_NE:
            return "\"!=\"";
        case PD_TOKEN_LT:
            return "\"<\"";
        case PD_TOKEN_LE:
            return "\"<=\"";
        case PD_TOKEN_GT:
            return "\">\"";
        case PD_TOKEN_GE:
            return "\">=\"";
        case PD_TOKEN_PIPE:
            return "\"|\"";
        case PD_TOKEN_PLUS:
            return "\"+\"";
        case PD_TOKEN_STAR:
            return "\"*\"";
        case PD_TOKEN_SLASH:
            return "\"/\"";
        case PD_TOKEN_CONCAT:
            return "\"||\"";
        case PD_TOKEN_ERROR:
            break;
    }
    return "an invalid token";
}
