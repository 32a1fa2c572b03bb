/*
 * check_writes.c - judges what the writers of a fault trial were told against what the final primary holds:
 * acknowledged rows, acknowledged rows lost, the write unavailability a writer saw, and split brain. It reads
 * writer CSVs (writer.c names the columns) and, with --present, the rows on the final primary as
 * `psql -Atc 'select n, label from T'` prints them (n|label). It judges only; the trial is the test's.
 *
 * Acknowledged: an attempt whose result is ok (the server answered the commit). unsure (committed locally,
 * the wait for synchronous replication cancelled) is counted apart and never as acknowledged for loss: a
 * synchronous cluster does not promise to keep it. Lost: an acknowledged (label, n) that is not present.
 *
 * Per writer (label), with --fault-ms F (CLOCK_REALTIME ms, as in the CSVs):
 *   unavailability = from F to the first acknowledgement after F by a server other than the one that
 *     acknowledged last before F (any server when none did): a failover as a client sees it;
 *   recovery = from F to the first acknowledgement after the first failed attempt sent after F (the same
 *     server restarted in place counts): Patroni's anchor measures this one;
 *   longest gap = the longest time between two consecutive acknowledgements (by done_ms), F or not.
 *
 * Split brain, over every writer together. An acknowledged write (ok or unsure) committed at some instant in
 * [send_ms, done_ms] of its attempt. A term is a (server, timeline) pair: a server that is demoted and
 * promoted again comes back on a new timeline, so a failback is a new term. Terms are ordered by the done_ms
 * of their first acknowledgement. Terms X before Y are in split brain when X acknowledged a write whose
 * attempt was sent after Y's first acknowledgement came back: send(x) > done(first(Y)), so x certainly
 * committed after Y's first commit, and both servers took writes at once (or X wrote on a timeline Y had
 * already left behind). A handover where the old term's last acknowledgement was sent before the new term's
 * first came back is not split brain: those commits may have been in order. Without a timeline (a writer
 * that could not read it) a term is the server alone.
 *
 * Exit 0; 1 on split brain, or on a lost row when --sync says the run was synchronous; 2 on bad usage or
 * input.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELD_COUNT 11
#define NONE INT64_MIN

typedef enum
{
    RESULT_OK,
    RESULT_ERROR,
    RESULT_UNSURE
} Result;

typedef struct Row
{
    long long n;
    char label[65];
    int64_t send_ms;
    int64_t done_ms;
    Result result;
    char server[160];
    char timeline[16];
} Row;

typedef struct Present
{
    long long n;
    char label[65];
} Present;

typedef struct Rows
{
    Row *items;
    size_t count;
    size_t capacity;
} Rows;

typedef struct Term
{
    const char *server;
    const char *timeline;
    const Row *first;     /* the acknowledgement that came back first */
    const Row *last_sent; /* the acknowledged attempt sent last */
    size_t acks;
} Term;

typedef struct Options
{
    const char *present_path;
    int64_t fault_ms;
    bool is_sync;
} Options;

static void *
grow(void *items, size_t *capacity, size_t size)
{
    *capacity = *capacity == 0 ? 256 : *capacity * 2;
    void *bigger = realloc(items, *capacity * size);
    if (bigger == NULL)
    {
        fputs("check_writes: out of memory\n", stderr);
        exit(2);
    }
    return bigger;
}

static bool
copy_text(char *dst, size_t size, const char *text)
{
    if (strlen(text) >= size)
        return false;
    strcpy(dst, text);
    return true;
}

static bool
parse_int64(const char *text, int64_t *out)
{
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0')
        return false;
    *out = value;
    return true;
}

/* Splits line in place at commas into at most FIELD_COUNT fields; the last keeps any further commas. */
static int
split_fields(char *line, char **fields)
{
    int count = 0;
    fields[count++] = line;
    for (char *p = line; *p != '\0' && count < FIELD_COUNT; p++)
        if (*p == ',')
        {
            *p = '\0';
            fields[count++] = p + 1;
        }
    return count;
}

static bool
row_parse(char *line, Row *row)
{
    char *f[FIELD_COUNT];
    int64_t n;
    if (split_fields(line, f) != FIELD_COUNT || !parse_int64(f[0], &n) || !parse_int64(f[2], &row->send_ms) ||
        !parse_int64(f[3], &row->done_ms) || !copy_text(row->label, sizeof row->label, f[1]) ||
        !copy_text(row->server, sizeof row->server, f[6]) ||
        !copy_text(row->timeline, sizeof row->timeline, f[8]))
        return false;
    row->n = n;
    if (strcmp(f[4], "ok") == 0)
        row->result = RESULT_OK;
    else if (strcmp(f[4], "error") == 0)
        row->result = RESULT_ERROR;
    else if (strcmp(f[4], "unsure") == 0)
        row->result = RESULT_UNSURE;
    else
        return false;
    return true;
}

