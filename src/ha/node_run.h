/*
 * node_run.h - private to the node files: the node's struct, running one of
 * PostgreSQL's programs within a deadline, files written atomically and owned
 * by the server's account, the local connection.
 */
#ifndef PRODATA_HA_NODE_RUN_H
#define PRODATA_HA_NODE_RUN_H

#include <sys/types.h>

#include "ha/node.h"
#include "prodata/db.h"

enum
{
    PD_NODE_PATH_MAX = 512,
    PD_NODE_OUTPUT_MAX = 4096, /* the tail of a program's output kept (pg_controldata's whole, 2.3 kB) */
};

struct PdNode
{
    PdArena *arena; /* the node's lifetime: the copied configuration */
    PdNodeConfig config;
    char member[48];
    char bin_dir[PD_NODE_PATH_MAX];
    char passfile[PD_NODE_PATH_MAX];
    char log_path[PD_NODE_PATH_MAX];
    char rewind_marker[PD_NODE_PATH_MAX];
    char local_conninfo[PD_NODE_PATH_MAX + 128];
    PdArena *managed; /* the settings and client rules of the last pd_node_update; NULL: in arena */
    struct
    {
        bool is_known; /* pd_node_configure_at ran in this process */
        char host[256];
        int port;
        bool has_sync;
        char sync_names[1024];
        bool has_signal;
    } last;          /* what the last configuration was written with: pd_node_update writes again with it */
    PdDb *status_db; /* pd_node_status's connection, kept between calls; NULL: none open */
    bool is_joining; /* standby: streams as "<member>-joining" (pd_node_set_joining) */
    char cloned_from[640]; /* the last clone's source, and why not the repository when it could have been */
    bool is_root;          /* run programs as os_user */
    uid_t os_uid;
    gid_t os_gid;
};

/* A program's run: its exit status (-1 when killed at the deadline) and its output's last bytes. */
typedef struct PdNodeRunResult
{
    int exit_code;
    bool is_timed_out;
    char output[PD_NODE_OUTPUT_MAX];
} PdNodeRunResult;

/*
 * Runs bin_dir/program with argv (argv[0] included, NULL-terminated) as the
 * server's account, in its own process group, stdin from /dev/null, output
 * captured; PGPASSFILE is set to the node's passfile. Past timeout_ms the group
 * gets SIGTERM, then SIGKILL a second later. False only when it could not be
 * started (PD_ERR_IO); a failure of the program is in *result.
 */
bool pd_node_exec(PdNode *node, const char *const *argv, int timeout_ms, PdNodeRunResult *result,
                  PdError *err);

/* Sets err from a program's failure: PD_ERR_LOCK_TIMEOUT or PD_ERR_INTERNAL, its last output lines in the
 * detail. Returns false. */
bool pd_node_exec_error(const char *what, int timeout_ms, const PdNodeRunResult *result, PdError *err);

/* The absolute path of a program in bin_dir into path. */
void pd_node_program(const PdNode *node, const char *program, char *path, size_t size);

/* Writes text to path through path.tmp (fsync, rename, directory fsync), mode 0600, owned by the server's
 * account. PD_ERR_IO. */
bool pd_node_write_file(PdNode *node, const char *path, const char *text, PdError *err);

/* Makes dir (0700, owned by the server's account) when missing. PD_ERR_IO. */
bool pd_node_make_dir(PdNode *node, const char *dir, PdError *err);

/* Removes a directory tree (no symlink followed). PD_ERR_IO. A missing one is fine. */
bool pd_node_remove_tree(const char *dir, PdError *err);

/* Connects to the local server as its superuser, bounded (2 s to connect, 5 s a statement). */
bool pd_node_connect(PdNode *node, PdDb **db, PdError *err);

/* Writes the passfile (state_dir/pgpass, 0600): the replication role's password for any host. */
bool pd_node_write_passfile(PdNode *node, PdError *err);

/* pd_node_configure on the data directory dir (a clone's before it takes data_dir's place), standby.signal
 * present only when has_signal. */
bool pd_node_configure_at(PdNode *node, const char *dir, const char *host, int port, const char *sync_names,
                          bool has_signal, PdError *err);

/*
 * Removes postmaster.pid when its postmaster is gone (CRASHED): a pid that
 * the kernel keeps as a zombie until init reaps it would otherwise look
 * alive to PostgreSQL's own check and refuse the start. PD_ERR_IO.
 */
bool pd_node_clear_stale_pid(PdNode *node, PdError *err);

/* The settings and client rules' problems (node_managed.c), each added to *problems. */
void pd_node_check_managed(const PdNodeSetting *settings, size_t setting_count, const char *const *hba_lines,
                           size_t hba_line_count, PdError *problems);

/* Copies settings and client rules into arena and into config. False when out of memory. */
bool pd_node_copy_managed(PdArena *arena, PdNodeConfig *config, const PdNodeSetting *settings,
                          size_t setting_count, const char *const *hba_lines, size_t hba_line_count);

/* Remembers what a configuration was written with (pd_node_configure_at). */
void pd_node_remember_configure(PdNode *node, const char *host, int port, const char *sync_names,
                                bool has_signal);

/* Monotonic milliseconds. */
long long pd_node_now_ms(void);

/* The replication password's SCRAM-SHA-256 verifier (what CREATE ROLE ... PASSWORD stores). */
bool pd_node_scram_verifier(PdArena *arena, const char *password, char **verifier, PdError *err);

#endif
