#!/usr/bin/python3
"""Prints bench/rest's table from one run's output folder (run.sh's OUT): every system side by side, the
SQL ceiling beside them, and the goals of issue 9 with the ratio each reached.

    report.py OUT

Reads OUT/{drf,fastify,prodata}/samples.tsv (the anchors' bench.sh), OUT/prodata-extra/samples.tsv and
mixed.tsv (prodata.sh), OUT/pgbench/samples.tsv (the anchors' pgbench.sh), OUT/skipped.txt. Per endpoint the
median over the repetitions, as bench.sh's own summary.
"""
import csv
import os
import re
import statistics
import sys


def read_samples(path, key="endpoint"):
    """{name: {column: [values]}} from a samples.tsv; {} when the file is absent."""
    table = {}
    if not os.path.exists(path):
        return table
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            entry = table.setdefault(row[key], {})
            for column, value in row.items():
                try:
                    entry.setdefault(column, []).append(float(value))
                except (TypeError, ValueError):
                    pass
    return table


def median(table, name, column):
    values = table.get(name, {}).get(column)
    return statistics.median(values) if values else None


def cell(table, name):
    rps = median(table, name, "req_per_s")
    if rps is None:
        return "-"
    bad = sum(table[name].get("non2xx", [])) + sum(table[name].get("socket_errors", []))
    text = f"{rps:,.0f} ({median(table, name, 'p50_ms'):.2f} / {median(table, name, 'p99_ms'):.2f})"
    return text + (f" [{bad:.0f} failed]" if bad else "")


def ceiling(pgbench, script):
    tps = median(pgbench, script, "tps")
    return f"{script} {tps:,.0f}" if tps is not None else "-"


def verdict(ratio, goal, extra_ok=True, unit="x"):
    if ratio is None:
        return "not measured"
    met = ratio >= goal and extra_ok
    return f"{ratio:.2f}{unit}: {'met' if met else 'MISSED'}"


def ratio(numerator, denominator):
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def goal_rows(ours, fastify, pgbench, extra):
    """(measure, goal text, result text) for each goal of the issue."""
    rows = []
    for name in ("get", "create"):
        p99 = median(ours, name, "p99_ms")
        r = ratio(median(ours, name, "req_per_s"), median(fastify, name, "req_per_s"))
        result = verdict(r, 1.5, p99 is not None and p99 < 5.0)
        if p99 is not None:
            result += f" (p99 {p99:.2f} ms)"
        rows.append((name, ">= 1.5x Fastify req/s, p99 < 5 ms", result))
    r = ratio(median(ours, "list", "req_per_s"), median(pgbench, "page_json_count", "tps"))
    rows.append(("list with count", ">= 5x pgbench page_json_count", verdict(r, 5.0)))
    r = ratio(median(ours, "filter", "req_per_s"), median(pgbench, "filter_json_count", "tps"))
    rows.append(("filter", ">= 0.9x pgbench filter_json_count", verdict(r, 0.9)))
    r = ratio(median(extra, "cursor_deep", "req_per_s"), median(extra, "cursor_first", "req_per_s"))
    rows.append(("cursor page 1,000 deep", "as fast as the first cursor page (>= 0.9x)", verdict(r, 0.9)))
    on = extra.get("create_counted", {}).get("req_per_s", [])
    off = extra.get("create_uncounted", {}).get("req_per_s", [])
    pairs = [(a, b) for a, b in zip(on, off) if b]
    if pairs:
        # per pair (measured back to back), then the median: the machine's drift between pairs cancels
        slowdowns = [(b - a) / b * 100 for a, b in pairs]
        slowdown = statistics.median(slowdowns)
        each = ", ".join(f"{s:.1f}%" for s in slowdowns)
        rows.append(("create, counters on vs off", "slowdown <= 5%",
                     f"{slowdown:.1f}% (median of {len(pairs)} pairs: {each}): {'met' if slowdown <= 5 else 'MISSED'}"))
    else:
        rows.append(("create, counters on vs off", "slowdown <= 5%", "not measured"))
    return rows


def memory_row(path):
    if not os.path.exists(path):
        return None
    values = {}
    with open(path) as handle:
        for line in handle:
            key, _, value = line.strip().partition("\t")
            values[key] = value
    start, end = float(values["rss_start_kb"]), float(values["rss_end_kb"])
    growth = (end - start) / start * 100 if start else 0.0
    text = (f"{start / 1024:.1f} MiB -> {end / 1024:.1f} MiB (max {float(values['rss_max_kb']) / 1024:.1f}) over "
            f"{values['seconds']} s, {int(float(values['requests'])):,} requests at {float(values['req_per_s']):,.0f}/s")
    failed = int(float(values["non2xx"]) + float(values["socket_errors"]))
    if failed:
        text += f", {failed} failed"
    return text, f"{growth:+.1f}%: {'met' if abs(growth) <= 10 else 'MISSED'}"


