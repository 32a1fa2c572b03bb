#!/usr/bin/python3
"""Where a request's time goes: the statements prodata serve sent for it, from PostgreSQL's log.

    statements.py LOG MARKER OUTDIR

LOG is the server's log written with log_min_duration_statement = 0 (every statement with its duration,
PostgreSQL's default log_line_prefix); MARKER a text that a psql `SELECT 'MARKER'` wrote just before the
request, so only what follows it is read (up to the next `SELECT 'bench-marker-...`). Prints each statement
executed (execute or simple query) with its duration and parameters, and writes the slowest one, its
parameters written in as literals, to OUTDIR/MARKER.sql: a pgbench script, the SQL ceiling of that very
statement.
"""
import os
import re
import sys

ENTRY = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \w+ \[(\d+)\] (\w+):  (.*)$")
TIMED = re.compile(r"^duration: ([\d.]+) ms  (?:(execute) [^:]*|(statement)): (.*)$", re.S)
PARAM = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*')")


def entries(path):
    """(pid, level, text) of each log entry; continuation lines (tab-indented) joined to their entry."""
    current = None
    with open(path, errors="replace") as handle:
        for line in handle:
            line = line.rstrip("\n")
            match = ENTRY.match(line)
            if match:
                if current:
                    yield current
                current = [match.group(1), match.group(2), match.group(3)]
            elif current is not None:
                current[2] += "\n" + line.lstrip("\t")
    if current:
        yield current


def after_marker(path, marker):
    """The timed statements (duration ms, SQL, {n: literal}) logged after MARKER until the next marker."""
    found, statements, last = False, [], {}
    for pid, level, text in entries(path):
        if f"'{marker}'" in text:  # the last time the marker was written counts (a log holds earlier runs)
            found, statements, last = True, [], {}
            continue
        if not found:
            continue
        if "bench-marker-" in text:
            found = False
            continue
        if level == "DETAIL":
            # The parameters of the entry just before, when that was an execute (a bind logs them too).
            if text.startswith("parameters:") and last.get(pid) is not None:
                last[pid][2] = {int(n): value for n, value in PARAM.findall(text)}
            continue
        timed = TIMED.match(text) if level == "LOG" else None
        last[pid] = [float(timed.group(1)), timed.group(4).strip(), {}, pid] if timed else None
        if timed:
            statements.append(last[pid])
    return statements


def with_literals(sql, params):
    """The statement with $n replaced by its logged literal (highest numbers first: $12 before $1)."""
    for number in sorted(params, reverse=True):
        sql = sql.replace(f"${number}", params[number])
    return sql


def main():
    log, marker, outdir = sys.argv[1], sys.argv[2], sys.argv[3]
    statements = after_marker(log, marker)
    print(f"-- {marker}: {len(statements)} statement(s), {sum(s[0] for s in statements):.3f} ms in PostgreSQL")
    for duration, sql, params, _ in statements:
        shown = " ".join(sql.split())
        print(f"--   {duration:8.3f} ms  {shown[:160]}{'...' if len(shown) > 160 else ''}")
        if params:
            print(f"--               parameters: {', '.join(f'${n} = {v}' for n, v in sorted(params.items()))[:160]}")
    if not statements:
        return
    # The work itself, not the transaction around it (BEGIN, the role's set_config, COMMIT).
    work = [s for s in statements if not re.match(r"(?i)\s*(BEGIN|COMMIT|ROLLBACK|SELECT set_config)", s[1])]
    if not work:
        return
    slowest = max(work, key=lambda s: s[0])
    script = os.path.join(outdir, marker + ".sql")
    with open(script, "w") as handle:
        handle.write(f"-- the slowest statement prodata serve sent for {marker}, parameters as literals\n")
        handle.write(with_literals(slowest[1], slowest[2]).rstrip().rstrip(";") + ";\n")


if __name__ == "__main__":
    main()