/* Appends the attempts of one writer CSV (its header line skipped). */
static bool
rows_read(const char *path, Rows *rows)
{
    FILE *in = fopen(path, "r");
    if (in == NULL)
    {
        fprintf(stderr, "check_writes: cannot read %s: %s\n", path, strerror(errno));
        return false;
    }
    char line[1024];
    int line_no = 0;
    bool is_valid = true;
    while (is_valid && fgets(line, sizeof line, in) != NULL)
    {
        line_no++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line_no == 1 && strncmp(line, "n,", 2) == 0)
            continue;
        if (rows->count == rows->capacity)
            rows->items = grow(rows->items, &rows->capacity, sizeof(Row));
        is_valid = row_parse(line, &rows->items[rows->count]);
        if (is_valid)
            rows->count++;
        else
            fprintf(stderr, "check_writes: %s:%d: not a writer line\n", path, line_no);
    }
    fclose(in);
    return is_valid;
}

static int
present_cmp(const void *a, const void *b)
{
    const Present *x = a, *y = b;
    int by_label = strcmp(x->label, y->label);
    if (by_label != 0)
        return by_label;
    return (x->n > y->n) - (x->n < y->n);
}

/* Reads "n|label" lines, sorted for lookup. */
static bool
present_read(const char *path, Present **out, size_t *count)
{
    FILE *in = fopen(path, "r");
    if (in == NULL)
    {
        fprintf(stderr, "check_writes: cannot read %s: %s\n", path, strerror(errno));
        return false;
    }
    Present *items = NULL;
    size_t capacity = 0, used = 0;
    char line[256];
    int64_t n;
    bool is_valid = true;
    while (is_valid && fgets(line, sizeof line, in) != NULL)
    {
        line[strcspn(line, "\r\n")] = '\0';
        char *bar = strchr(line, '|');
        if (used == capacity)
            items = grow(items, &capacity, sizeof(Present));
        is_valid = bar != NULL && (*bar = '\0', parse_int64(line, &n)) &&
                   copy_text(items[used].label, sizeof items[used].label, bar + 1);
        if (is_valid)
            items[used++].n = n;
        else
            fprintf(stderr, "check_writes: %s: \"%s\" is not n|label\n", path, line);
    }
    fclose(in);
    qsort(items, used, sizeof(Present), present_cmp);
    *out = items;
    *count = used;
    return is_valid;
}

static bool
is_present(const Present *present, size_t count, const Row *row)
{
    Present key = {.n = row->n};
    strcpy(key.label, row->label);
    return bsearch(&key, present, count, sizeof(Present), present_cmp) != NULL;
}

static int
done_cmp(const void *a, const void *b)
{
    const Row *x = *(const Row *const *)a, *y = *(const Row *const *)b;
    if (x->done_ms != y->done_ms)
        return (x->done_ms > y->done_ms) - (x->done_ms < y->done_ms);
    return (x->n > y->n) - (x->n < y->n);
}

/* The acknowledged (ok) attempts of one label, ordered by done_ms; the caller frees the array. */
static const Row **
acks_of(const Rows *rows, const char *label, size_t *count)
{
    const Row **acks = calloc(rows->count + 1, sizeof *acks);
    if (acks == NULL)
        exit(2);
    *count = 0;
    for (size_t i = 0; i < rows->count; i++)
        if (rows->items[i].result == RESULT_OK && strcmp(rows->items[i].label, label) == 0)
            acks[(*count)++] = &rows->items[i];
    qsort(acks, *count, sizeof *acks, done_cmp);
    return acks;
}

/* i such that the gap from acks[i - 1] to acks[i] is the longest; 0 with fewer than two acknowledgements. */
static size_t
widest_gap_at(const Row **acks, size_t count)
{
    size_t widest = 0;
    for (size_t i = 1; i < count; i++)
        if (widest == 0 ||
            acks[i]->done_ms - acks[i - 1]->done_ms > acks[widest]->done_ms - acks[widest - 1]->done_ms)
            widest = i;
    return widest;
}

static int64_t
print_longest_gap(const char *label, const Row **acks, size_t count)
{
    size_t i = widest_gap_at(acks, count);
    if (i == 0)
    {
        printf("writer %s: fewer than two acknowledgements, no gap to measure\n", label);
        return NONE;
    }
    int64_t gap = acks[i]->done_ms - acks[i - 1]->done_ms;
    printf("writer %s: longest gap between acknowledgements %lld ms (n %lld on %s to n %lld on %s)\n", label,
           (long long)gap, acks[i - 1]->n, acks[i - 1]->server, acks[i]->n, acks[i]->server);
    return gap;
}

