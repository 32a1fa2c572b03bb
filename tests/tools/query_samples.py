#!/usr/bin/env python3
"""query_samples.py - one query string per query parameter that an operation of an OpenAPI document lists,
with a value its schema allows, for tests/integration/openapi.sh to send to the server: a parameter the
document offers must be one the server takes (a 200, never a 400 for an unknown or malformed parameter).

    query_samples.py DOC.json PATH [METHOD]      prints "name=value" lines, URL-encoded, in document order
"""
import json
import sys
import urllib.parse


def resolve(doc, node):
    while isinstance(node, dict) and "$ref" in node:
        parts = node["$ref"].lstrip("#/").split("/")
        node = doc
        for part in parts:
            node = node[part]
    return node


def sample(doc, schema):
    """A value (as query text) that the schema allows."""
    schema = resolve(doc, schema)
    if "enum" in schema:
        return str(next(v for v in schema["enum"] if v is not None))
    if "anyOf" in schema:
        return sample(doc, schema["anyOf"][0])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next(t for t in kind if t != "null")
    if kind == "array":
        count = max(schema.get("minItems", 1), 1)
        first = sample(doc, schema["items"])
        return ",".join([first] * count)
    if kind == "boolean":
        return "true"
    if kind == "integer":
        low = schema.get("minimum", 0)
        high = schema.get("maximum", low + 10)
        return str(max(low, min(1, high)))
    if kind == "number":
        return "1.5"
    fmt = schema.get("format")
    pattern = schema.get("pattern", "")
    by_format = {"date": "2024-02-29", "date-time": "2024-02-29T10:00:00+00:00",
                 "uuid": "123e4567-e89b-12d3-a456-426614174000", "email": "a@example.com",
                 "uri": "https://example.com/", "byte": "AAEC", "regex": "^a", "decimal": "1.50"}
    if fmt in by_format:
        return by_format[fmt]
    if pattern.startswith("^\\d{2}:\\d{2}(?::"):
        return "10:30:00"
    if "\\d{2}:\\d{2}:\\d{2}" in pattern:
        return "01:02:03"
    if pattern == "^[-a-zA-Z0-9_]+$":
        return "a-slug"
    return "x"


def main():
    doc = json.load(open(sys.argv[1]))
    path, method = sys.argv[2], (sys.argv[3] if len(sys.argv) > 3 else "get")
    operation = doc["paths"][path][method]
    for parameter in operation.get("parameters", []):
        parameter = resolve(doc, parameter)
        if parameter["in"] != "query" or parameter["name"] == "cursor":  # a cursor comes from a next link
            continue
        value = sample(doc, parameter["schema"])
        print(urllib.parse.urlencode({parameter["name"]: value}))


if __name__ == "__main__":
    main()
