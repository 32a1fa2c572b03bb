/*
 * lexer.h - tokens of the model language, produced on demand with a small
 * lookahead so the parser reads the text exactly once. Private to src/model.
 */
#ifndef PRODATA_MODEL_LEXER_H
#define PRODATA_MODEL_LEXER_H

#include <stdbool.h>
#include <stddef.h>

#include "prodata/arena.h"
#include "prodata/error.h"
#include "prodata/model.h"

typedef enum PdTokenKind
{
    PD_TOKEN_EOF,
    PD_TOKEN_NEWLINE, /* one or more line ends outside parentheses and brackets */
    PD_TOKEN_IDENT,   /* [A-Za-z_][A-Za-z0-9_]*: names, types, keywords alike */
    PD_TOKEN_NUMBER,  /* -?digits[.digits][e[+-]digits], text as written */
    PD_TOKEN_STRING,  /* "...", text holds the value with escapes resolved */
    PD_TOKEN_LBRACE,
    PD_TOKEN_RBRACE,
    PD_TOKEN_LPAREN,
    PD_TOKEN_RPAREN,
    PD_TOKEN_LBRACKET,
    PD_TOKEN_RBRACKET,
    PD_TOKEN_COMMA,
    PD_TOKEN_MINUS,
    PD_TOKEN_EQ, /* = */
    PD_TOKEN_NE, /* != */
    PD_TOKEN_LT,
    PD_TOKEN_LE,
    PD_TOKEN_GT,
    PD_TOKEN_GE,
    PD_TOKEN_PIPE,   /* | (between roles: write=editor|admin) */
    PD_TOKEN_PLUS,   /* + (generated expressions) */
    PD_TOKEN_STAR,   /* * */
    PD_TOKEN_SLASH,  /* / */
    PD_TOKEN_CONCAT, /* || (text concatenation) */
    PD_TOKEN_ERROR   /* text holds what is wrong there (pos); NULL when memory ran out (PdLexer.error) */
} PdTokenKind;

typedef struct PdToken
{
    PdTokenKind kind;
    const char *text; /* NUL-terminated, in the arena (identifiers, numbers, strings, errors); else NULL */
    PdSourcePos pos;
} PdToken;

#define PD_LEXER_LOOKAHEAD 4

typedef struct PdLexer
{
    PdArena *arena;
    const char *file;
    const char *cursor;
    int line;
    int column;
    int nesting; /* open ( and [: line ends inside them are plain white space */
    PdToken ahead[PD_LEXER_LOOKAHEAD];
    size_t ahead_start;
    size_t ahead_count;
    PdSourcePos problem_pos; /* the lexical error being made into an ERROR token */
    char problem[200];
    bool failed;   /* memory ran out: every later token is PD_TOKEN_ERROR with text NULL */
    PdError error; /* set once failed */
} PdLexer;

void pd_model_lexer_init(PdLexer *lexer, PdArena *arena, const char *file, const char *text);

/* The token `offset` places ahead (0: the next one) without consuming it; offset < PD_LEXER_LOOKAHEAD. */
const PdToken *pd_model_lexer_peek(PdLexer *lexer, size_t offset);

/*
 * Consumes and returns the next token. After a lexical error (an ERROR token
 * with its message) the lexer goes on at the next line, so the parser can
 * report more than one problem; after memory ran out, ERROR tokens repeat.
 */
PdToken pd_model_lexer_next(PdLexer *lexer);

/* A token as a person reads it in a message: `name "foo"`, `"{"`, `end of line`. Arena storage. */
const char *pd_model_token_describe(PdArena *arena, const PdToken *token);

#endif
