#!/usr/bin/python3
"""Times prodata's makemigrations / migrate / check on the anchor's generated
N-model project and prints them beside Django's figures, measured by the
anchor's own script in the same run on the same PostgreSQL server.

Every figure is the wall time of one whole process, as a person at a shell
sees it. The state each repetition starts from is rebuilt untimed, as the
anchor does (database dropped and created, CHECKPOINT). Timings are printed,
never asserted.
"""
import glob
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ANCHOR = os.environ.get("ANCHOR", "")
# Without the anchor (run.sh says so): the 200-model project as the anchor generates it, kept in the repo.
MODELS = os.environ.get("BENCH_MODELS", "")
N = int(os.environ.get("N", "200"))
REPS = int(os.environ.get("REPS", "5"))
PRODATA = os.path.join(ROOT, os.environ.get("PRODATA_BUILD", "build"), "prodata")
WORK = os.environ.get("BENCH_DIR", "/tmp/prodata-bench-migrate")
PGBIN = "/usr/lib/postgresql/15/bin"
ENV = dict(os.environ, PGHOST="127.0.0.1",
           PGPORT=os.environ.get("BENCH_PGPORT", os.environ.get("ANCHOR_PGPORT", "55451")),
           PGUSER="postgres", PGDATABASE="prodata_bench")
ENV.pop("PRODATA_CONFIG", None)
DB = "prodata_bench"


def run(argv, expect=0, cwd=WORK):
    t0 = time.perf_counter()
    p = subprocess.run(argv, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=900)
    dt = time.perf_counter() - t0
    if p.returncode != expect:
        sys.exit("bench: %s exited %d (expected %d):\n%s" % (" ".join(argv), p.returncode, expect, p.stdout[-3000:]))
    return dt, p.stdout


