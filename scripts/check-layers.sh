#!/bin/bash
# check-layers.sh - includes point downward only (STYLE.md, "Layout").
#   scripts/check-layers.sh [ROOT]     ROOT defaults to the repository this script is in
#   scripts/check-layers.sh --library  prints libprodata's modules (the Makefile builds the library from them)
# Reads every #include of ROOT/src/*/*.{c,h}, ROOT/include/**/*.h and
# ROOT/tests/**/*.{c,h}, resolves it as the compiler does (the
# including file's folder for "", then include/, then src/, and tests/unit/
# for tests) and fails, printing file:line, the rule and the way out, when:
#   - a module includes a header of a module on its own layer or above it;
#   - libprodata (core, model, migrate, query, db) reaches a module outside it;
#   - a private header (src/<module>/*.h) is included outside its module, except
#     the interface of a module outside libprodata, src/<module>/<module>.h, by a
#     module above it (cli includes src/http/http.h) (a module's tests,
#     tests/unit/<module>/ and tests/pg/test_<module>_*.c, count as the module;
#     other tests use public headers only, but a fuzz target, tests/fuzz/*.c,
#     may include a private header of a module outside libprodata, which has
#     no public one);
#   - a public header (include/prodata/*.h) includes anything but other public
#     headers and the C library's headers (libpq-fe.h in particular);
#   - a header of an outside library owned by one module (libpq-fe.h: db) is
#     included by another: its types stay inside that module (except by the fault
#     tests' tools, tests/ha/*.c, which play an application: a writer through libpq
#     alone, none of prodata's code);
#   - src/ or include/ includes a test helper, or a folder of src/ or a public
#     header is missing from the tables below;
#   - an include this reading cannot follow: a computed one (#include MACRO),
#     one continued on the next line, or one of a file that is not .c or .h
#     (its own includes would go unread). Comments around the directive are
#     skipped and #include_next counts as an include.
# The tables below are the one place the layering is written down.
set -euo pipefail

