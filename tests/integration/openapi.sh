#!/bin/bash
# openapi.sh - the OpenAPI document (pd_http_openapi: `prodata openapi` for the bookstore, test_openapi --dump
# for the options the command takes from settings) for the bookstore and for a model file with every kind
# (tests/unit/http/data/every_kind.pdm), checked by real validators installed from the npm registry with
# npm ci (tests/tools: @seriousme/openapi-schema-validator for OpenAPI 3.1, Ajv for every schema as JSON
# Schema 2020-12 in strict mode), with and without the bearer scheme; spot checks with jq that the document
# says what the server does; and proof that the validators refuse a broken document. Without npm or the
# registry the install fails and so does this file: it never skips.
source tests/lib/tap.sh
tap_plan 35
ROOT=$PWD
tap_workdir

run_cmd tests/tools/install.sh
expect_rc "the validators install with npm ci (tests/tools/package-lock.json)" 0
TOOLS=$(dirname "$(tail -1 <<<"$OUT")")
validate() {
    run_cmd node "$TOOLS/validate.mjs" "$@"
}
cd "$TAP_WORKDIR"

BUILD_DIR=${PRODATA_BUILD:-build}
[[ "$BUILD_DIR" = /* ]] || BUILD_DIR="$ROOT/$BUILD_DIR"
OPENAPI="$BUILD_DIR/tests/unit/http/test_openapi"
run_cmd "$OPENAPI" --dump "$ROOT/tests/unit/http/data/no_such.pdm"
expect_rc "a model file that cannot be read is an error" 1
expect_out "the error names the problem" 'no_such\.pdm'

"$PRODATA" openapi --models "$ROOT/examples/bookstore/models.pdm" >bookstore.json 2>err.txt
expect_eq "prodata openapi writes the bookstore's document" "$?" 0
validate bookstore.json
expect_rc "the bookstore's document is valid OpenAPI 3.1 and JSON Schema 2020-12" 0
expect_out "the validator read version 3.1" '^valid: OpenAPI 3\.1, [0-9]+ schemas compiled'

"$OPENAPI" --dump "$ROOT/examples/bookstore/models.pdm" --bearer-auth --anonymous >auth.json
validate auth.json
expect_rc "with the bearer scheme it is valid too" 0
expect_eq "the scheme is a bearer JWT" "$(jq -r '.components.securitySchemes.bearerAuth | .scheme + " " + .bearerFormat' auth.json)" "bearer JWT"

"$OPENAPI" --dump "$ROOT/tests/unit/http/data/every_kind.pdm" >every_kind.json
validate every_kind.json
expect_rc "a model file with every kind gives a valid document" 0

# What the document says, against what the server does (docs/serve.md, the REST conventions).
expect_eq "list, create and item paths with trailing slashes" \
    "$(jq -r '.paths | keys | map(select(startswith("/api/books"))) | join(" ")' bookstore.json)" \
    "/api/books/ /api/books/{id}/"
expect_eq "decimal is a string with its digits" \
    "$(jq -r '.components.schemas.Book.properties.price | .type + " " + .pattern' bookstore.json)" \
    'string ^\d{0,6}(?:\.\d{1,2})?$'
expect_eq "choices are an enum" "$(jq -c '.components.schemas.Book.properties.status.enum' bookstore.json)" \
    '["draft","published"]'
expect_eq "a nullable date is a type array" "$(jq -c '.components.schemas.Author.properties.born.type' bookstore.json)" \
    '["string","null"]'
params=$(jq -r '.paths["/api/books/"].get.parameters[] | .name // .["$ref"]' bookstore.json)
missing=""
for name in '#/components/parameters/page' '#/components/parameters/cursor' '#/components/parameters/pagination' \
    ordering search fields expand \
    price__gte price__range title__icontains published__year published__date__lt author__in tags in_stock \
    status__in; do
    grep -qxF -- "$name" <<<"$params" || missing="$missing $name"
done
expect_eq "the list of books takes pagination, ordering, search, fields, expand and filters" "$missing" ""
expect_eq "a bool has no order lookups" "$(grep -cxE 'in_stock__(gt|gte|lt|lte|range)' <<<"$params")" 0
expect_eq "an __in filter is a comma list" \
    "$(jq -r '.paths["/api/books/"].get.parameters[] | select(.name == "status__in") | "\(.style) \(.explode) \(.schema.type)"' bookstore.json)" \
    "form false array"
expect_eq "ordering offers the fields both ways" \
    "$(jq -r '.paths["/api/books/"].get.parameters[] | select(.name == "ordering") | .schema.items.anyOf[0].enum | map(select(. == "-published" or . == "title")) | sort | join(",")' bookstore.json)" \
    "-published,title"
expect_eq "a page is count, next, previous, results" \
    "$(jq -r '.components.schemas["Book.Page"].required | join(",")' bookstore.json)" "count,next,previous,results"
expect_eq "a cursor page has no count" \
    "$(jq -r '.components.schemas["Book.CursorPage"].required | join(",")' bookstore.json)" "next,previous,results"
expect_eq "a 400 is a map of fields to messages" \
    "$(jq -r '.components.schemas["error.FieldErrors"].additionalProperties.items.type' bookstore.json)" "string"
expect_eq "the other errors are {detail}" \
    "$(jq -r '[.components.responses[] | .content["application/json"].schema["$ref"] // empty] | unique | join(" ")' bookstore.json)" \
    "#/components/schemas/error.Detail"
expect_eq "a 400 is a map of fields, a {detail} (malformed JSON) or a bulk create's array" \
    "$(jq -c '.components.responses.BadRequest.content["application/json"].schema.anyOf | map(.["$ref"] // .type)' bookstore.json)" \
    '["#/components/schemas/error.FieldErrors","#/components/schemas/error.Detail","array"]'
# The switches and answers the server has (docs/serve.md): ?pagination=cursor, the cursor's 404, the 414.
expect_eq "?pagination= takes cursor" "$(jq -c '.components.parameters.pagination.schema.enum' bookstore.json)" '["cursor"]'
expect_eq "a cursor that does not verify is documented as the 404 it is" \
    "$(jq -r '.components.parameters.cursor.description | test("404 \\{\"detail\": \"Invalid cursor\"\\}")' bookstore.json)" true
expect_eq "every operation documents the 414 for a request target over 16 KB" \
    "$(jq -c '[.paths[][] | objects | select(has("responses")) | .responses["414"]["$ref"]] | unique' bookstore.json)" \
    '["#/components/responses/UriTooLong"]'
expect_eq "search says its bound" \
    "$(jq -r '.paths["/api/books/"].get.parameters[] | select(.name == "search") | .description | test("At most 10 words")' bookstore.json)" true
echo '{"detail": "Request-URI too long (at most 16384 bytes)."}' >too_long.json
validate bookstore.json --response /api/books/ get 414 too_long.json
expect_rc "the server's 414 body matches the document" 0
echo '{"detail": "JSON parse error - end of file expected near x"}' >parse_error.json
validate bookstore.json --response '/api/books/{id}/' patch 400 parse_error.json
expect_rc "... and a malformed body's 400" 0
expect_eq "operationIds are unique" \
    "$(jq -r '[.paths[][] | objects | .operationId | select(. != null)] | (length == (unique | length))' every_kind.json)" \
    "true"
expect_eq "an own primary key names the item path" \
    "$(jq -r '.paths | keys | map(select(startswith("/api/items/"))) | join(" ")' every_kind.json)" \
    "/api/items/ /api/items/{code}/"

# The validators are not a formality: each refuses a document broken in its own way.
jq '.components.schemas.Book.properties.title.type = "strng"' bookstore.json >broken_type.json
validate broken_type.json
expect_rc "a misspelt type is refused" 1
jq '.components.schemas.Book.properties.title.maxLenght = 3' bookstore.json >broken_keyword.json
validate broken_keyword.json
expect_out "an unknown keyword is refused" 'unknown keyword: "maxLenght"'
jq '(.paths["/api/books/"].get.parameters[] | select(.name == "ordering") | .in) = "body"' bookstore.json >broken_parameter.json
validate broken_parameter.json
expect_out "a parameter in the body (OpenAPI 2's way) is not OpenAPI 3.1" 'not a valid OpenAPI document'
jq '.paths["/api/books/"].get.responses["200"].content["application/json"].schema.anyOf[0]["$ref"] = "#/components/schemas/Nope"' \
    bookstore.json >broken_ref.json
validate broken_ref.json
expect_rc "a reference to nothing is refused" 1

# A body that contradicts the schema is refused by the response check the serve tests use.
echo '{"count": 1, "next": null, "previous": null, "results": [{"id": 1, "price": 12.5}]}' >wrong_body.json
validate bookstore.json --response /api/books/ get 200 wrong_body.json
expect_rc "a list body with a numeric price does not match the document" 1
