#!/usr/bin/env python3
"""gen_pdm.py - converts the Django anchor's models.json into a prodata model file.

    python3 gen_pdm.py models.json out.pdm

models.json comes from /work/shared/anchors/django-migrate/gen_models.py (see
that folder's README for its keys). The result describes the same schema in
our language, with Django's table, join-table, index and constraint names
kept (table "genapp_x", through="...", name="..."), so the two engines build
comparable databases. Django's `blank` is a form-level rule with no database
effect and is dropped; CheckConstraint `f >= v` becomes check(>= v) on f, whose
name prodata derives (<table>_<column>_check). Standard library only.
"""
import json
import re
import sys

SIMPLE_TYPES = {
    "TextField": "text",
    "IntegerField": "int",
    "BigIntegerField": "bigint",
    "SmallIntegerField": "smallint",
    "BooleanField": "bool",
    "FloatField": "float",
    "DateField": "date",
    "TimeField": "time",
    "DateTimeField": "timestamptz",
    "DurationField": "duration",
    "UUIDField": "uuid",
    "JSONField": "json",
    "BinaryField": "binary",
}
LENGTH_TYPES = {"CharField": "string", "EmailField": "email", "SlugField": "slug", "URLField": "url"}
ON_DELETE = {"CASCADE": "cascade", "PROTECT": "protect", "SET_NULL": "set_null",
             "RESTRICT": "restrict", "SET_DEFAULT": "set_default"}
WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def quote(text):
    out = ['"']
    for ch in str(text):
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def literal(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return quote(value)


def field_type(field):
    kind = field["type"]
    if kind in SIMPLE_TYPES:
        return SIMPLE_TYPES[kind]
    if kind in LENGTH_TYPES:
        return "%s(%d)" % (LENGTH_TYPES[kind], field["max_length"])
    if kind == "DecimalField":
        return "decimal(%d,%d)" % (field["max_digits"], field["decimal_places"])
    if kind in ("ForeignKey", "OneToOneField"):
        return field["to"]
    if kind == "ManyToManyField":
        return field["to"] + "[]"
    raise SystemExit("gen_pdm: unsupported field type %s" % kind)


def default_text(field):
    value = field["default"]
    if isinstance(value, dict):
        return {"now": "now", "uuid4": "uuid"}[value["call"]]
    if field["type"] == "DecimalField":
        return str(value)  # Django writes decimals as strings: "0.00" is the number 0.00
    return literal(value)


def field_line(field, checks):
    kind = field["type"]
    words = [field["name"], field_type(field)]
    if kind == "ManyToManyField":
        if "through_table" in field:
            words.append("through=" + quote(field["through_table"]))
        return words
    if kind == "OneToOneField":
        words.append("one_to_one")
    if field.get("null"):
        words.append("null")
    unique = field.get("unique") and kind != "OneToOneField"
    if unique:
        words.append("unique")
    # Django indexes slugs and foreign keys by default, as we do; a unique field needs no second index.
    if field.get("db_index") and not unique and kind not in ("SlugField", "ForeignKey", "OneToOneField"):
        words.append("index")
    if field.get("db_index") is False and kind in ("SlugField", "ForeignKey"):
        words.append("no_index")
    if "default" in field:
        words.append("default=" + default_text(field))
    for op, value in checks.get(field["name"], []):
        words.append("check(%s %s)" % (op, literal(value)))
    if field.get("choices"):
        items = []
        for value, label in field["choices"]:
            shown = value if isinstance(value, str) and WORD.match(value) else literal(value)
            items.append("%s %s" % (shown, quote(label)))
        words.append("choices(%s)" % ", ".join(items))
    if kind in ("ForeignKey", "OneToOneField"):
        words.append("on_delete=" + ON_DELETE[field["on_delete"]])
    return words


def model_lines(model):
    meta = model.get("meta", {})
    checks = {}
    uniques = []
    for constraint in meta.get("constraints", []):
        if constraint["type"] == "CheckConstraint":
            check = constraint["check"]
            checks.setdefault(check["field"], []).append((check["op"], check["value"]))
        elif constraint["type"] == "UniqueConstraint":
            uniques.append(constraint)
        else:
            raise SystemExit("gen_pdm: unsupported constraint %s" % constraint["type"])
    lines = ["model %s {" % model["name"], "  table %s" % quote(model["table"])]
    rows = [field_line(field, checks) for field in model["fields"]]
    width = max([len(row[0]) for row in rows] + [0])
    for row in rows:
        lines.append("  %s %s" % (row[0].ljust(width), " ".join(row[1:])))
    if meta.get("ordering"):
        lines.append("  ordering " + ", ".join(meta["ordering"]))
    for constraint in uniques:
        lines.append("  unique(%s) name=%s" % (", ".join(constraint["fields"]), quote(constraint["name"])))
    for index in meta.get("indexes", []):
        lines.append("  index(%s) name=%s" % (", ".join(index["fields"]), quote(index["name"])))
    lines.append("}")
    return lines


def main(argv):
    if len(argv) != 3:
        raise SystemExit("usage: gen_pdm.py models.json out.pdm")
    with open(argv[1], encoding="utf-8") as source:
        data = json.load(source)
    out = ["# generated by bench/migrate/gen_pdm.py from %s models.json (seed %s, %d models)"
           % (data.get("generator", "?"), data.get("seed", "?"), len(data["models"]))]
    for model in data["models"]:
        out.append("")
        out.extend(model_lines(model))
    with open(argv[2], "w", encoding="utf-8") as target:
        target.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main(sys.argv)
