#!/bin/bash
# check-exports.sh - libprodata.so exports exactly its public API.
#   scripts/check-exports.sh LIBRARY.so HEADER_DIR     (CC and CPPFLAGS from the environment)
# Fails when the shared library exports a symbol that does not start with pd_
# (a module-private function that lost its `static` or its hidden visibility),
# or when a function declared in HEADER_DIR/*.h is not exported (a public
# header without PD_API_BEGIN/PD_API_END, see export.h, or a declaration
# nothing defines). The declarations are read from the preprocessed headers, so
# comments and macros (pd_error_set is one) are not taken for functions.
set -euo pipefail
lib=$1
header_dir=$2
CC=${CC:-cc}
[ -f "$lib" ] || { echo "check-exports: $lib not found" >&2; exit 1; }

# AddressSanitizer adds an ODR indicator, __odr_asan.<name>, beside each exported global: judged by <name>.
exported=$(nm -D --defined-only "$lib" | awk 'NF == 3 { print $3 }' | sed -e 's/@.*//' -e 's/^__odr_asan\.//' | sort -u)
bad_names=$(grep -v '^pd_' <<<"$exported" | grep -vxE '_init|_fini|_edata|_end|__bss_start' || true)

# Every header at once; keep only the text that comes from HEADER_DIR (linemarkers
# name the file), cut it into declarations at ';' and take the pd_ names followed by
# '(' from the declarations that are not static (inline helpers are not exported).
includes=$(for header in "$header_dir"/*.h; do printf '#include "%s"\n' "$(realpath "$header")"; done)
# shellcheck disable=SC2086
declared=$(printf '%s\n' "$includes" | "$CC" -E ${CPPFLAGS:-} -x c - |
    awk -v dir="$(realpath "$header_dir")/" '
        /^# [0-9]+ "/ { file = $3; gsub(/"/, "", file); ours = (index(file, dir) == 1); next }
        ours { text = text " " $0 }
        END { print text }' |
    tr ';{}' '\n\n\n' | grep -v '\bstatic\b' | grep -oE '\bpd_[A-Za-z0-9_]+[[:space:]]*\(' |
    tr -d '( \t' | sort -u)
missing=$(comm -23 <(printf '%s\n' "$declared") <(printf '%s\n' "$exported") | grep . || true)

status=0
if [ -n "$bad_names" ]; then
    echo "check-exports: $lib exports symbols outside the pd_ prefix (make them static, or name them pd_<module>_... and leave them out of the public headers):" >&2
    sed 's/^/    /' <<<"$bad_names" >&2
    status=1
fi
if [ -n "$missing" ]; then
    echo "check-exports: declared in $header_dir but not exported by $lib (is the declaration between PD_API_BEGIN and PD_API_END? is it defined?):" >&2
    sed 's/^/    /' <<<"$missing" >&2
    status=1
fi
[ "$status" = 0 ] && echo "exports: $(wc -l <<<"$exported") pd_ symbols, every public declaration exported"
exit $status
