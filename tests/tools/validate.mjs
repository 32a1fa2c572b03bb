// validate.mjs - checks an OpenAPI 3.1 document with real validators, for tests/integration/openapi.sh.
//
//   node validate.mjs DOC.json
//       1. the document against the OpenAPI 3.1 schema (@seriousme/openapi-schema-validator);
//       2. every schema in it (components, parameters, headers, bodies, answers) compiled by Ajv as JSON
//          Schema 2020-12 in strict mode: the OpenAPI schema checks schema objects only for being objects,
//          so this is what catches a wrong keyword, a misspelt type, a bad pattern or an unresolved $ref.
//   node validate.mjs DOC.json --response PATH METHOD STATUS BODY.json
//       validates a body the server sent against the schema the document gives for that answer
//       (PATH as in the document, "/api/books/{id}/"; METHOD lower case).
// Prints what is wrong and exits 1; prints "valid: ..." and exits 0 when all is well.
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const BASE = "https://prodata.invalid/openapi.json";

function fail(message, details) {
    console.error(message);
    if (details !== undefined) console.error(JSON.stringify(details, null, 2));
    process.exit(1);
}

// "#/components/schemas/X" -> BASE#/$defs/X: the component schemas become one 2020-12 schema's $defs.
function rebase(value) {
    if (Array.isArray(value)) return value.map(rebase);
    if (value === null || typeof value !== "object") return value;
    const out = {};
    for (const [key, item] of Object.entries(value)) {
        if (key === "$ref" && typeof item === "string") {
            if (!item.startsWith("#/components/schemas/")) fail(`a schema refers outside the schemas: ${item}`);
            out[key] = `${BASE}#/$defs/${item.slice("#/components/schemas/".length)}`;
        } else out[key] = rebase(item);
    }
    return out;
}

function makeAjv(doc) {
    const ajv = new Ajv2020({ strict: true, allErrors: true, strictTypes: false });
    addFormats(ajv);
    // OpenAPI's own formats (https://spec.openapis.org/registry/format/): annotations with a check.
    ajv.addFormat("int32", { type: "number", validate: (n) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
    ajv.addFormat("int64", { type: "number", validate: (n) => Number.isInteger(n) });
    ajv.addFormat("double", { type: "number", validate: () => true });
    ajv.addFormat("decimal", { type: "string", validate: (s) => /^-?\d*(\.\d+)?$/.test(s) });
    ajv.addFormat("byte", /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/);
    // OpenAPI 3.1's base dialect adds these annotation keywords to JSON Schema.
    for (const keyword of ["discriminator", "xml", "externalDocs", "example"]) ajv.addKeyword(keyword);
    try {
        ajv.addSchema({ $id: BASE, $defs: rebase(doc.components?.schemas ?? {}) });
    } catch (error) {
        fail(`components.schemas: not valid JSON Schema 2020-12: ${error.message}`);
    }
    return ajv;
}

function compile(ajv, schema, where) {
    try {
        return ajv.compile(rebase(schema));
    } catch (error) {
        fail(`${where}: not a valid JSON Schema 2020-12: ${error.message}`);
    }
}

// Every schema of the document with where it is, for the strict compile.
function* schemasOf(doc) {
    for (const name of Object.keys(doc.components?.schemas ?? {}))
        yield [`components.schemas.${name}`, { $ref: `#/components/schemas/${name}` }];
    const parameterSchemas = function* (parameters, where) {
        for (const [i, p] of (parameters ?? []).entries()) if (p.schema) yield [`${where}.parameters[${i}] ${p.name}`, p.schema];
    };
    yield* parameterSchemas(Object.values(doc.components?.parameters ?? {}), "components");
    for (const [name, response] of Object.entries(doc.components?.responses ?? {})) {
        for (const [header, h] of Object.entries(response.headers ?? {})) yield [`responses.${name}.${header}`, h.schema];
        for (const [type, media] of Object.entries(response.content ?? {})) yield [`responses.${name} ${type}`, media.schema];
    }
    for (const [path, item] of Object.entries(doc.paths ?? {})) {
        yield* parameterSchemas(item.parameters, path);
        for (const [method, op] of Object.entries(item)) {
            if (method === "parameters") continue;
            yield* parameterSchemas(op.parameters, `${method} ${path}`);
            for (const media of Object.values(op.requestBody?.content ?? {})) yield [`${method} ${path} body`, media.schema];
            for (const [status, answer] of Object.entries(op.responses ?? {}))
                for (const media of Object.values(answer.content ?? {})) yield [`${method} ${path} ${status}`, media.schema];
        }
    }
}

function responseSchema(doc, path, method, status) {
    const op = doc.paths?.[path]?.[method];
    if (!op) fail(`the document has no ${method} ${path}`);
    let answer = op.responses?.[status];
    if (!answer) fail(`${method} ${path} documents no ${status} answer (it has ${Object.keys(op.responses)})`);
    if (answer.$ref) answer = doc.components.responses[answer.$ref.split("/").pop()];
    const schema = answer.content?.["application/json"]?.schema;
    if (!schema) fail(`${method} ${path} ${status} documents no JSON body`);
    return schema;
}

const [docFile, mode, ...rest] = process.argv.slice(2);
if (!docFile) fail("usage: node validate.mjs DOC.json [--response PATH METHOD STATUS BODY.json]");
const doc = JSON.parse(readFileSync(docFile, "utf8"));

if (mode === "--response") {
    const [path, method, status, bodyFile] = rest;
    const validate = compile(makeAjv(doc), responseSchema(doc, path, method, status), `${method} ${path} ${status}`);
    const body = JSON.parse(readFileSync(bodyFile, "utf8"));
    if (!validate(body)) fail(`the ${status} body of ${method} ${path} does not match the document:`, validate.errors);
    console.log(`valid: ${method} ${path} ${status} matches the document`);
    process.exit(0);
}

const validator = new Validator();
const result = await validator.validate(doc);
if (!result.valid) fail("not a valid OpenAPI document:", result.errors);
if (validator.version !== "3.1") fail(`expected OpenAPI 3.1, the validator read ${validator.version}`);
const ajv = makeAjv(doc);
let count = 0;
for (const [where, schema] of schemasOf(doc)) {
    compile(ajv, schema, where);
    count++;
}
const ids = new Set();
for (const item of Object.values(doc.paths))
    for (const [method, op] of Object.entries(item))
        if (method !== "parameters") {
            if (ids.has(op.operationId)) fail(`operationId ${op.operationId} twice`);
            ids.add(op.operationId);
        }
console.log(`valid: OpenAPI ${validator.version}, ${count} schemas compiled as JSON Schema 2020-12, ${ids.size} operations`);