/* From the fault to the first acknowledgement by another server than the last one before the fault. */
static int64_t
unavailability(const Row **acks, size_t count, int64_t fault_ms, const Row **before, const Row **after)
{
    *before = *after = NULL;
    for (size_t i = 0; i < count && acks[i]->done_ms <= fault_ms; i++)
        *before = acks[i];
    for (size_t i = 0; i < count; i++)
        if (acks[i]->done_ms > fault_ms &&
            (*before == NULL || strcmp(acks[i]->server, (*before)->server) != 0))
        {
            *after = acks[i];
            return acks[i]->done_ms - fault_ms;
        }
    return NONE;
}

/* From the fault to the first acknowledgement after the first failed attempt sent after the fault. */
static int64_t
recovery(const Rows *rows, const char *label, const Row **acks, size_t count, int64_t fault_ms)
{
    const Row *failed = NULL;
    for (size_t i = 0; i < rows->count; i++)
    {
        const Row *row = &rows->items[i];
        if (strcmp(row->label, label) == 0 && row->result == RESULT_ERROR && row->send_ms >= fault_ms &&
            (failed == NULL || row->n < failed->n))
            failed = row;
    }
    if (failed == NULL)
        return NONE;
    for (size_t i = 0; i < count; i++)
        if (acks[i]->n > failed->n)
            return acks[i]->done_ms - fault_ms;
    return NONE;
}

static void
print_ms(const char *key, int64_t value)
{
    if (value == NONE)
        printf(" %s=none", key);
    else
        printf(" %s=%lld", key, (long long)value);
}

/* The attempt counts and availability figures of one writer. */
static void
report_writer(const Rows *rows, const char *label, const Options *options)
{
    size_t attempts = 0, errors = 0, unsure = 0, count;
    for (size_t i = 0; i < rows->count; i++)
        if (strcmp(rows->items[i].label, label) == 0)
        {
            attempts++;
            errors += rows->items[i].result == RESULT_ERROR;
            unsure += rows->items[i].result == RESULT_UNSURE;
        }
    const Row **acks = acks_of(rows, label, &count);
    printf("writer %s: %zu attempts, %zu acknowledged, %zu errors, %zu unsure\n", label, attempts, count,
           errors, unsure);
    int64_t gap = print_longest_gap(label, acks, count);
    int64_t unavailable = NONE, recovered = NONE;
    if (options->fault_ms != NONE)
    {
        const Row *before, *after;
        unavailable = unavailability(acks, count, options->fault_ms, &before, &after);
        recovered = recovery(rows, label, acks, count, options->fault_ms);
        printf(
            "writer %s: last acknowledgement before the fault on %s, first after it on another server: %s\n",
            label, before != NULL ? before->server : "(none)", after != NULL ? after->server : "(none)");
    }
    printf("writer=%s attempts=%zu acknowledged=%zu errors=%zu unsure=%zu", label, attempts, count, errors,
           unsure);
    print_ms("unavailability_ms", unavailable);
    print_ms("recovery_ms", recovered);
    print_ms("longest_gap_ms", gap);
    printf("\n");
    free(acks);
}

/* The terms (server, timeline) of every write that a server took (ok or unsure). */
static Term *
terms_collect(const Rows *rows, size_t *count)
{
    Term *terms = calloc(rows->count + 1, sizeof *terms);
    if (terms == NULL)
        exit(2);
    *count = 0;
    for (size_t i = 0; i < rows->count; i++)
    {
        const Row *row = &rows->items[i];
        if (row->result == RESULT_ERROR)
            continue;
        size_t t = 0;
        while (t < *count &&
               (strcmp(terms[t].server, row->server) != 0 || strcmp(terms[t].timeline, row->timeline)))
            t++;
        if (t == *count)
            terms[(*count)++] =
                (Term){.server = row->server, .timeline = row->timeline, .first = row, .last_sent = row};
        if (row->done_ms < terms[t].first->done_ms)
            terms[t].first = row;
        if (row->send_ms > terms[t].last_sent->send_ms)
            terms[t].last_sent = row;
        terms[t].acks++;
    }
    return terms;
}

static void
print_term(const Term *term)
{
    printf("%s (timeline %s, %zu writes, first n %lld of %s done at %lld)", term->server,
           term->timeline[0] != '\0' ? term->timeline : "unknown", term->acks, term->first->n,
           term->first->label, (long long)term->first->done_ms);
}