def psql(sql, db="postgres"):
    run([os.path.join(PGBIN, "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql])


def fresh_db():
    psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % DB)
    psql('CREATE DATABASE "%s"' % DB)
    psql("CHECKPOINT")


def prodata(*args, expect=0):
    return run([PRODATA] + list(args), expect)


def add_field(pdm_path):
    """The anchor's incremental change: RetailLog gets extra_counter int default=0."""
    with open(pdm_path) as fh:
        text = fh.read()
    marker = "model RetailLog {\n"
    assert marker in text, "RetailLog not in the model file"
    text = text.replace(marker, marker + "  extra_counter  int  default=0\n", 1)
    with open(pdm_path, "w") as fh:
        fh.write(text)


def prepare():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    if MODELS:
        shutil.copy(MODELS, os.path.join(WORK, "models.pdm"))
    else:
        run(["/usr/bin/python3", os.path.join(ANCHOR, "gen_models.py"), str(N), WORK])
        run(["/usr/bin/python3", os.path.join(ROOT, "bench/migrate/gen_pdm.py"),
             os.path.join(WORK, "models.json"), os.path.join(WORK, "models.pdm")])
    shutil.copy(os.path.join(WORK, "models.pdm"), os.path.join(WORK, "models.base.pdm"))
    add_field(os.path.join(WORK, "models.pdm"))
    shutil.copy(os.path.join(WORK, "models.pdm"), os.path.join(WORK, "models.added.pdm"))


def use_models(which):
    shutil.copy(os.path.join(WORK, "models.%s.pdm" % which), os.path.join(WORK, "models.pdm"))


def measure_ours():
    steps = {}

    def rec(key, seconds):
        steps.setdefault(key, []).append(seconds)

    mig = os.path.join(WORK, "migrations")
    for _ in range(REPS):
        use_models("base")
        shutil.rmtree(mig, ignore_errors=True)
        rec("1", prodata("makemigrations")[0])
        fresh_db()
        rec("2", prodata("migrate")[0])
        use_models("added")
        for f in glob.glob(os.path.join(mig, "0002_*.sql")):
            os.remove(f)
        rec("3", prodata("makemigrations")[0])
        rec("4", prodata("migrate")[0])
        rec("5", prodata("makemigrations", "--check")[0])
        rec("6", prodata("migrate")[0])
        rec("7", prodata("check")[0])
    # For scale: PostgreSQL alone running our initial SQL (psql -f, one transaction).
    sql_path = os.path.join(WORK, "0001.sql")
    _, out = prodata("sqlmigrate", "1")
    with open(sql_path, "w") as fh:
        fh.write(out)
    for _ in range(REPS):
        fresh_db()
        rec("2p", run([os.path.join(PGBIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", DB,
                       "-f", sql_path])[0])
    statements = sum(1 for line in out.splitlines() if line.rstrip().endswith(";")) - 2
    _, tables = run([os.path.join(PGBIN, "psql"), "-X", "-At", "-d", DB, "-c",
                     "SELECT (SELECT count(*) FROM pg_tables WHERE schemaname='public'), "
                     "(SELECT count(*) FROM pg_indexes WHERE schemaname='public'), "
                     "(SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid=c.connamespace "
                     "WHERE n.nspname='public')"])
    return steps, statements, tables.strip()


def measure_django():
    if os.environ.get("SKIP_DJANGO") or not ANCHOR:
        return None
    before = set(glob.glob("/tmp/anchor-django-migrate/results/n%d-*" % N))
    subprocess.run([os.path.join(ANCHOR, "run.sh"), str(N)], check=True, stdout=subprocess.DEVNULL)
    after = sorted(set(glob.glob("/tmp/anchor-django-migrate/results/n%d-*" % N)) - before)
    with open(os.path.join(after[-1], "results.json")) as fh:
        data = json.load(fh)
    return {s["step"].split()[0]: s["seconds"] for s in data["steps"]}


ROWS = [
    ("1", "makemigrations, from scratch"),
    ("2", "migrate, empty database"),
    ("1+2", "makemigrations + migrate (the goal: <= 2.2 s)"),
    ("2p", "psql -f of the initial SQL (PostgreSQL alone)"),
    ("3", "makemigrations, one field added"),
    ("4", "migrate, that one migration"),
    ("5", "makemigrations --check, no change (goal <= 20 ms)"),
    ("6", "migrate, nothing to apply"),
    ("7", "prodata check (drift: live catalog vs snapshot)"),
]


def med(xs):
    return statistics.median(xs) if xs else None


def main():
    prepare()
    ours, statements, objects = measure_ours()
    django = measure_django()
    ours["1+2"] = [a + b for a, b in zip(ours["1"], ours["2"])]
    if django:
        django["1+2"] = [a + b for a, b in zip(django["1"], django["2"])]
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                         universal_newlines=True).stdout.strip()
    beside = ("Django 3.2 from the anchor, same run, same PostgreSQL 15" if django else
              "Django skipped (SKIP_DJANGO, or no anchor: see above), PostgreSQL 15")
    print("bench/migrate: N=%d models, prodata %s (commit %s), %d reps of ours; %s (127.0.0.1:%s, fsync on)"
          % (N, "build", rev, REPS, beside, ENV["PGPORT"]))
    print("machine: %s, %d cores, loadavg %s" % (platform.platform(), os.cpu_count(),
                                                  open("/proc/loadavg").read().split()[0]))
    print("our initial migration: %d SQL statements; after it: tables, indexes, constraints = %s" % (statements, objects))
    print()
    print("| step | prodata median s (min-max) | Django median s | Django / prodata |")
    print("|---|---:|---:|---:|")
    for key, what in ROWS:
        o = ours.get(key)
        d = django.get(key) if django else None
        ours_text = "%.3f (%.3f-%.3f)" % (med(o), min(o), max(o)) if o else "-"
        d_text = "%.3f" % med(d) if d else "-"
        ratio = "%.0fx" % (med(d) / med(o)) if o and d and med(o) > 0 else "-"
        print("| %s %s | %s | %s | %s |" % (key, what, ours_text, d_text, ratio))


if __name__ == "__main__":
    main()
