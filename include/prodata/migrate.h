/*
 * migrate.h - migrations: planning the change from one model state to the
 * next (makemigrations), the migration file that records it, and applying
 * files to a database (migrate), with drift detection (check).
 *
 * A migration file is reviewable SQL in sections, plus the full model state
 * after it (canonical model text, see pd_model_format), so the next
 * makemigrations reads one file instead of replaying the history:
 *
 *   -- prodata migration 0002_book_add_meta
 *   -- operations: ...   -- warnings: ...     (comments for the reviewer)
 *   -- +up                    statements run in one transaction
 *   -- +up batched [ROWS]     statements each run again and again in short transactions, after it commits
 *   -- +up concurrently       statements run one at a time outside it, after the batched ones
 *   -- +down                  statements that undo +up, in one transaction
 *   -- +down irreversible: <reason>   instead of +down when it cannot be undone
 *   -- +state                 the model state after this migration, each line behind "-- "
 *
 * The format is documented in docs/migrations.md.
 */
#ifndef PRODATA_MIGRATE_H
#define PRODATA_MIGRATE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "prodata/arena.h"
#include "prodata/db.h"
#include "prodata/error.h"
#include "prodata/export.h"
#include "prodata/model.h"

PD_API_BEGIN

/* ---- planning (makemigrations) ---------------------------------------- */

typedef enum PdOperationKind
{
    PD_OP_CREATE_MODEL,
    PD_OP_DROP_MODEL,
    PD_OP_RENAME_MODEL, /* model renamed (renamed_from) or its table renamed */
    PD_OP_ADD_FIELD,
    PD_OP_DROP_FIELD,
    PD_OP_RENAME_FIELD, /* renamed_from */
    PD_OP_ALTER_FIELD,  /* type, length, null, default, unique, index, checks, choices, on_delete, foreign key
                         * name, deferrable */
    PD_OP_ADD_INDEX,    /* model-level index or unique */
    PD_OP_DROP_INDEX,
    PD_OP_RENAME_INDEX, /* a model-level index or unique given another name= */
    PD_OP_ADD_CHECK,    /* model-level check(...) */
    PD_OP_DROP_CHECK,
    PD_OP_ALTER_CHECK,  /* its expression or its name changed */
    PD_OP_ALTER_COMMENT /* a table's or a column's comment set, changed or removed */
} PdOperationKind;

typedef struct PdOperation
{
    PdOperationKind kind;
    const char *model;       /* model name (the new name for a rename) */
    const char *field;       /* field or index name, or NULL */
    const char *description; /* one line for people: "add field Book.meta (json null)" */
    bool is_destructive;     /* loses data: drop model or field, narrowing type */
} PdOperation;

typedef struct PdMigrationPlan
{
    PdOperation *operations;
    size_t operation_count;
    const char *up_sql;              /* transactional part; "" when none */
    const char *up_concurrently_sql; /* statements one per line-group, each ending in ";"; "" when none */
    /* "-- +up batched": each UPDATE run again and again in transactions of batch_rows rows ($1) after the
     * commit, before the concurrent part (a SELECT count(*) before it says how many are left); "" or NULL
     * when none. */
    const char *up_batched_sql;
    int batch_rows;                  /* rows per batch; 0: PD_MIGRATION_BATCH_ROWS */
    const char *down_sql;            /* NULL when irreversible */
    const char *irreversible_reason; /* set when down_sql is NULL */
    const char **warnings;           /* long locks, table rewrites, each with the safer way */
    size_t warning_count;
    const char **destructive_reasons; /* one per destructive operation, saying what data is lost */
    size_t destructive_count;
    const char *suggested_name; /* "initial", "book_add_meta", "author_drop_born_and_more" */
} PdMigrationPlan;

/*
 * Compares two model states and plans the migration from `from` (NULL: an
 * empty database) to `to`. A plan with operation_count 0 means no change.
 * Destructive operations are planned, not refused: the caller refuses them
 * unless told otherwise (see destructive_reasons). Renames happen only through
 * renamed_from hints, never by guessing. Everything is allocated in arena.
 * Errors: PD_ERR_INVALID_INPUT when the change cannot be expressed (a
 * renamed_from naming nothing, a type change with no cast), with the position.
 */
