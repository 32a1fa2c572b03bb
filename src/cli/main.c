/*
 * main.c - the prodata command. Parses the command line against one table of
 * commands (name, flags, help), runs the command with a command-lifetime
 * arena, and is the only place that prints an error and picks the exit code:
 * 0 success, 1 runtime failure, 2 usage or input error, 3 differences found
 * (check, makemigrations --check), 4 outcome unknown (etcd gave no answer
 * to trust: a change may or may not have been applied). Everything below
 * returns PdError values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct CliFlag
{
    const char *name;
    bool takes_value;
} CliFlag;

typedef struct CliCommand
{
    const char *name;
    bool (*run)(PdArena *arena, const CliArgs *args, PdError *err);
    const char *summary;
    const char *usage;
    CliFlag flags[24];
    int max_positional;
    const PdSettingTable *settings; /* the surface whose settings it takes; NULL: migrate's */
    bool is_quiet_not_found;        /* PD_ERR_NOT_FOUND exits without a message (wal-fetch) */
    bool is_without_settings;       /* takes no settings and no --config (demo) */
} CliCommand;

static const CliCommand commands[] = {
    {"makemigrations",
     cmd_makemigrations,
     "write the next migration from the changes in the model file",
     "usage: prodata makemigrations [--name NAME] [--allow-destructive] [--check] [--dry-run] [--empty]\n"
     "                              [--backfill Model.field=VALUE]... [--expand]\n"
     "       prodata makemigrations --rebase NAME [--revert-applied] [--allow-destructive] [--dry-run]\n"
     "\n"
     "Compares the model file with the state the migrations produce and writes the\n"
     "next numbered migration (migrations/NNNN_name.sql). Writes nothing when\n"
     "nothing changed.\n"
     "  --name NAME            name the migration (default: from the change)\n"
     "  --allow-destructive    write a migration that drops data (dropped models or fields, narrowed types)\n"
     "  --check                write nothing; exit 3 when the models have unmigrated changes\n"
     "  --dry-run              show the operations and SQL, write nothing\n"
     "  --empty                write a migration to fill in by hand (data fixes, backfills)\n"
     "  --backfill Model.field=VALUE\n"
     "                         the value the rows already there get, for a field this migration adds or\n"
     "                         makes not null (as backfill= in the model file, for this run); repeatable\n"
     "  --expand               a type change that rewrites the table becomes expand, backfill, swap:\n"
     "                         a new column kept in step by a trigger, filled in batches, swapped in\n"
     "                         under a short lock\n"
     "  --rebase NAME          two branches each added a migration: write this branch's (NAME and the\n"
     "                         ones after it) again after the other branch's, as one migration\n"
     "  --revert-applied       with --rebase: first revert this branch's migrations on the database\n"
     "                         where they are applied (their +down), so that migrate goes forward\n",
     {{"--name", true},
      {"--rebase", true},
      {"--revert-applied", false},
      {"--allow-destructive", false},
      {"--check", false},
      {"--dry-run", false},
      {"--empty", false},
      {"--backfill", true},
      {"--expand", false}},
     0},
    {"migrate",
     cmd_migrate,
     "apply pending migrations, or go back with --to",
     "usage: prodata migrate [--to N | --fake N | --fake-initial] [--dry-run]\n"
     "\n"
     "Applies pending migrations in order, each in its own transaction, under an\n"
     "advisory lock so that concurrent deployers apply each migration once.\n"
     "  --to N                 migrate up or down to migration N (0: undo all)\n"
     "  --fake N               record the migrations up to N as applied without running them, once the\n"
     "                         live schema is what they make (compared first; refused with the\n"
     "                         differences); back to N, unrecord the later ones without reverting them\n"
     "  --fake-initial         record a migration whose tables all exist already (compared first),\n"
     "                         run the others: adopting an existing database\n"
     "  --dry-run              say what would run, change nothing\n",
     {{"--to", true}, {"--fake", true}, {"--fake-initial", false}, {"--dry-run", false}},
     CLI_MAX_ARGS}, /* none taken: cmd_migrate refuses them, suggesting --to */
    {"showmigrations",
     cmd_showmigrations,
     "list migrations and whether each is applied",
     "usage: prodata showmigrations\n",
     {{NULL, false}},
     0},
    {"sqlmigrate",
     cmd_sqlmigrate,
     "print the SQL of one migration",
     "usage: prodata sqlmigrate N [--down]\n"
     "\n"
     "Prints the SQL that migrate runs for migration N (a number or a name).\n"
     "  --down                 the SQL that reverts it\n",
     {{"--down", false}},
     1},
    {"squashmigrations",
     cmd_squashmigrations,
     "replace a range of migrations with one that makes the same schema",
     "usage: prodata squashmigrations [FROM] TO [--dry-run]\n"
     "\n"
     "Writes one migration that makes, from the state before FROM (default: the\n"
     "first), the state after TO, and names the migrations it replaces. A database\n"
     "that applied them is recorded as having applied the squash; a new database\n"
     "runs only the squash. Delete the replaced files once every database has\n"
     "migrated. Hand-written migrations (data fixes) cannot be squashed.\n"
     "  --dry-run              print the squash instead of writing it\n",
     {{"--dry-run", false}},
     2},
    {"check",
     cmd_check,
     "exit 3 with a readable diff when models, migrations and database disagree",
     "usage: prodata check\n"
     "\n"
     "Checks that the migrations cover the model file, that every migration is\n"
     "applied unedited, that the tables of the models are what the model file\n"
     "itself makes (compared in a scratch schema, rolled back), and that other\n"
     "tables are what the migrations made. Exit 0 when all agree, 3 with each\n"
     "difference, the side to change and the command that does it, when not.\n",
     {{NULL, false}},
     0},
    {"inspectdb",
     cmd_inspectdb,
     "write a model file that describes an existing database",
     "usage: prodata inspectdb [--tables PATTERN] [--output FILE [--force]]\n"
     "\n"
     "Reads the tables of the database's current schema and writes a model file\n"
     "describing them: the initial migration made from it remakes each table with\n"
     "the same columns, constraints and indexes, under the same names. What the\n"
     "language cannot express is written as a # comment naming it and its definition.\n"
     "Then: prodata makemigrations, prodata migrate --fake-initial, prodata check.\n"
     "  --tables PATTERN       only the tables matching these comma-separated shell globs\n"
     "                         ('shop_*,auth_user'; default: all but prodata's own)\n"
     "  --output FILE          write FILE (whole or not at all) instead of stdout; an existing\n"
     "                         FILE is refused\n"
     "  --force                with --output: replace an existing FILE\n",
     {{"--tables", true}, {"--output", true}, {"--force", false}},
     0},
    {"config",
     cmd_config,
     "show the settings in effect and where each comes from",
     "usage: prodata config [--docs]\n"
     "\n"
     "Prints every setting's value and its source: default, FILE:LINE of the\n"
     "settings file, PRODATA_<NAME> or --option. Passwords are masked.\n"
     "  --docs                 print the settings reference table (docs/configuration.md)\n"
     "  --surface NAME         the settings of migrate (default), serve, archive or keeper\n",
     {{"--docs", false}, {"--surface", true}},
     0},
    {"serve",
     cmd_serve,
     "serve every model as a REST API (Django REST Framework's conventions)",
     "usage: prodata serve\n"
     "\n"
     "Serves the models of the model file over HTTP: GET /api/ lists the resources,\n"
     "/api/<resource>/ and /api/<resource>/<pk>/ list, create, read, change and\n"
     "delete objects (docs/serve.md). SIGHUP, or `prodata migrate` applying a\n"
     "migration, reloads the models without dropping a request; SIGTERM or SIGINT\n"
     "stops after the requests under way (shutdown_timeout_ms).\n",
     {{NULL, false}},
     0,
     &pd_settings_serve},
    {"openapi",
     cmd_openapi,
     "print the OpenAPI 3.1 document of the REST API (what serve answers at /openapi.json)",
     "usage: prodata openapi\n"
     "\n"
     "Prints the OpenAPI 3.1 document of every model of the model file, with the\n"
     "serve settings' page sizes and authentication, exactly as `prodata serve`\n"
     "answers GET /openapi.json; no server or database is needed.\n",
     {{NULL, false}},
     0,
     &pd_settings_serve},
    {"token",
     cmd_token,
     "print a bearer token for a role, signed with the serve settings' JWT secret",
     "usage: prodata token --role ROLE [--sub SUBJECT] [--expires 1h] [--aud AUDIENCE] [--iss ISSUER]\n"
     "\n"
     "Prints an HS256 bearer token that `prodata serve` with the same settings\n"
     "accepts: the role under jwt_role_claim, iat, exp, and iss/aud from\n"
     "jwt_issuer/jwt_audience unless given. The secret is jwt_secret_file's\n"
     "contents or jwt_secret (prodata.conf, PRODATA_JWT_SECRET), never an option.\n"
     "  --role ROLE            the PostgreSQL role the requests run as (required)\n"
     "  --sub SUBJECT          the sub claim (request.jwt.sub for row-level security)\n"
     "  --expires DURATION     lifetime: 90s, 15min, 1h (default), 7d; at most 366d\n"
     "  --aud AUDIENCE         the aud claim (default: jwt_audience)\n"
     "  --iss ISSUER           the iss claim (default: jwt_issuer)\n",
     {{"--role", true}, {"--sub", true}, {"--expires", true}, {"--aud", true}, {"--iss", true}},
     0,
     &pd_settings_serve},
    {"wal-push",
     cmd_wal_push,
     "store one WAL file in the archive (archive_command = 'prodata wal-push %p')",
     "usage: prodata wal-push [--archive-dir DIR] PATH\n"
     "\n"
     "Stores the WAL file at PATH in archive_dir under its own name, with its\n"
     "SHA-256 and (archive_compress) zstd: written to a temporary file, fsynced,\n"
     "linked under the final name, the directory fsynced. The same file pushed\n"
     "again succeeds; a different file under an archived name is refused (exit 1)\n"
     "and the archived one kept (docs/archive.md).\n",
     {{NULL, false}},
     1,
     &pd_settings_archive},
    {"wal-fetch",
     cmd_wal_fetch,
     "restore one WAL file from the archive (restore_command = 'prodata wal-fetch %f %p')",
     "usage: prodata wal-fetch [--archive-dir DIR] NAME DEST\n"
     "\n"
     "Writes the archived file NAME to DEST, decompressed and checked against its\n"
     "SHA-256. Exit 0 restored; 2 without a message when NAME is not archived\n"
     "(recovery asks for files that do not exist yet); 1 when the archived file is\n"
     "corrupt or cannot be read.\n",
     {{NULL, false}},
     2,
     &pd_settings_archive,
     true},
    {"archive",
     cmd_archive,
     "check the WAL archive: gaps, newest segment, the archiver's backlog",
     "usage: prodata archive check [--verify] [--backlog] [--json]\n"
     "\n"
     "Lists each timeline's archived segments, the gaps between them and the\n"
     "newest segment; exit 3 on a gap or a corrupt file.\n"
     "  --verify               read every archived file back and check its SHA-256\n"
     "  --backlog              also read the server's pg_stat_archiver and .ready files (the database\n"
     "                         setting's server; implied when database is set)\n"
     "  --json                 one JSON object instead of the table\n",
     {{"--verify", false}, {"--backlog", false}, {"--json", false}},
     1,
     &pd_settings_archive},
    {"backup",
     cmd_backup,
     "take a base backup into the repository (archive_dir); list, show, verify or expire them",
     "usage: prodata backup [--type full|diff|incr] [--from-standby] [--pgdata DIR] [--jobs N]\n"
     "                      [--retain-full N] [--retain-days D] [--json]\n"
     "       prodata backup list [--json]\n"
     "       prodata backup info LABEL [--json]\n"
     "       prodata backup verify [--set LABEL] [--jobs N] [--restore [--pg-bin DIR]] [--json]\n"
     "       prodata backup expire [--retain-full N] [--retain-days D] [--dry-run] [--json]\n"
     "       prodata backup restore-point NAME [--json]\n"
     "\n"
     "Takes a base backup of the server (database) into archive_dir, the WAL\n"
     "archive that archive_command fills: pg_backup_start, the data directory's\n"
     "files copied by N threads (zstd as archive_compress says, SHA-256 each,\n"
     "page checksums verified), pg_backup_stop, then its manifest, written last\n"
     "(docs/backup.md). A diff stores the pages changed since the last full\n"
     "backup, an incr those changed since the last backup. Run it on the database\n"
     "server's machine. verify reads every stored file back against its manifest\n"
     "and checks the WAL each backup needs; with --restore it also restores the\n"
     "newest backup (or --set) into a scratch directory, starts PostgreSQL on it\n"
     "and runs amcheck on every index and table; exit 3 on a problem. expire keeps the newest N full backups "
     "and/or\n"
     "what restores to any moment of the last D days, removes the rest and the\n"
     "WAL no kept backup needs. restore-point makes a named point on the server\n"
     "and records it, for restore --target-name.\n"
     "  --type TYPE            full (default), diff (changes since the last full) or incr\n"
     "                         (changes since the last backup)\n"
     "  --from-standby         the server (database) is a standby: copy its files, not the primary's\n"
     "  --pgdata DIR           the data directory (default: the server's data_directory)\n"
     "  --jobs N               copying (verify: reading) threads (default 2)\n"
     "  --set LABEL            verify: this backup only\n"
     "  --restore              verify: also restore the backup and check it with amcheck\n"
     "  --pg-bin DIR           verify --restore: PostgreSQL's programs (default\n"
     "                         /usr/lib/postgresql/MAJOR/bin)\n"
     "  --retain-full N        expire, and after a backup: keep the newest N full backups\n"
     "                         (default: backup_retain_full)\n"
     "  --retain-days D        expire, and after a backup: keep what restores to any moment of\n"
     "                         the last D days (default: backup_retain_days)\n"
     "  --dry-run              expire: say what would be removed, remove nothing\n"
     "  --json                 progress and outcome as JSON lines\n",
     {{"--type", true},
      {"--from-standby", false},
      {"--pgdata", true},
      {"--jobs", true},
      {"--json", false},
      {"--set", true},
      {"--restore", false},
      {"--pg-bin", true},
      {"--retain-full", true},
      {"--retain-days", true},
      {"--dry-run", false}},
     2,
     &pd_settings_archive},
    {"restore",
     cmd_restore,
     "write a backup into a new data directory, to recover to a chosen moment",
     "usage: prodata restore --pgdata DIR [--delta] [--set LABEL] [--jobs N]\n"
     "         [--start [--port N] [--wait S]] [--pg-bin DIR] [--no-target-check]\n"
     "         [--target-time T | --target-lsn LSN | --target-xid XID | --target-name NAME | "
     "--target-immediate]\n"
     "         [--target-exclusive] [--target-action promote|pause|shutdown]\n"
     "         [--target-timeline current|latest|N] [--archive-mode off|preserve]\n"
     "         [--as-standby] [--max-age S] [--tablespace-map OID=DIR,...] [--tablespace-root DIR]\n"
     "\n"
     "Writes the backup (--set, or the newest that ends before the target) into\n"
     "DIR, which must be empty or absent (with --delta: the cluster's own data\n"
     "directory, stopped, where only what differs is rewritten), checking every file against its\n"
     "manifest, with restore_command (wal-fetch from archive_dir) and the target\n"
     "in postgresql.auto.conf and recovery.signal. Start PostgreSQL on DIR to\n"
     "recover. Without a target recovery replays all the archived WAL. A target\n"
     "the archived WAL does not reach is refused before anything is written.\n"
     "  --start                start PostgreSQL on DIR and wait until the target is reached; say where\n"
     "  --port N               the restored copy's port (into its postgresql.auto.conf)\n"
     "  --wait S               --start: wait at most S seconds for the target (default 3600)\n"
     "  --pg-bin DIR           PostgreSQL's programs: pg_waldump checks the target, pg_ctl --start\n"
     "                         (default /usr/lib/postgresql/MAJOR/bin)\n"
     "  --delta                DIR holds this cluster (stopped): keep the files and pages that match,\n"
     "                         rewrite the others, remove what the backup does not hold\n"
     "  --target-time T        a time with its offset: '2026-12-01 10:30:00+00'\n"
     "  --target-lsn LSN       a WAL position: 0/5000028\n"
     "  --target-xid XID       a transaction id\n"
     "  --target-name NAME     a restore point (pg_create_restore_point)\n"
     "  --target-immediate     stop as soon as the backup is consistent\n"
     "  --target-exclusive     stop just before the target instead of just after\n"
     "  --target-action A      at the target: promote (default), pause or shutdown\n"
     "  --target-timeline T    the timeline to recover along: latest (PostgreSQL's default), current or N\n"
     "  --no-target-check      do not check with pg_waldump that the archived WAL reaches the target\n"
     "                         (for WAL archived after the restore, before PostgreSQL starts)\n"
     "  --archive-mode M       off (default: the copy does not archive into this repository) or preserve\n"
     "  --as-standby           the copy is to become a standby: no target, no recovery settings or\n"
     "                         recovery.signal written (add standby.signal and primary_conninfo); the "
     "keeper's way\n"
     "  --max-age S            refuse when the backup chosen ended more than S seconds ago\n"
     "  --tablespace-map M     OID=DIR,...: those tablespaces restored into DIR (absent or empty), not "
     "where\n"
     "                         they were\n"
     "  --tablespace-root DIR  every other tablespace restored into DIR/OID\n",
     {{"--pgdata", true},
      {"--set", true},
      {"--jobs", true},
      {"--target-time", true},
      {"--target-lsn", true},
      {"--target-xid", true},
      {"--target-name", true},
      {"--target-immediate", false},
      {"--target-exclusive", false},
      {"--target-action", true},
      {"--target-timeline", true},
      {"--archive-mode", true},
      {"--delta", false},
      {"--start", false},
      {"--port", true},
      {"--wait", true},
      {"--pg-bin", true},
      {"--no-target-check", false},
      {"--as-standby", false},
      {"--max-age", true},
      {"--tablespace-map", true},
      {"--tablespace-root", true}},
     0,
     &pd_settings_archive},
    {"keeper",
     cmd_keeper,
     "run this node's keeper: its PostgreSQL kept in the cluster (etcd)",
     "usage: prodata keeper [--config FILE] [--name=value ...]\n"
     "\n"
     "Runs in the foreground: keeps a lease in etcd, publishes this member's\n"
     "state, initialises the first primary or clones a standby, follows the\n"
     "leader, takes over when the leader's lease ends, restarts a crashed\n"
     "postmaster in place while it leads, and rejoins a former primary by\n"
     "pg_rewind. A fence guard process kills a primary's PostgreSQL before its\n"
     "lease can end, even if the keeper hangs or dies. SIGTERM or SIGINT: a\n"
     "primary's PostgreSQL is stopped, then its leader key released, so a standby\n"
     "takes over at once. The keeper settings (prodata config --surface keeper)\n"
     "come from prodata.conf, PRODATA_* variables and --name=value options.\n",
     {{NULL, false}},
     0,
     &pd_settings_keeper},
    {"cluster",
     cmd_cluster,
     "the cluster in etcd: status, history, configuration, pause, resume, remove, switchover, failover",
     "usage: prodata cluster status [--json]\n"
     "       prodata cluster history [--json]\n"
     "       prodata cluster config [--json]\n"
     "       prodata cluster config set FIELD=VALUE... [--if-revision N] [--json]\n"
     "       prodata cluster pause [--json]\n"
     "       prodata cluster resume [--json]\n"
     "       prodata cluster remove NODE\n"
     "       prodata cluster switchover [--to NODE] [--timeout SECONDS] [--json]\n"
     "       prodata cluster failover --to NODE [--allow-data-loss] [--timeout SECONDS] [--json]\n"
     "\n"
     "status shows every member (role, state, PostgreSQL address, timeline, lag,\n"
     "sync state, what a stalled step waits for; roster members without a live key\n"
     "as down) and, without a leader, what happens next; history the failovers\n"
     "and switchovers (time, from, to, reason, timeline, LSN). remove NODE takes a\n"
     "member out of the roster for good (its keeper must be stopped first).\n"
     "config shows the cluster configuration every keeper runs on (etcd key\n"
     "<etcd_prefix>/<cluster_name>/config; the defaults while it is absent);\n"
     "config set changes fields of it with a compare-and-swap: a change that meets\n"
     "another is applied again on the newer document. Fields: synchronous_mode (on,\n"
     "off), synchronous_quorum, ttl_s, loop_interval_ms, maximum_lag_on_failover_bytes,\n"
     "paused (true, false), postgresql_parameters.NAME (an empty value removes it),\n"
     "pg_hba (client rules), failsafe_mode (on, off), failsafe_grant_ms,\n"
     "failsafe_timeout_ms, backup_full_every_s, backup_incr_every_s,\n"
     "backup_verify_every_s (0: off), backup_on (standby, primary) (docs/ha.md,\n"
     "\"Cluster configuration\", \"Scheduled backups\").\n"
     "pause sets paused=true (maintenance: the keepers take no automatic action,\n"
     "no failover), resume sets it back. switchover hands the leadership over with no\n"
     "loss: the leader stops PostgreSQL cleanly and releases the key to NODE (without\n"
     "--to, the most advanced streaming standby), which promotes once it holds the\n"
     "leader's last record; the old primary rejoins it as a standby. failover --to NODE\n"
     "promotes NODE when no member leads (with a leader: a switchover to NODE); when\n"
     "NODE may lack acknowledged writes it refuses, printing how many bytes, unless\n"
     "--allow-data-loss. Both wait for the outcome (--timeout, default 60 s).\n"
     "etcd is found through the keeper settings\n"
     "(etcd_endpoints, etcd_prefix, cluster_name).\n"
     "Exit 0 done, 1 refused (changed concurrently, etcd refused, a live keeper, a\n"
     "switchover's check or the leader's refusal),\n"
     "2 invalid field or value (or a key in etcd that does not parse), 4 etcd gave\n"
     "no answer: a change may or may not be applied (switchover, failover: not done\n"
     "within --timeout; the outcome is unknown).\n"
     "  --json                 status, history, config: as JSON\n"
     "  --if-revision N        config set: only if the document is still at revision N (0: absent)\n"
     "  --to NODE              switchover, failover: the member to take over\n"
     "  --timeout SECONDS      switchover, failover: the wait for the outcome (default 60; then exit 4)\n"
     "  --allow-data-loss      failover: promote NODE even when it may lack acknowledged writes\n",
     {{"--json", false},
      {"--if-revision", true},
      {"--to", true},
      {"--timeout", true},
      {"--allow-data-loss", false}},
     CLI_MAX_ARGS,
     &pd_settings_keeper},
    {"demo",
     cmd_demo,
     "the highly available bookstore on this machine (etcd, three keepers, serve)",
     "usage: prodata demo [foreground | stop]\n"
     "\n"
     "Starts, under one directory (/tmp/prodata-demo as root, /tmp/prodata-demo-USER\n"
     "as a user, or PRODATA_DEMO_DIR), a single-member etcd and three keepers\n"
     "(one primary, two standbys, synchronous mode, WAL archived), migrates and\n"
     "seeds the bookstore example through the multi-host conninfo, and serves it;\n"
     "prints the conninfo, the cluster's status, how to kill the primary, and curl\n"
     "commands. A second run reuses the data; stop stops all it started, and so\n"
     "does Ctrl-C while it starts. foreground stays after the summary until Ctrl-C,\n"
     "then stops all it started. It is\n"
     "make demo's script (scripts/demo.sh with examples/bookstore), found in\n"
     "PRODATA_DEMO_HOME, the source tree this binary was built in, or\n"
     "PREFIX/share/prodata after make install. Ports: PRODATA_DEMO_PORT=N moves them\n"
     "all (PostgreSQL N..N+2, etcd N+3 and N+13, the keepers' APIs N+4..N+6, serve\n"
     "N+7); without it 54331-54333, 23790, 18008-18010, 8000. PRODATA_DEMO_ETCD_PORT,\n"
     "PRODATA_DEMO_API_PORT, PRODATA_DEMO_HTTP_PORT move one each. A port in use\n"
     "stops it before anything starts, naming the setting to change.\n",
     {{NULL, false}},
     1,
     NULL,
     false,
     true},
};
#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

