#!/usr/bin/python3
"""scaling.py - how makemigrations' time grows with the size of a model file.

    bench/migrate/scaling.py [SHAPE ...]     all shapes when none is named
    SCALE=2 bench/migrate/scaling.py         every size doubled
    PRODATA=/path/to/prodata                 the binary (default build/prodata)

Each shape is one large but plausible input, generated here at three sizes,
each twice the one before. For every size the "from" state is written by an
untimed `prodata makemigrations`, then the model file is changed (or not) and
`prodata makemigrations --dry-run` is timed: parsing both states, checking
them and planning (best of REPS runs). The process's CPU time (user + system)
is the figure compared, as the machine may be shared; the wall time is
printed beside it. The ratio column divides a CPU time by the one at half the
size: about 2 means linear, 4 quadratic, 8 cubic. No database is needed. Times are printed,
never asserted; a run past TIMEOUT seconds prints as "> TIMEOUT".
"""
import os
import platform
import resource
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRODATA = os.environ.get("PRODATA", os.path.join(ROOT, os.environ.get("PRODATA_BUILD", "build"), "prodata"))
WORK = os.environ.get("BENCH_DIR", "/tmp/prodata-bench-scaling")
SCALE = float(os.environ.get("SCALE", "1"))
REPS = int(os.environ.get("REPS", "3"))
TIMEOUT = float(os.environ.get("TIMEOUT", "300"))


def model(name, lines, table=None, renamed_from=None):
    head = ["model %s {" % name]
    if table is not None:
        head.append('  table "%s"' % table)
    if renamed_from is not None:
        head.append("  renamed_from %s" % renamed_from)
    return "\n".join(head + ["  " + line for line in lines] + ["}", ""])


# Each shape gives (from_text, to_text) for a size n.
def fields_unchanged(n):
    text = model("Wide", ["f%d int" % i for i in range(n)])
    return text, text


def fields_renamed(n):
    return (model("Wide", ["f%d int" % i for i in range(n)]),
            model("Wide", ["g%d int renamed_from=f%d" % (i, i) for i in range(n)]))


def models_unchanged(n):
    text = "\n".join(model("M%d" % i, ["name string(40)", "size int"]) for i in range(n))
    return text, text


def table_rename_chain(n):
    # Model i moves to the table model i+1 leaves: each rename waits for the next one.
    return ("\n".join(model("M%d" % i, ["size int"], table="t%d" % i) for i in range(n)),
            "\n".join(model("M%d" % i, ["size int"], table="t%d" % (i + 1)) for i in range(n)))


def models_renamed(n):
    return ("\n".join(model("M%d" % i, ["size int"]) for i in range(n)),
            "\n".join(model("N%d" % i, ["size int"], renamed_from="M%d" % i) for i in range(n)))


def choices(n):
    values = ", ".join("c%d" % i for i in range(n))
    return "", model("Pick", ["kind string(16) choices(%s)" % values])


def ordering_terms(n):
    return "", model("Wide", ["f%d int" % i for i in range(n)] + ["ordering " + ", ".join(
        "f%d" % i for i in range(n))])


def index_columns(n):
    return "", model("Wide", ["f%d int" % i for i in range(n)] + ["index(%s) name=\"wide_all_idx\"" % ", ".join(
        "f%d" % i for i in range(n))])


def fk_chain(n):
    # Each model points at the one before it, written last first: the sort follows the whole chain.
    return "", "\n".join(model("M%d" % i, ["prev M%d" % (i - 1)] if i > 0 else ["size int"])
                         for i in reversed(range(n)))


SHAPES = [
    ("fields_unchanged", "one model, n fields, no change", fields_unchanged, 500),
    ("fields_renamed", "one model, n fields all renamed", fields_renamed, 500),
    ("models_unchanged", "n models, no change", models_unchanged, 10000),
    ("models_renamed", "n models all renamed", models_renamed, 2000),
    ("table_rename_chain", "n tables renamed t_i -> t_i+1", table_rename_chain, 500),
    ("choices", "one field with n choices (initial)", choices, 10000),
    ("ordering_terms", "one model, ordering of n fields (initial)", ordering_terms, 10000),
    ("index_columns", "one model, index of n fields (initial)", index_columns, 5000),
    ("fk_chain", "n models, each a foreign key to the next (initial)", fk_chain, 5000),
]


def cpu_of_children():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(args, cwd):
    """(cpu seconds, wall seconds) of one prodata run; None past TIMEOUT."""
    t0, c0 = time.perf_counter(), cpu_of_children()
    try:
        p = subprocess.run([PRODATA] + args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return None
    if p.returncode != 0:
        sys.exit("scaling: prodata %s exited %d in %s:\n%s" % (" ".join(args), p.returncode, cwd, p.stderr[-2000:]))
    return cpu_of_children() - c0, time.perf_counter() - t0


def measure(shape, n):
    before, after = shape(n)
    folder = os.path.join(WORK, "%s-%d" % (shape.__name__, n))
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(os.path.join(folder, "migrations"))
    models = os.path.join(folder, "models.pdm")
    if before:
        with open(models, "w") as fh:
            fh.write(before)
        if run(["makemigrations"], folder) is None:
            return None
    with open(models, "w") as fh:
        fh.write(after)
    best = None
    for _ in range(REPS):
        seconds = run(["makemigrations", "--dry-run", "--allow-destructive"], folder)
        if seconds is None:
            return None
        best = seconds if best is None else min(best, seconds)
        if best[0] > 5:
            break
    return best


def main():
    wanted = sys.argv[1:]
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                         universal_newlines=True).stdout.strip()
    print("bench/migrate/scaling.py: prodata %s (commit %s), best of %d, SCALE=%g" % (PRODATA, rev, REPS, SCALE))
    print("machine: %s, %d cores, loadavg %s" % (platform.platform(), os.cpu_count(),
                                                  open("/proc/loadavg").read().split()[0]))
    print()
    print("| shape | n | cpu s | wall s | cpu ratio to n/2 |")
    print("|---|---:|---:|---:|---:|")
    for name, what, shape, base in SHAPES:
        if wanted and name not in wanted:
            continue
        previous = None
        for step in range(3):
            n = int(base * SCALE) << step
            seconds = measure(shape, n) if previous != "timeout" else None
            if seconds is None:
                print("| %s: %s | %d | - | > %g | - |" % (name, what, n, TIMEOUT), flush=True)
                previous = "timeout"
                continue
            cpu, wall = seconds
            ratio = "%.1f" % (cpu / previous) if isinstance(previous, float) and previous > 0 else "-"
            print("| %s: %s | %d | %.3f | %.3f | %s |" % (name, what, n, cpu, wall, ratio), flush=True)
            previous = cpu
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