bool pd_migrate_plan(PdArena *arena, const PdCatalog *from, const PdCatalog *to, PdMigrationPlan **plan,
                     PdError *err);

/* How pd_migrate_plan_with_options plans; zeroed: as pd_migrate_plan. */
typedef struct PdPlanOptions
{
    /* makemigrations --expand: a type change that rewrites the table becomes expand, backfill and swap (a
     * new column kept in step by a trigger, filled in batches, swapped in under a short lock), see
     * docs/migrations.md. Other changes are planned as always. */
    bool is_expand;
} PdPlanOptions;

/* pd_migrate_plan with options (NULL: the defaults). Errors: as pd_migrate_plan, and with is_expand a type
 * change the expansion cannot carry (PD_ERR_INVALID_INPUT with the position and what to do instead). */
bool pd_migrate_plan_with_options(PdArena *arena, const PdCatalog *from, const PdCatalog *to,
                                  const PdPlanOptions *options, PdMigrationPlan **plan, PdError *err);

/* ---- migration files -------------------------------------------------- */

/* Rows per batch of a "-- +up batched" section that names none. */
#define PD_MIGRATION_BATCH_ROWS 1000

typedef struct PdMigrationFile
{
    const char *path; /* as read; NULL for a rendered file not yet written */
    const char *name; /* "0002_book_add_meta": the file name without ".sql" */
    int number;       /* 2 */
    const char *text; /* the whole file */
    size_t text_length;
    const char *up_sql;
    const char *up_concurrently_sql; /* "" when none */
    /* "-- +up batched [ROWS]": statements each run again and again, in short transactions of at most
     * batch_rows rows (bound to $1), until one changes no row; after the commit, before the concurrent
     * part. "" when none. */
    const char *up_batched_sql;
    int batch_rows;
    const char *down_sql; /* NULL when irreversible */
    const char *irreversible_reason;
    const char *state_text;  /* the model state after it, "-- " removed; NULL when the file has none */
    const char *parent_name; /* the migration it was made after ("" for none); NULL when not recorded */
    /* A squash (prodata squashmigrations): the migrations it replaces, in order, from its "-- replaces:"
     * line; its number is the last one's. NULL and 0 for other files. */
    const char **replaces;
    size_t replace_count;
    /* Set by pd_migration_list on a file that a squash in the same folder replaces: a database runs either
     * the replaced files or the squash, never both. */
    bool is_replaced;
    int up_line; /* line in the file where each section's SQL starts, for error positions */
    int up_concurrently_line;
    int up_batched_line;
    int down_line;
} PdMigrationFile;

/*
 * Renders the text of a migration file named `name` ("0002_book_add_meta")
 * for plan, with `state` (the models after it) as its state section.
 * parent_name is the migration it follows (NULL for the first); it is
 * recorded so that pd_migration_list can refuse a renumbered file whose
 * state no longer follows from its predecessor.
 * source_name names the model file in the header comment. Deterministic: no
 * time stamps, so the same change always gives the same bytes.
 */
bool pd_migration_render(PdArena *arena, const PdMigrationPlan *plan, const char *name,
                         const char *parent_name, const char *source_name, const PdCatalog *state,
                         char **text, PdError *err);

/* Splits a migration file's text into its sections (checksums are taken by migrate, which needs them).
 * Errors: PD_ERR_INVALID_INPUT with path:line for an unknown or repeated section or a bad name. */
bool pd_migration_parse(PdArena *arena, const char *path, const char *text, size_t text_length,
                        PdMigrationFile *file, PdError *err);

/*
 * Reads every NNNN_name.sql in directory, sorted by number. A missing
 * directory gives zero files. A squash stands beside the files it replaces
 * (they are marked is_replaced; it sorts after the last of them, whose
 * number it has) or, once they are deleted, in their place. Errors: two
 * files with one number (two branches that each added a migration: the
 * message names both), a gap in numbering, a file whose recorded
 * predecessor is not the file before it, a squash of which only some
 * replaced files are present, a file that does not parse; PD_ERR_IO when
 * unreadable.
 */
bool pd_migration_list(PdArena *arena, const char *directory, PdMigrationFile **files, size_t *count,
                       PdError *err);