# module:layer. A module may include its own headers and those of lower layers only.
# query is the object layer over the catalog (model) and the connection (db), so it sits above both.
LAYERS="cli:4 http:3 ha:3 migrate:3 archive:3 query:2 model:1 db:1 core:0"
# The same, as messages show it: "cli -> {http, ha, migrate, archive} -> query -> {model, db} -> core".
LAYERING=$(tr ' ' '\n' <<<"$LAYERS" | awk -F: '
    { group[$2] = group[$2] (group[$2] == "" ? "" : ", ") $1; count[$2]++; if ($2 > top) top = $2 }
    END {
        for (layer = top; layer >= 0; layer--) {
            if (!(layer in group)) continue
            text = text (text == "" ? "" : " -> ") (count[layer] > 1 ? "{" group[layer] "}" : group[layer])
        }
        print text
    }')
# The modules libprodata is built from.
LIBRARY="core model migrate query db"
if [ "${1:-}" = --library ]; then
    echo "$LIBRARY"
    exit 0
fi
ROOT=$(cd "${1:-$(dirname "$0")/..}" && pwd)
cd "$ROOT"

# header:module for the public headers not named after their module.
PUBLIC_OWNERS="pool:db wal:db error:core arena:core strbuf:core export:core log:core retry:core strmap:core settings:core kind:model count:query object:query"
# header:module for outside libraries' headers that only one module may include.
# A name matches also with folders before it (<postgresql/libpq-fe.h>).
EXTERNAL_OWNERS="libpq-fe.h:db libpq-events.h:db postgres_ext.h:db libpq/libpq-fs.h:db"
# What a public header may include besides prodata/*.h: the C11 library (and sys/types.h).
C_HEADERS="assert.h complex.h ctype.h errno.h fenv.h float.h inttypes.h iso646.h limits.h locale.h math.h
 setjmp.h signal.h stdalign.h stdarg.h stdatomic.h stdbool.h stddef.h stdint.h stdio.h stdlib.h
 stdnoreturn.h string.h tgmath.h threads.h time.h uchar.h wchar.h wctype.h sys/types.h"

mapfile -t files < <(find src include tests -name '*.[ch]' -type f 2>/dev/null | sort)
# Every file of the tree, so an include of something else (a .inc) is known to be ours.
tree=$(find src include tests -type f ! -name '*.[ch]' 2>/dev/null | sort)
[ "${#files[@]}" -gt 0 ] || { echo "check-layers: no sources under $ROOT" >&2; exit 1; }

# awk reads the file lists first (which files exist, to resolve includes), then grep's "file:line:text" for
# every line that may be an include directive (awk drops comments and decides).
grep -HnE '^[[:space:]]*(/\*.*\*/[[:space:]]*)*#.*include' "${files[@]}" /dev/null |
    awk -v layers="$LAYERS" -v layering="$LAYERING" -v library="$LIBRARY" -v public_owners="$PUBLIC_OWNERS" \
        -v external_owners="$EXTERNAL_OWNERS" -v c_headers="$C_HEADERS" -v file_list="$(printf '%s\n' "${files[@]}")" -v tree_list="$tree" '
function pairs(text, map,    n, i, kv, parts) {
    n = split(text, parts, /[ \n]+/)
    for (i = 1; i <= n; i++)
        if (split(parts[i], kv, ":") == 2)
            map[kv[1]] = kv[2]
}
function words(text, set,    n, i, parts) {
    n = split(text, parts, /[ \n]+/)
    for (i = 1; i <= n; i++)
        if (parts[i] != "")
            set[parts[i]] = 1
}
# normalize("src/model/../migrate/plan.h") = "src/migrate/plan.h"
function normalize(path,    n, i, parts, out, depth, result) {
    n = split(path, parts, "/")
    depth = 0
    for (i = 1; i <= n; i++) {
        if (parts[i] == "" || parts[i] == ".")
            continue
        if (parts[i] == "..") {
            if (depth > 0)
                depth--
            continue
        }
        out[++depth] = parts[i]
    }
    result = ""
    for (i = 1; i <= depth; i++)
        result = result (i > 1 ? "/" : "") out[i]
    return result
}
function dirname(path) {
    sub(/\/[^\/]*$/, "", path)
    return path
}
# The file of the tree an include names, or "" for an outside header.
function resolve(file, quote, name,    candidate) {
    if (quote == "\"" && (candidate = normalize(dirname(file) "/" name)) in exists)
        return candidate
    if ((candidate = normalize("include/" name)) in exists)
        return candidate
    if ((candidate = normalize("src/" name)) in exists)
        return candidate
    if (file ~ /^tests\// && (candidate = normalize("tests/unit/" name)) in exists)
        return candidate
    return ""
}
function public_module(path,    base) {
    base = path
    sub(/^.*\//, "", base)
    sub(/\.h$/, "", base)
    if (base in public_owner)
        return public_owner[base]
    if (base in layer)
        return base
    return ""
}
# The module and kind (src, public, test) of a file, or "" when it is outside the check.
function classify(file, info,    parts) {
    split(file, parts, "/")
    if (parts[1] == "src") {
        info["module"] = parts[2]
        info["kind"] = "src"
    } else if (parts[1] == "include") {
        info["module"] = public_module(file)
        info["kind"] = "public"
    } else if (parts[1] == "tests") {
        # The unit tests of a module count as the module, and so do its database tests
        # (tests/pg/test_<module>_*.c); other tests (fuzz targets, helpers) as none.
        info["module"] = (parts[2] == "unit" && parts[4] != "") ? parts[3] : "tests"
        if (parts[2] == "pg" && match(parts[3], /^test_[a-z]+_/) && (substr(parts[3], 6, RLENGTH - 6) in layer))
            info["module"] = substr(parts[3], 6, RLENGTH - 6)
        info["kind"] = "test"
    } else {
        return 0
    }
    return 1
}
function violation(where, message) {
    printf "%s: %s\n", where, message > "/dev/stderr"
    violations++
}
function check_layer(where, from, to, target) {
    if (from == to)
        return
    if ((from in in_library) && !(to in in_library))
        violation(where, from " includes " target " of " to ": libprodata (" library ") never reaches " to)
    else if (layer[to] >= layer[from])
        violation(where, from " includes " target " of " to ": includes point down only (" layering "), and " \
                  to " is not below " from)
}
# The module owning an outside header (name, or name after a folder), or "".
function external_module(name,    header) {
    for (header in external_owner)
        if (name == header || substr(name, length(name) - length(header)) == "/" header)
            return external_owner[header]
    return ""
}
function check_include(file, where, module, kind, quote, name,    target, owner, parts) {
    target = resolve(file, quote, name)
    if (target == "") {
        owner = external_module(name)
        if (kind == "public" && !(name in c_header))
            violation(where, "public header includes <" name ">: public headers include only prodata/*.h and " \
                      "the C library headers, so libprodata users need no other package" \
                      (owner != "" ? " (only " owner " may include " name ")" : ""))
        else if (owner != "" && kind != "public" && module != owner && file !~ /^tests\/ha\//)
            violation(where, module " includes " name ", which only " owner " may include: its types stay " \
                      "inside src/" owner)
        return
    }
    if (target !~ /\.[ch]$/)
        violation(where, target " is not a .c or .h file, so the layer check does not read its includes (name " \
                  "it .h)")
    split(target, parts, "/")
    if (parts[1] == "include") {
        owner = public_module(target)
        if (owner == "")
            violation(where, target " belongs to no module: add it to PUBLIC_OWNERS in scripts/check-layers.sh")
        else if (kind != "test")
            check_layer(where, module, owner, target)
    } else if (parts[1] == "src") {
        owner = parts[2]
        if (kind == "public")
            violation(where, "public header includes the private header " target ": public headers include " \
                      "only prodata/*.h and the C library headers")
        else if (owner != module && !(parts[2] in in_library) && parts[3] == owner ".h" && kind != "test")
            check_layer(where, module, owner, target) # the interface of a module outside the library (src/http/http.h)
        else if (owner != module && file ~ /^tests\/fuzz\// && !(owner in in_library))
            return # a fuzz target of a binary-only module (the parsers of src/http)
        else if (owner != module)
            violation(where, module " includes " target ", a private header of " owner ": a private header is " \
                      "included only by its own module (use " owner "'"'"'s public header, or move the " \
                      "declaration there)")
    } else if (parts[1] == "tests" && kind != "test") {
        violation(where, module " includes the test helper " target ": src/ and include/ never include tests/")
    }
}
BEGIN {
    pairs(layers, layer)
    pairs(public_owners, public_owner)
    pairs(external_owners, external_owner)
    words(library, in_library)
    words(c_headers, c_header)
    n = split(tree_list, listed, "\n")
    for (i = 1; i <= n; i++)
        if (listed[i] != "")
            exists[listed[i]] = 1
    n = split(file_list, listed, "\n")
    for (i = 1; i <= n; i++) {
        if (listed[i] == "")
            continue
        exists[listed[i]] = 1
        if (!classify(listed[i], info))
            continue
        checked++
        if (info["kind"] == "src" && !(info["module"] in layer) && !(info["module"] in reported)) {
            violation("src/" info["module"], "module " info["module"] " has no layer: add it to LAYERS in " \
                      "scripts/check-layers.sh")
            reported[info["module"]] = 1
        }
        if (info["kind"] == "public" && listed[i] !~ /^include\/prodata\/[^\/]+\.h$/)
            violation(listed[i], listed[i] " is outside include/prodata/: public headers are " \
                      "include/prodata/*.h (-Iinclude would let anything here be included unchecked)")
        else if (info["kind"] == "public" && info["module"] == "")
            violation(listed[i], listed[i] " belongs to no module: add it to PUBLIC_OWNERS in " \
                      "scripts/check-layers.sh")
    }
}
{
    # file:line:text (a path holds no colon here)
    first = index($0, ":")
    file = substr($0, 1, first - 1)
    rest = substr($0, first + 1)
    second = index(rest, ":")
    line = substr(rest, 1, second - 1)
    text = substr(rest, second + 1)
    if (!classify(file, info))
        next
    if (info["kind"] == "src" && !(info["module"] in layer))
        next
    if (info["kind"] == "public" && info["module"] == "")
        next
    # A comment reads as a space, as the compiler reads it.
    gsub(/\/\*([^*]|\*+[^*\/])*\*+\//, " ", text)
    if (text !~ /^[ \t]*#[ \t]*include(_next)?([^A-Za-z0-9_]|$)/)
        next
    if (!match(text, /^[ \t]*#[ \t]*include(_next)?[ \t]*("[^"]+"|<[^>]+>)/)) {
        violation(file ":" line, "an include the layer check cannot read (a macro, or continued on the next " \
                  "line): write #include \"file\" or #include <file> on one line")
        next
    }
    spec = substr(text, RSTART, RLENGTH)
    sub(/^[ \t]*#[ \t]*include(_next)?[ \t]*/, "", spec)
    quote = substr(spec, 1, 1)
    name = substr(spec, 2, length(spec) - 2)
    check_include(file, file ":" line, info["module"], info["kind"], quote, name)
}
END {
    if (violations > 0) {
        printf "check-layers: %d include(s) break the layering (%s)\n", violations, layering > "/dev/stderr"
        exit 1
    }
    printf "layers: %d files, every include points down (%s)\n", checked, layering
}'
