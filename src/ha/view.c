/*
 * view.c - the keeper's view: the one snapshot the keeper loop and the HTTP
 * API's thread share. A publish copies the caller's strings into fresh
 * buffers first, then swaps them in under the mutex and frees the old ones
 * after it is released, so the mutex is held for a struct copy only and a
 * failed copy leaves the view as it was. A read copies everything out under
 * the mutex into the reader's arena: what a request holds never changes under
 * it and never points into the view.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ha/view.h"

struct PdKeeperView
{
    pthread_mutex_t mutex;
    bool has_snapshot;
    PdKeeperSnapshot snapshot; /* its strings are the two below */
    char *member_json;         /* malloc'd, or NULL */
    char *cluster_json;
};

static void
empty_snapshot(PdKeeperSnapshot *snapshot)
{
    *snapshot = (PdKeeperSnapshot){.lag_bytes = -1};
}

bool
pd_keeper_view_new(PdKeeperView **view, PdError *err)
{
    PdKeeperView *made = calloc(1, sizeof *made);
    if (made == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the keeper's view");
    if (pthread_mutex_init(&made->mutex, NULL) != 0)
    {
        free(made);
        return pd_error_set(err, PD_ERR_NO_MEMORY, "could not make the keeper view's mutex");
    }
    empty_snapshot(&made->snapshot);
    *view = made;
    return true;
}

void
pd_keeper_view_free(PdKeeperView *view)
{
    if (view == NULL)
        return;
    pthread_mutex_destroy(&view->mutex);
    free(view->member_json);
    free(view->cluster_json);
    free(view);
}

/* A malloc'd copy of text (NULL stays NULL), refused past max bytes. */
static bool
copy_bounded(const char *text, size_t max, const char *field, char **copy, PdError *err)
{
    *copy = NULL;
    if (text == NULL)
        return true;
    size_t length = strnlen(text, max + 1);
    if (length > max)
        return pd_error_set(err, PD_ERR_TOO_LARGE, "the keeper's %s is longer than %zu bytes", field, max);
    *copy = malloc(length + 1);
    if (*copy == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the keeper's %s", field);
    memcpy(*copy, text, length + 1);
    return true;
}

bool
pd_keeper_view_publish(PdKeeperView *view, const PdKeeperSnapshot *snapshot, PdError *err)
{
    char *member_json, *cluster_json;
    if (!copy_bounded(snapshot->member_json, PD_KEEPER_VIEW_MEMBER_MAX, "member_json", &member_json, err))
        return false;
    if (!copy_bounded(snapshot->cluster_json, PD_KEEPER_VIEW_CLUSTER_MAX, "cluster_json", &cluster_json, err))
    {
        free(member_json);
        return false;
    }
    pthread_mutex_lock(&view->mutex);
    char *old_member = view->member_json, *old_cluster = view->cluster_json;
    view->snapshot = *snapshot;
    view->snapshot.member_json = view->member_json = member_json;
    view->snapshot.cluster_json = view->cluster_json = cluster_json;
    view->has_snapshot = true;
    pthread_mutex_unlock(&view->mutex);
    free(old_member);
    free(old_cluster);
    return true;
}

/* text copied into arena (NULL stays NULL); false when the arena refuses. */
static bool
copy_out(PdArena *arena, const char *text, const char **copy)
{
    *copy = NULL;
    if (text == NULL)
        return true;
    *copy = pd_arena_strdup(arena, text);
    return *copy != NULL;
}

bool
pd_keeper_view_read(PdArena *arena, PdKeeperView *view, PdKeeperSnapshot *snapshot, PdError *err)
{
    PdKeeperSnapshot copy;
    pthread_mutex_lock(&view->mutex);
    copy = view->snapshot;
    bool is_copied = copy_out(arena, view->member_json, &copy.member_json) &&
                     copy_out(arena, view->cluster_json, &copy.cluster_json);
    pthread_mutex_unlock(&view->mutex);
    if (!is_copied)
        return pd_arena_error(arena, err);
    *snapshot = copy;
    return true;
}

bool
pd_keeper_view_has_snapshot(PdKeeperView *view)
{
    pthread_mutex_lock(&view->mutex);
    bool has_snapshot = view->has_snapshot;
    pthread_mutex_unlock(&view->mutex);
    return has_snapshot;
}

void
pd_keeper_view_renewed(PdKeeperView *view, int64_t lease_id, int64_t fence_at_mono_ms)
{
    pthread_mutex_lock(&view->mutex);
    if (view->has_snapshot && lease_id != 0 && view->snapshot.lease_id == lease_id)
        view->snapshot.leader_until_mono_ms = fence_at_mono_ms;
    pthread_mutex_unlock(&view->mutex);
}

bool
pd_keeper_view_cluster_json(PdArena *arena, const char *leader, const PdMemberState *members, size_t count,
                            const PdClusterConfig *config, char **json, PdError *err)
{
    json_t *array = json_array();
    for (size_t i = 0; array != NULL && i < count; i++)
    {
        char *member = NULL;
        if (!pd_member_json(arena, &members[i], &member, err))
        {
            json_decref(array);
            return false;
        }
        json_array_append_new(array, json_loads(member, 0, NULL));
    }
    json_t *root = json_pack(
        "{s:o, s:b, s:s, s:i, s:I, s:i, s:o}", "leader", leader != NULL ? json_string(leader) : json_null(),
        "paused", config->is_paused, "synchronous_mode", config->is_synchronous ? "on" : "off",
        "synchronous_quorum", config->synchronous_quorum, "maximum_lag_on_failover_bytes",
        (json_int_t)config->maximum_lag_on_failover_bytes, "ttl_s", config->ttl_s, "members", array);
    char *text = root != NULL ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    *json = text != NULL ? pd_arena_strdup(arena, text) : NULL;
    free(text);
    if (*json == NULL)
        return pd_error_set(err, PD_ERR_NO_MEMORY, "out of memory for the cluster document");
    return true;
}