/*
 * Writes a squash of files[from..to] (indexes into a pd_migration_list
 * result): one migration, named "<to's number>_squashed_<from's>_to_<to's>",
 * that makes from the state before files[from] the state after files[to]
 * (planned between the two recorded states), records the names it replaces
 * on its "-- replaces:" line and follows files[from - 1]. Refuses a range
 * holding a file without a recorded state or whose SQL is not what its
 * state change plans (a hand-written or edited migration: its statements
 * would be lost), and a range that ends on or holds a file another squash
 * replaces. *name and *text in arena.
 */
bool pd_migration_squash(PdArena *arena, const PdMigrationFile *files, size_t count, size_t from, size_t to,
                         const char *source_name, const char **name, char **text, PdError *err);

/*
 * Whether files[index] is exactly what the planner makes of the state change
 * from the newest state before it (files[0..index)) to its own: false for a
 * file without a state or an "-- after:" line, with a batched section, or
 * whose SQL was written or edited by hand (a data fix, a backfill).
 */
bool pd_migration_is_planned(PdArena *arena, const PdMigrationFile *files, size_t index, bool *is_planned,
                             PdError *err);

/* pd_migration_list without its checks: every file parsed and sorted, conflicts and gaps left in. */
bool pd_migration_list_unchecked(PdArena *arena, const char *directory, PdMigrationFile **files,
                                 size_t *count, PdError *err);

/* pd_migration_list's checks of a sorted list (squashes marked, numbering, the "-- after:" chain). */
bool pd_migration_check_list(PdMigrationFile *files, size_t count, PdError *err);

/* The model state recorded by the newest file that has one; *state NULL when there are no files. */
bool pd_migration_latest_state(PdArena *arena, const PdMigrationFile *files, size_t count, PdCatalog **state,
                               PdError *err);

/*
 * Splits SQL text into statements (quotes, dollar quotes, comments
 * respected); each is a trimmed copy of a substring of sql, without its ";".
 * Errors (an unterminated quote or comment) say where: "where:line" counting
 * from first_line when where is given, else "line N" of sql. Arena-allocated.
 */
bool pd_migration_split_statements(PdArena *arena, const char *sql, const char *where, int first_line,
                                   const char ***statements, size_t *count, PdError *err);

/* sha256 of data as 64 lower-case hex characters plus NUL. */
void pd_migration_checksum(const char *data, size_t length, char out[65]);

/*
 * The checksum migrate records for an applied file: the sha256 of its
 * sections' statements in normal form (comments and blanks between tokens
 * left out, quoted text kept byte for byte) and its state's lines, so an
 * edit of whitespace or comments keeps it and any change to a statement does
 * not. Errors: an unterminated quote in a section.
 */
bool pd_migration_statement_checksum(PdArena *arena, const PdMigrationFile *file, char out[65], PdError *err);

/* ---- applying (migrate, showmigrations, check) ------------------------ */

/* What a progress callback is told, as it happens (see PdMigrateOptions.progress). */
typedef enum PdMigrateEventKind
{
    PD_MIGRATE_LOCK_WAIT,       /* another deployer holds the migrate lock: waiting (wait_ms: the bound) */
    PD_MIGRATE_LOCK_TAKEN,      /* the lock was taken after a wait (duration_ms: how long it took) */
    PD_MIGRATE_MIGRATION_START, /* a file's transaction starts (is_revert: its +down) */
    PD_MIGRATE_MIGRATION_END,   /* it committed (duration_ms) */
    PD_MIGRATE_LOCK_RETRY,      /* a lock_timeout rolled it back or stopped a statement; retrying (attempt) */
    PD_MIGRATE_STATEMENT_START, /* a concurrent statement starts (statement, statement_number,
                                   statement_count) */
    PD_MIGRATE_STATEMENT_END,   /* it succeeded (duration_ms) */
    PD_MIGRATE_BATCH /* a batch of a batched statement committed (rows_done, rows_total, duration_ms:
                        since the statement started) */
} PdMigrateEventKind;