/* To stdout when asked for, to stderr when the command line was wrong. */
static void
print_help(FILE *out)
{
    fprintf(out, "prodata %s - models, migrations and REST on PostgreSQL\n\n", PD_VERSION);
    fprintf(out, "usage: prodata <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        fprintf(out, "  %-16s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'prodata <command> --help' describes one command.\n");
    fprintf(out, "Exit codes: 0 success, 1 failure, 2 usage or input error, 3 differences found, 4 outcome\n"
                 "unknown (etcd gave no answer to trust).\n");
}

/* `prodata config --surface serve` takes serve's settings as options: the surface is known before parsing. */
static const char *surface_option = NULL;

/* The settings table a command reads. */
static const PdSettingTable *
command_settings(const CliCommand *command)
{
    if (strcmp(command->name, "config") == 0 && surface_option != NULL &&
        pd_cli_surface(surface_option) != NULL)
        return pd_cli_surface(surface_option);
    return command->settings != NULL ? command->settings : &pd_settings_migrate;
}

static void
find_surface(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
    {
        if (strcmp(argv[i], "--surface") == 0 && i + 1 < argc)
            surface_option = argv[i + 1];
        else if (strncmp(argv[i], "--surface=", 10) == 0)
            surface_option = argv[i] + 10;
    }
}

/* The command's usage, then the settings from its table. */
static int
print_command_help(const CliCommand *command)
{
    if (command->is_without_settings)
    {
        printf("%s", command->usage);
        return 0;
    }
    PdArena *arena = pd_arena_new(0);
    const char *settings = arena != NULL ? pd_settings_help(arena, command_settings(command)) : NULL;
    printf("%s\nSettings (each also PRODATA_<NAME>, or a line \"name = value\" in the settings file):\n"
           "  %-24s %s\n%s",
           command->usage, "--config FILE",
           "the settings file (default ./" CLI_SETTINGS_FILE " when present)",
           settings != NULL ? settings : "");
    pd_arena_free(arena);
    if (settings == NULL)
    {
        fprintf(stderr, "prodata: error: out of memory\n");
        return 1;
    }
    return 0;
}

bool
cli_has_flag(const CliArgs *args, const char *flag, const char **value)
{
    for (int i = 0; i < args->flag_count; i++)
    {
        if (strcmp(args->flags[i], flag) == 0)
        {
            if (value != NULL)
                *value = args->flag_values[i];
            return true;
        }
    }
    return false;
}

static const CliFlag *
find_flag(const CliCommand *command, const char *name, size_t length)
{
    for (size_t i = 0;
         i < sizeof(command->flags) / sizeof(command->flags[0]) && command->flags[i].name != NULL; i++)
        if (strlen(command->flags[i].name) == length && strncmp(command->flags[i].name, name, length) == 0)
            return &command->flags[i];
    return NULL;
}

/* "--lock-timeout-ms" and "--lock_timeout_ms" both name the setting lock_timeout_ms. */
static char *
setting_name(PdArena *arena, const char *option, size_t length)
{
    char *name = pd_arena_strndup(arena, option + 2, length - 2);
    for (char *c = name; c && *c; c++)
        if (*c == '-')
            *c = '_';
    return name;
}

/* An unknown option, with the setting it was probably meant to be. */
static bool
unknown_option(PdArena *arena, const CliCommand *command, const char *arg, size_t name_length,
               const char *name, PdError *err)
{
    pd_error_set(err, PD_ERR_USAGE, "%s: unknown option \"%.*s\"", command->name, (int)name_length, arg);
    const PdSettingTable *table = command_settings(command);
    const char *suggestion = command->is_without_settings ? NULL : pd_settings_suggest(table, name);
    if (suggestion != NULL)
        pd_error_hint(err, "Did you mean %s?",
                      pd_settings_option(arena, pd_settings_find(table, suggestion)));
    return false;
}

static bool
parse_args(PdArena *arena, const CliCommand *command, int argc, char **argv, CliArgs *args, PdError *err)
{
    memset(args, 0, sizeof(*args));
    for (int i = 0; i < argc; i++)
    {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0 || strcmp(arg, "--") == 0)
        {
            if (args->positional_count >= command->max_positional)
                return pd_error_set(err, PD_ERR_USAGE, "%s: unexpected argument \"%s\"", command->name, arg);
            args->positional[args->positional_count++] = arg;
            continue;
        }
        const char *equals = strchr(arg, '=');
        size_t name_length = equals ? (size_t)(equals - arg) : strlen(arg);
        const char *value = equals ? equals + 1 : NULL;
        const CliFlag *flag = find_flag(command, arg, name_length);
        char *name = setting_name(arena, arg, name_length);
        bool is_config = strcmp(name, "config") == 0 && !command->is_without_settings;
        bool is_setting = flag == NULL && !is_config && !command->is_without_settings &&
                          pd_settings_find(command_settings(command), name) != NULL;
        if (flag == NULL && !is_config && !is_setting)
            return unknown_option(arena, command, arg, name_length, name, err);
        bool takes_value = flag == NULL || flag->takes_value;
        if (takes_value && value == NULL)
        {
            if (i + 1 >= argc)
                return pd_error_set(err, PD_ERR_USAGE, "%s: option %s needs a value", command->name, arg);
            value = argv[++i];
        }
        else if (!takes_value && value != NULL)
            return pd_error_set(err, PD_ERR_USAGE, "%s: option %.*s takes no value", command->name,
                                (int)name_length, arg);
        if (args->flag_count >= CLI_MAX_ARGS || args->override_count >= CLI_MAX_ARGS)
            return pd_error_set(err, PD_ERR_USAGE, "%s: too many options", command->name);
        if (is_config)
            args->config_path = value;
        else if (is_setting)
            args->overrides[args->override_count++] =
                (PdSettingOverride){name, pd_arena_strndup(arena, arg, name_length), value};
        else
        {
            args->flags[args->flag_count] = flag->name;
            args->flag_values[args->flag_count++] = value;
        }
    }
    return true;
}