/* Every pair of terms in split brain (see the top); the number of such pairs. */
static size_t
report_split_brain(const Rows *rows)
{
    size_t count, pairs = 0;
    Term *terms = terms_collect(rows, &count);
    for (size_t x = 0; x < count; x++)
        for (size_t y = 0; y < count; y++)
        {
            bool is_x_first = terms[x].first->done_ms < terms[y].first->done_ms ||
                              (terms[x].first->done_ms == terms[y].first->done_ms && x < y);
            if (x == y || !is_x_first || terms[x].last_sent->send_ms <= terms[y].first->done_ms)
                continue;
            pairs++;
            printf("split brain: ");
            print_term(&terms[x]);
            printf(" took n %lld of %s sent %lld ms after the first write of ", terms[x].last_sent->n,
                   terms[x].last_sent->label,
                   (long long)(terms[x].last_sent->send_ms - terms[y].first->done_ms));
            print_term(&terms[y]);
            printf("\n");
        }
    if (pairs == 0)
        printf("split brain: none among %zu terms (server, timeline)\n", count);
    free(terms);
    return pairs;
}

/* Acknowledged rows missing from the final primary, and failed attempts whose rows are there. */
static size_t
report_lost(const Rows *rows, const Present *present, size_t present_count, size_t *acknowledged)
{
    size_t lost = 0, ambiguous = 0;
    *acknowledged = 0;
    for (size_t i = 0; i < rows->count; i++)
    {
        const Row *row = &rows->items[i];
        bool is_there = is_present(present, present_count, row);
        if (row->result == RESULT_OK)
        {
            (*acknowledged)++;
            if (!is_there && lost++ < 20)
                printf("lost: n %lld of %s, acknowledged by %s at %lld\n", row->n, row->label, row->server,
                       (long long)row->done_ms);
        }
        else
            ambiguous += is_there;
    }
    printf("lost: %zu of %zu acknowledged rows missing on the final primary; %zu rows there that were not "
           "acknowledged (error or unsure: ambiguous commits)\n",
           lost, *acknowledged, ambiguous);
    return lost;
}

static const char usage[] = "usage: check_writes [--present FILE] [--fault-ms MS] [--sync] WRITER.csv...\n";

static bool
options_parse(int argc, char **argv, Options *options)
{
    static const struct option longs[] = {{"present", required_argument, NULL, 'p'},
                                          {"fault-ms", required_argument, NULL, 'f'},
                                          {"sync", no_argument, NULL, 's'},
                                          {NULL, 0, NULL, 0}};
    *options = (Options){.fault_ms = NONE};
    int opt;
    bool is_valid = true;
    while ((opt = getopt_long(argc, argv, "", longs, NULL)) != -1)
    {
        if (opt == 'p')
            options->present_path = optarg;
        else if (opt == 'f')
            is_valid &= parse_int64(optarg, &options->fault_ms);
        else if (opt == 's')
            options->is_sync = true;
        else
            is_valid = false;
    }
    return is_valid && optind < argc;
}

/* The labels of the rows, each once, in order of appearance. */
static size_t
labels_collect(const Rows *rows, const char **labels)
{
    size_t count = 0;
    for (size_t i = 0; i < rows->count; i++)
    {
        size_t l = 0;
        while (l < count && strcmp(labels[l], rows->items[i].label) != 0)
            l++;
        if (l == count)
            labels[count++] = rows->items[i].label;
    }
    return count;
}

int
main(int argc, char **argv)
{
    Options options;
    Rows rows = {0};
    Present *present = NULL;
    size_t present_count = 0, acknowledged = 0, lost = 0;
    if (!options_parse(argc, argv, &options))
    {
        fputs(usage, stderr);
        return 2;
    }
    for (int i = optind; i < argc; i++)
        if (!rows_read(argv[i], &rows))
            return 2;
    if (options.present_path != NULL && !present_read(options.present_path, &present, &present_count))
        return 2;
    const char **labels = calloc(rows.count + 1, sizeof *labels);
    size_t label_count = labels_collect(&rows, labels);
    for (size_t l = 0; l < label_count; l++)
        report_writer(&rows, labels[l], &options);
    if (options.present_path != NULL)
        lost = report_lost(&rows, present, present_count, &acknowledged);
    size_t split = report_split_brain(&rows);
    printf("summary writers=%zu", label_count);
    if (options.present_path != NULL)
        printf(" acknowledged=%zu lost=%zu", acknowledged, lost);
    printf(" split_brain=%zu\n", split);
    free(labels);
    free(present);
    free(rows.items);
    return (split > 0 || (options.is_sync && lost > 0)) ? 1 : 0;
}