typedef struct PdMigrateEvent
{
    PdMigrateEventKind kind;
    const char *migration; /* "0004_book_add_isbn"; NULL for the lock events */
    bool is_revert;
    const char *statement; /* statement events: the statement's first line (without its newline) */
    int statement_number;  /* statement events: 1-based, of statement_count in the concurrent part */
    int statement_count;
    int attempt;           /* LOCK_RETRY: 1 for the first retry */
    long duration_ms;      /* the END events, LOCK_TAKEN and BATCH */
    long long rows_done;   /* BATCH: rows the statement changed so far */
    long long rows_total;  /* BATCH: the count before it started (the SELECT before it), -1 when unknown */
    long longest_batch_ms; /* BATCH: the longest batch transaction so far (what held row locks longest) */
    bool is_batch_done;    /* BATCH: the last event of the statement: it changed no more rows */
    int wait_ms;           /* LOCK_WAIT: how long migrate waits at most */
} PdMigrateEvent;

/* Called on the thread running pd_migrate_apply; the event and its strings live only during the call. */
typedef void (*PdMigrateProgress)(const PdMigrateEvent *event, void *data);

typedef struct PdMigrateOptions
{
    int lock_timeout_ms; /* lock_timeout for every step (default 5000) */
    int lock_retries;    /* attempts after a lock timeout, with backoff (default 3) */
    int lock_wait_ms;    /* bound on waiting for another deployer's migrate lock (default 60000) */
    int target;          /* migrate up or down to this number; -1 means the newest; 0 undoes all */
    bool is_dry_run;     /* say what would run, run nothing */
    /* Exact row counts of the model tables (default true): each migration's transaction, and the run's
     * end, install on every model table of the state after it the statement-level triggers that keep
     * prodata_row_counts, seeded under the triggers' lock; false removes them (docs/query.md, "Counts"). */
    bool count_rows;
    /* Before a file's transaction commits, count the rows that would fail its concurrent VALIDATE CONSTRAINT
     * and CREATE UNIQUE INDEX statements and refuse with them (default true; costs a scan of each such
     * table). Statements of the transaction that the data breaks are explained either way. */
    bool check_data;
    /* Record the pending files up to target as applied without running them (`migrate --fake`), once the
     * live schema of their tables is what they would make (made in a scratch schema and compared); going
     * back, forget the files after target without running their +down. */
    bool is_fake;
    /* A pending file whose every CREATE TABLE names a table that exists already is recorded as with
     * is_fake, one whose tables exist only in part is refused, the others run (`migrate --fake-initial`). */
    bool is_fake_initial;
    /* Set by the caller's signal handler: stop before the next step. The step under way is ended by the
     * caller with pd_db_cancel_send (pd_db_cancel_handle), and rolls back whole. NULL: never interrupted. */
    volatile sig_atomic_t *is_interrupted;
    PdMigrateProgress progress; /* NULL (the default): silent */
    void *progress_data;        /* passed to progress */
} PdMigrateOptions;

void pd_migrate_options_default(PdMigrateOptions *options);

typedef enum PdMigrationStatus
{
    PD_MIGRATION_PENDING,
    PD_MIGRATION_APPLIED,
    PD_MIGRATION_PARTIAL,  /* transactional part applied, concurrent part not finished */
    PD_MIGRATION_MODIFIED, /* applied, but the file's checksum differs */
    PD_MIGRATION_MISSING   /* applied, but no file */
} PdMigrationStatus;

typedef struct PdMigrationState
{
    const char *name;
    PdMigrationStatus status;
    const char *applied_at; /* text from the database, NULL when pending */
} PdMigrationState;

/*
 * One line per thing done, for the CLI to print: "applied 0002_x (12 ms)",
 * "completed 0003_y: 2 concurrent statements", "reverted 0003_y (4 ms)". A
 * file whose concurrent part failed is reported as "applied 0003_y
 * (transactional part, 12 ms); concurrent part pending: <why>" and counted in
 * partial_count, not applied_count.
 */
typedef struct PdMigrateReport
{
    const char **lines;
    size_t line_count;
    int applied_count;
    int reverted_count;
    int partial_count;
} PdMigrateReport;

/*
 * Brings the database to options->target: applies pending files in order
 * (each in its own transaction, then its concurrent statements), or reverts
 * applied ones newest first. Runs under a session advisory lock so that
 * concurrent deployers apply each migration exactly once; waiting for it
 * (polled, at most lock_wait_ms) holds no snapshot. Refuses, before changing
 * anything, when an applied file was edited (checksum) or is missing, or when
 * a revert meets an irreversible migration. A file whose concurrent part
 * fails stays partial (resumed by the next call, or reverted exactly); the
 * report says so. Each file's work lives in a scratch child of arena, freed
 * when the file is done; the report's lines live in arena. Progress goes to
 * options->progress as it happens.
 * Errors: PD_ERR_REFUSED, PD_ERR_LOCK_TIMEOUT, PD_ERR_DB_QUERY (with the
 * migration name and the line of the failing statement in context).
 */
