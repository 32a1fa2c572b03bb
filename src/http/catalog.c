/*
 * catalog.c - the models the server answers with, as reference-counted
 * generations. A request takes the current generation when it starts and
 * lets it go when it ends; a reload (SIGHUP, or the notification `prodata
 * migrate` sends on the channel prodata_catalog after it applied something)
 * reads the model file into a new generation and swaps it in, so requests
 * under way finish on the old one, freed by the last of them, and no request
 * waits for a reload (PostgREST blocks here, PostgREST#4360). A model file
 * that does not load leaves the running generation in place. The LISTEN
 * thread keeps its own connection (not a pooled one: it waits for hours) and
 * reconnects with backoff; after a reconnect it reloads once, since a
 * migration may have been applied while it was away. Each generation also
 * knows which models' unfiltered counts the row counters can give.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prodata/count.h"
#include "server.h"

/*
 * Run after each BEGIN of a shared create transaction (pd_db_mux_new_group). Its INSERTs into the tables
 * listed in prodata.client_counts add their rows to the row counters themselves (pd_object_create_each's
 * counted_oid); its other inserts are counted by their statements. A database without counters ignores
 * the setting. A lock not granted within 50 ms fails the transaction: its
 * creates run again alone, where a lock wait holds up no one else's create (the group's connection is a
 * pipeline: one waiting statement would stall every create of the loop), and two groups that lock the same
 * keys in crossed order cannot hold each other up until deadlock_timeout.
 */
#define GROUP_BEGIN                                                                                          \
    "SELECT pg_catalog.set_config('prodata.client_counts', %s, true), "                                      \
    "pg_catalog.set_config('lock_timeout', '50ms', true)"

/* model's table's oid when its creates add their own rows (it then joins list). */
static const char *
find_counted_oid(PdHttpCatalog *catalog, PdDb *db, const PdModel *model, PdStrbuf *list)
{
    const char *oid = NULL;
    PdError err;
    pd_error_init(&err);
    if (!pd_query_counter_client_table(catalog->arena, db, catalog->catalog, model, &oid, &err))
    {
        pd_logf(PD_LOG_WARNING, "creates of %s are counted by the counters' triggers: %s", model->name,
                err.message);
        return NULL;
    }
    if (oid == NULL || strspn(oid, "0123456789") != strlen(oid))
        return NULL;
    pd_strbuf_appendf(list, "%s,", oid);
    return oid;
}

/* group_begin with list (",oid,oid," or ",") as its prodata.client_counts. */
static void
make_group_begin(PdHttpCatalog *catalog, PdStrbuf *list)
{
    PdStrbuf literal;
    pd_strbuf_init(&literal, catalog->arena);
    pd_strbuf_append_literal(&literal, pd_strbuf_failed(list) ? "," : pd_strbuf_text(list));
    catalog->group_begin = pd_strbuf_failed(&literal) || pd_strbuf_failed(list)
                               ? NULL
                               : pd_arena_sprintf(catalog->arena, GROUP_BEGIN, pd_strbuf_text(&literal));
}

/*
 * Which models' unfiltered counts may come from the row counters migrate maintains (installed, readable, no
 * row-level security), and whose creates may add their own rows to them: asked once per generation on a
 * connection of the pool's own role. When the database cannot be asked now, none: count(*) is always
 * right, only slower, and creates are then counted by the counters' triggers.
 */
static void
find_counters(PdHttpServer *server, PdHttpCatalog *catalog)
{
    size_t count = catalog->catalog->model_count;
    catalog->has_counter = pd_arena_calloc(catalog->arena, count ? count : 1, sizeof(bool));
    catalog->counted_oid = pd_arena_calloc(catalog->arena, count ? count : 1, sizeof(const char *));
    PdStrbuf list;
    pd_strbuf_init(&list, catalog->arena);
    pd_strbuf_append_char(&list, ',');
    PdDb *db;
    PdError err;
    pd_error_init(&err);
    if (catalog->has_counter == NULL || catalog->counted_oid == NULL || server->pool == NULL ||
        !pd_pool_acquire(server->pool, &db, &err))
    {
        make_group_begin(catalog, &list);
        return;
    }
    for (size_t i = 0; i < count; i++)
    {
        const PdModel *model = &catalog->catalog->models[i];
        pd_error_clear(&err);
        if (!pd_query_counter_available(catalog->arena, db, model, &catalog->has_counter[i], &err))
        {
            catalog->has_counter[i] = false;
            pd_logf(PD_LOG_WARNING, "row counter of %s not usable: %s", model->name, err.message);
        }
        catalog->counted_oid[i] = find_counted_oid(catalog, db, model, &list);
    }
    pd_pool_release(server->pool, db);
    make_group_begin(catalog, &list);
}

