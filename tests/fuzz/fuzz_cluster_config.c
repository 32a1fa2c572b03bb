/*
 * fuzz_cluster_config.c - the cluster configuration's JSON parser on any
 * bytes (what etcd may hold, written by anyone). It succeeds or gives an
 * input error (never another code), and what it takes passes the checks;
 * the document written back parses to the same document (a fixed point);
 * the first bytes up to a newline, read as "field=value" changes applied to
 * what was parsed, either give a configuration that passes the checks and
 * round-trips too, or an input error that leaves the configuration alone.
 */
#include "fuzz.h"
#include "ha/cluster_config.h"

static void
assert_fixed_point(PdArena *arena, const PdClusterConfig *config)
{
    PdError err;
    FUZZ_ASSERT(pd_cluster_config_check(config, &err), "a taken configuration fails its check: %s",
                err.message);
    char *json = pd_cluster_config_json(arena, config, false, &err);
    FUZZ_ASSERT(json != NULL, "no JSON: %s", err.message);
    PdClusterConfig again;
    FUZZ_ASSERT(pd_cluster_config_parse(arena, json, strlen(json), &again, &err),
                "the written document does not parse: %s\n%s", err.message, json);
    char *json_again = pd_cluster_config_json(arena, &again, false, &err);
    FUZZ_ASSERT(json_again != NULL && strcmp(json, json_again) == 0, "not a fixed point:\n%s\n%s", json,
                json_again);
}

/* Up to 8 assignments from the first line of data, separated by spaces. */
static size_t
split_assignments(PdArena *arena, const uint8_t *data, size_t size, const char **assignments)
{
    const uint8_t *newline = memchr(data, '\n', size);
    size_t length = newline != NULL ? (size_t)(newline - data) : size;
    char *line = pd_arena_strndup(arena, (const char *)data, length);
    size_t count = 0;
    for (char *word = line; word != NULL && *word != '\0' && count < 8;)
    {
        char *space = strchr(word, ' ');
        if (space != NULL)
            *space = '\0';
        if (*word != '\0')
            assignments[count++] = word;
        word = space != NULL ? space + 1 : NULL;
    }
    return count;
}

static void
fuzz_assign(PdArena *arena, PdClusterConfig *config, const uint8_t *data, size_t size)
{
    const char *assignments[8];
    size_t count = split_assignments(arena, data, size, assignments);
    PdClusterConfig before = *config;
    PdError err;
    if (pd_cluster_config_assign(arena, config, assignments, count, &err))
    {
        assert_fixed_point(arena, config);
        return;
    }
    FUZZ_ASSERT(err.code == PD_ERR_INVALID_INPUT, "assign failed with code %d: %s", (int)err.code,
                err.message);
    FUZZ_ASSERT(memcmp(&before, config, sizeof before) == 0, "a refused change altered the configuration");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    PdArena *arena = pd_arena_new(0);
    PdClusterConfig config;
    PdError err;
    if (pd_cluster_config_parse(arena, (const char *)data, size, &config, &err))
        assert_fixed_point(arena, &config);
    else
    {
        FUZZ_ASSERT(err.code == PD_ERR_INVALID_INPUT, "parse failed with code %d: %s", (int)err.code,
                    err.message);
        pd_cluster_config_defaults(&config);
    }
    fuzz_assign(arena, &config, data, size);
    pd_arena_free(arena);
    return 0;
}