bool pd_migrate_apply(PdArena *arena, PdDb *db, const PdMigrationFile *files, size_t count,
                      const PdMigrateOptions *options, PdMigrateReport *report, PdError *err);

/*
 * Runs file's transactional part on the database in a transaction that is
 * rolled back, with the data checks of migrate (rows that would break a
 * statement or its concurrent part counted): what migrate would say about
 * the data, said when the file is written. Call on a database that applied
 * every file before it, outside a transaction. Errors: PD_ERR_REFUSED with
 * the rows, or the error the SQL would meet.
 */
bool pd_migrate_try_data(PdArena *arena, PdDb *db, const PdMigrationFile *file, PdError *err);

/* Applied/pending state of every file and every history row. */
bool pd_migrate_status(PdArena *arena, PdDb *db, const PdMigrationFile *files, size_t count,
                       PdMigrationState **states, size_t *state_count, PdError *err);

/*
 * Compares the live schema of the migrated tables with the snapshot recorded
 * by the last migrate. *diff is NULL when they agree, else readable lines
 * ("column book.price: type numeric(10,2), expected numeric(8,2)").
 */
bool pd_migrate_check_drift(PdArena *arena, PdDb *db, char **diff, PdError *err);

/* What pd_migrate_check_schema found. */
typedef struct PdSchemaCheck
{
    /* The tables of the models against what the model file itself makes, one line per difference
     * ("  + column book.isbn: in the database, not in models.pdm: character varying(20) null"); NULL when
     * they agree. */
    const char *model_diff;
    size_t only_in_models;   /* "-" lines: the model file makes it, the database lacks it */
    size_t only_in_database; /* "+" lines: the database has it, the model file does not make it */
    size_t changed;          /* "~" lines: both have it, defined differently */
    /* Every other table against what the migrations made (the stored snapshot): a table made or dropped
     * by hand. NULL when they agree or when no snapshot was taken (has_snapshot false). */
    const char *other_diff;
    bool has_snapshot;
} PdSchemaCheck;

/*
 * Compares the live schema with the model file itself: the SQL that makes
 * the models from an empty database runs in a scratch schema, rolled back,
 * and its tables are compared line by line with the live ones, so a database
 * that prodata never migrated (adopted, built by hand) is checked too.
 * Tables outside the models are compared with the migrations' snapshot.
 * Call outside a transaction; needs CREATE on the database (the scratch
 * schema). models_name names the model file in the lines.
 */
bool pd_migrate_check_schema(PdArena *arena, PdDb *db, const PdCatalog *models, const char *models_name,
                             PdSchemaCheck *check, PdError *err);

/* ---- inspectdb: a model file from a live database --------------------- */

/*
 * Reads the tables of current_schema() whose names match one of patterns
 * (shell globs, fnmatch; pattern_count 0: every table but prodata's own) and
 * writes a model file describing them into *text (arena): one model per table,
 * so that the initial migration made from it remakes each table with the same
 * columns, constraints and indexes, under the same names. What the language
 * cannot express is written as a "#" comment naming the object and its
 * definition, never dropped: a column of another type, a partial index, a
 * table without a primary key (as a commented-out model), and at the end the
 * views, sequences, triggers, functions and schemas not inspected. Starts with
 * a header saying how to adopt the database (makemigrations, migrate
 * --fake-initial, check). Deterministic: the same schema gives the same bytes.
 * Reads in one read-only transaction; call it outside a transaction.
 * Errors: PD_ERR_INVALID_INPUT (an empty pattern), PD_ERR_NOT_FOUND (a
 * pattern that matches no table; no current schema), PD_ERR_DB_QUERY,
 * PD_ERR_DB_GONE, PD_ERR_NO_MEMORY / PD_ERR_TOO_LARGE (the arena's).
 */
bool pd_migrate_inspect(PdArena *arena, PdDb *db, const char *const *patterns, size_t pattern_count,
                        char **text, PdError *err);

PD_API_END

#endif