bool
pd_http_catalog_load(PdHttpServer *server, PdHttpCatalog **out, PdError *err)
{
    PdHttpCatalog *catalog = calloc(1, sizeof(*catalog));
    if (catalog == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
    catalog->arena = pd_arena_new(0);
    if (catalog->arena == NULL)
    {
        free(catalog);
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory");
    }
    if (!pd_model_load_file(catalog->arena, server->settings->models, &catalog->catalog, err))
    {
        pd_arena_free(catalog->arena);
        free(catalog);
        return false;
    }
    pthread_mutex_init(&catalog->openapi_lock, NULL);
    find_counters(server, catalog);
    catalog->references = 1; /* the server's own, until it is replaced */
    pthread_mutex_lock(&server->catalog_lock);
    catalog->generation = ++server->generation;
    pthread_mutex_unlock(&server->catalog_lock);
    *out = catalog;
    return true;
}

void
pd_http_catalog_free(PdHttpCatalog *catalog)
{
    pthread_mutex_destroy(&catalog->openapi_lock);
    pd_arena_free(catalog->arena);
    free(catalog);
}

PdHttpCatalog *
pd_http_catalog_acquire(PdHttpServer *server)
{
    pthread_mutex_lock(&server->catalog_lock);
    PdHttpCatalog *catalog = server->catalog;
    catalog->references++;
    pthread_mutex_unlock(&server->catalog_lock);
    return catalog;
}

void
pd_http_catalog_release(PdHttpServer *server, PdHttpCatalog *catalog)
{
    pthread_mutex_lock(&server->catalog_lock);
    bool is_last = --catalog->references == 0;
    pthread_mutex_unlock(&server->catalog_lock);
    if (is_last)
        pd_http_catalog_free(catalog);
}

bool
pd_http_server_reload(PdHttpServer *server, PdError *err)
{
    PdHttpCatalog *fresh;
    if (!pd_http_catalog_load(server, &fresh, err))
        return pd_error_context(err, "while reloading the models; the running ones stay");
    pthread_mutex_lock(&server->catalog_lock);
    PdHttpCatalog *old = server->catalog;
    server->catalog = fresh;
    pthread_mutex_unlock(&server->catalog_lock);
    pd_http_catalog_release(server, old);
    pd_logf(PD_LOG_INFO, "models reloaded: generation %llu, %zu models",
            (unsigned long long)fresh->generation, fresh->catalog->model_count);
    return true;
}

/* ---- LISTEN prodata_catalog ---- */

static void
reload_logged(PdHttpServer *server, const char *why)
{
    PdError err;
    pd_error_init(&err);
    if (!pd_http_server_reload(server, &err))
        pd_logf(PD_LOG_ERROR, "%s: %s (%s)", why, err.message, err.context);
}

/* Sleeps ms in small steps, returning early when the server stops. */
static void
pause_unless_stopping(PdHttpServer *server, int ms)
{
    struct timespec step = {0, 100 * 1000 * 1000};
    for (int slept = 0; slept < ms && !atomic_load(&server->is_stopping); slept += 100)
        nanosleep(&step, NULL);
}

/* Waits for notifications on one connection until it fails or the server stops. */
static void
listen_on(PdHttpServer *server, PdDb *db, PdArena *arena)
{
    PdError err;
    pd_error_init(&err);
    while (!atomic_load(&server->is_stopping))
    {
        bool is_received = false;
        char *channel, *payload;
        pd_arena_reset(arena);
        if (!pd_db_wait_notification(arena, db, 250, &is_received, &channel, &payload, &err))
        {
            pd_logf(PD_LOG_WARNING, "reload listener lost its connection: %s", err.message);
            return;
        }
        if (is_received)
            reload_logged(server, "reload after prodata migrate failed");
        else if (atomic_exchange(&server->wants_reload, false))
            reload_logged(server, "reload after the database refused a create's row count failed");
    }
}

static void *
listener_loop(void *data)
{
    PdHttpServer *server = data;
    PdArena *arena = pd_arena_new(0);
    int backoff_ms = 250;
    bool has_listened = false;
    while (arena != NULL && !atomic_load(&server->is_stopping))
    {
        PdDb *db = NULL;
        PdError err;
        pd_error_init(&err);
        if (pd_db_connect(server->settings->database, &db, &err) &&
            pd_db_listen(db, PD_HTTP_RELOAD_CHANNEL, &err))
        {
            if (has_listened) /* a migration may have run while we were away */
                reload_logged(server, "reload after reconnecting failed");
            has_listened = true;
            backoff_ms = 250;
            listen_on(server, db, arena);
        }
        if (db != NULL)
            pd_db_close(db);
        pause_unless_stopping(server, backoff_ms);
        backoff_ms = backoff_ms < 8000 ? backoff_ms * 2 : 8000;
    }
    pd_arena_free(arena);
    return NULL;
}

bool
pd_http_listener_start(PdHttpServer *server, PdError *err)
{
    if (pthread_create(&server->listener_thread, NULL, listener_loop, server) != 0)
        return pd_error_set(err, PD_ERR_INTERNAL, "could not start the reload listener thread");
    server->has_listener_thread = true;
    return true;
}

void
pd_http_listener_stop(PdHttpServer *server)
{
    atomic_store(&server->is_stopping, true);
    if (server->has_listener_thread)
        pthread_join(server->listener_thread, NULL);
    server->has_listener_thread = false;
}
