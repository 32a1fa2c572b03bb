#!/usr/bin/python3
"""Walks a cursor-paginated list by its `next` links and prints the path (with query) of page N.

    walk_cursor.py BASE_URL FIRST_PATH N

Checks on the way that every page has results and that a page's first id follows the previous page's last
(ordering id), so the deep cursor that bench/rest/run.sh loads is the page 1,000 deep a client reaches.
"""
import json
import sys
import urllib.parse
import urllib.request


def fetch(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def main():
    base, first_path, pages = sys.argv[1].rstrip("/"), sys.argv[2], int(sys.argv[3])
    url = base + first_path
    last_id = None
    for number in range(1, pages + 1):
        page = fetch(url)
        results = page.get("results") or []
        if not results:
            sys.exit(f"walk_cursor: page {number} ({url}) has no results")
        if last_id is not None and results[0]["id"] <= last_id:
            sys.exit(f"walk_cursor: page {number} starts at id {results[0]['id']} after {last_id}")
        last_id = results[-1]["id"]
        if number == pages:
            parts = urllib.parse.urlsplit(url)
            print(f"{parts.path}?{parts.query}" if parts.query else parts.path)
            print(results[0]["id"], file=sys.stderr)
            return
        if not page.get("next"):
            sys.exit(f"walk_cursor: page {number} has no next link")
        url = page["next"]


if __name__ == "__main__":
    main()
