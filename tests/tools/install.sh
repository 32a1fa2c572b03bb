#!/bin/bash
# install.sh - installs the npm tools the tests run (package.json, pinned by package-lock.json) into
# $PRODATA_BUILD/tools with `npm ci`: the same versions on every machine, nothing global. Done again only
# when the lock file changed. Without npm, or when the npm registry cannot be reached, it fails loudly
# (exit 1): a test that needs the tools must not pass or skip without them.
#   tests/tools/install.sh      prints the node_modules folder on success
set -euo pipefail
cd "$(dirname "$0")/../.."
TOOLS=${PRODATA_BUILD:-build}/tools
if ! command -v npm >/dev/null 2>&1; then
    echo "tools: npm is missing: run make deps (it installs Debian's npm when the machine has none)" >&2
    exit 1
fi
mkdir -p "$TOOLS"
if ! cmp -s tests/tools/package-lock.json "$TOOLS/package-lock.json" || [ ! -d "$TOOLS/node_modules" ]; then
    cp tests/tools/package.json tests/tools/package-lock.json "$TOOLS/"
    if ! (cd "$TOOLS" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >npm.log 2>&1); then
        echo "tools: npm ci failed in $TOOLS (is the npm registry reachable?):" >&2
        tail -20 "$TOOLS/npm.log" >&2
        rm -f "$TOOLS/package-lock.json"
        exit 1
    fi
fi
cp tests/tools/validate.mjs "$TOOLS/"
echo "$(cd "$TOOLS" && pwd)/node_modules"