static bool
wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

int
main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0)
    {
        print_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0)
    {
        printf("prodata %s\n", PD_VERSION);
        return 0;
    }
    const CliCommand *command = NULL;
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            command = &commands[i];
    if (command == NULL)
    {
        fprintf(stderr, "prodata: error: unknown command \"%s\"\nHINT: prodata --help lists the commands.\n",
                argv[1]);
        return 2;
    }
    find_surface(argc - 2, argv + 2);
    if (wants_help(argc - 2, argv + 2))
    {
        return print_command_help(command);
    }
    PdArena *arena = pd_arena_new(0);
    if (arena == NULL)
    {
        fprintf(stderr, "prodata: error: out of memory\n");
        return 1;
    }
    PdError err;
    pd_error_clear(&err);
    CliArgs args;
    bool is_done =
        parse_args(arena, command, argc - 2, argv + 2, &args, &err) && command->run(arena, &args, &err);
    int exit_code = 0;
    if (!is_done && command->is_quiet_not_found && err.code == PD_ERR_NOT_FOUND)
        exit_code = pd_error_exit_code(err.code);
    else if (!is_done)
    {
        cli_print_error(&err);
        if (err.code == PD_ERR_USAGE && err.hint[0] == '\0')
            fprintf(stderr, "HINT: prodata %s --help shows the usage.\n", command->name);
        exit_code = pd_error_exit_code(err.code);
    }
    pd_arena_free(arena);
    return exit_code;
}