def sql_rows(out, ours, extra):
    """prodata's own statement of each request under pgbench beside the request's rate (statements.py)."""
    folder = os.path.join(out, "prodata-sql")
    sql = read_samples(os.path.join(folder, "samples.tsv"), key="script")
    if not sql:
        return
    print()
    print("Where the time goes: the statements prodata serve sent for one request (logged by PostgreSQL), and "
          "the slowest of them alone under pgbench (-c 32 -j 2 -M prepared, parameters as literals):")
    print()
    print("| request | statements, ms in PostgreSQL | that statement under pgbench, tps | prodata req/s | req/s / tps |")
    print("|---|---:|---:|---:|---:|")
    rates = {"get": ours, "list": ours, "filter": ours, "create": ours, "deep_page": extra, "cursor_deep": extra}
    for name, values in sql.items():
        summary = ""
        path = os.path.join(folder, name + ".txt")
        if os.path.exists(path):
            match = re.search(r": (\d+) statement\(s\), ([\d.]+) ms", open(path).readline())
            if match:
                summary = f"{match.group(1)}, {float(match.group(2)):.2f}"
        tps = statistics.median(values["tps"])
        rps = median(rates.get(name, {}), name, "req_per_s")
        share = f"{rps / tps:.2f}" if rps and tps else "-"
        print(f"| {name} | {summary} | {tps:,.0f} | {f'{rps:,.0f}' if rps else '-'} | {share} |")


def main():
    out = sys.argv[1]
    drf = read_samples(os.path.join(out, "drf", "samples.tsv"))
    fastify = read_samples(os.path.join(out, "fastify", "samples.tsv"))
    ours = read_samples(os.path.join(out, "prodata", "samples.tsv"))
    extra = read_samples(os.path.join(out, "prodata-extra", "samples.tsv"))
    pgbench = read_samples(os.path.join(out, "pgbench", "samples.tsv"), key="script")

    print("req/s (p50 / p99 ms), median of the repetitions; wrk -t{} -c{} -d{}s, {} repetitions".format(
        os.environ.get("THREADS", "2"), os.environ.get("CONNECTIONS", "32"), os.environ.get("DURATION", "15"),
        os.environ.get("REPS", "3")))
    print()
    print("| measure | DRF (gunicorn sync4) | Fastify (2 workers) | prodata serve | SQL ceiling, pgbench tps |")
    print("|---|---:|---:|---:|---:|")
    shared = [("get `/api/books/<id>/`", "get", "select_pk_json"),
              ("list page of 50 with count `?page=N`", "list", "page_json_count"),
              ("filter `?price__gte=10&ordering=-published`", "filter", "filter_json_count"),
              ("create `POST /api/books/`", "create", "insert")]
    for label, name, script in shared:
        print(f"| {label} | {cell(drf, name)} | {cell(fastify, name)} | {cell(ours, name)} | {ceiling(pgbench, script)} |")
    only = [("list page 1 by page number", "first_page", None),
            ("list page 1,000 by page number `?page=1000`", "deep_page", None),
            ("cursor: first page", "cursor_first", None),
            ("cursor: page 1,000 deep", "cursor_deep", None),
            ("create, row counters on", "create_counted", "insert"),
            ("create, row counters off", "create_uncounted", "insert")]
    for label, name, script in only:
        print(f"| {label} | | | {cell(extra, name)} | {ceiling(pgbench, script) if script else ''} |")
    memory = memory_row(os.path.join(out, "prodata-extra", "mixed.tsv"))
    if memory:
        print(f"| resident memory, mixed run | | | {memory[0]} | |")
    print()
    print("| goal | target | prodata |")
    print("|---|---|---|")
    for measure, goal, result in goal_rows(ours, fastify, pgbench, extra):
        print(f"| {measure} | {goal} | {result} |")
    print(f"| memory over the mixed run | flat, within 10% | {memory[1] if memory else 'not measured'} |")
    sql_rows(out, ours, extra)
    if pgbench:
        print()
        print("pgbench -c 32 -j 2 (the anchors' pgbench.sh), median tps: " + ", ".join(
            f"{name} {statistics.median(values['tps']):,.0f}" for name, values in pgbench.items()))
    skipped = os.path.join(out, "skipped.txt")
    if os.path.exists(skipped):
        for line in open(skipped):
            print(line.rstrip())


if __name__ == "__main__":
    main()
