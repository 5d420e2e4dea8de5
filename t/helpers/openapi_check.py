#!/usr/bin/python3
"""Check docs/openapi.json, and real responses against it (t/211-openapi.t).

  openapi_check.py doc DOC                 the document itself
  openapi_check.py responses DOC CASES     CASES: a JSON list of
      {"name", "method", "path" (as in the document's paths), "status",
       "type" (Content-Type), "body"}

Prints one line per check: "ok <name>" or "not ok <name>: <why>".
Uses Debian's python3-jsonschema (Draft 2020-12, the dialect of OAS 3.1);
$refs are resolved here, so any version of it works.
"""
import json
import sys

import jsonschema

V = jsonschema.Draft202012Validator


def out(ok, name, why=""):
    print(("ok " if ok else "not ok ") + name + ("" if ok else ": " + why))


def pointer(doc, ref):
    if not ref.startswith("#/"):
        raise KeyError("not a local $ref: " + ref)
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[part]
    return node


def inline(doc, node, seen=()):
    """node with every $ref replaced by its target (no cycles here)"""
    if isinstance(node, dict):
        if "$ref" in node:
            ref = node["$ref"]
            if ref in seen:
                raise ValueError("$ref cycle at " + ref)
            target = inline(doc, pointer(doc, ref), seen + (ref,))
            rest = {k: v for k, v in node.items() if k != "$ref"}
            if not rest:
                return target
            return {"allOf": [target, inline(doc, rest, seen)]}
        return {k: inline(doc, v, seen) for k, v in node.items()}
    if isinstance(node, list):
        return [inline(doc, v, seen) for v in node]
    return node


def refs(node, where="#"):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield where, v
            else:
                yield from refs(v, where + "/" + k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from refs(v, where + "/" + str(i))


def schemas(node, where="#"):
    """every Schema Object of the document: components and media types"""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "schema" and isinstance(v, dict):
                yield where + "/schema", v
            elif k == "schemas" and where == "#/components":
                for n, s in v.items():
                    yield where + "/schemas/" + n, s
            else:
                yield from schemas(v, where + "/" + k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from schemas(v, where + "/" + str(i))


METHODS = ("get", "put", "post", "delete", "options", "head", "patch",
           "trace")


def check_doc(doc):
    out(doc.get("openapi", "").startswith("3.1."), "openapi is 3.1.x",
        repr(doc.get("openapi")))
    info = doc.get("info", {})
    out(isinstance(info.get("title"), str) and isinstance(info.get("version"),
        str), "info has title and version", repr(info))
    out(isinstance(doc.get("paths"), dict) and doc["paths"], "paths")
    allowed = {"openapi", "info", "jsonSchemaDialect", "servers", "paths",
               "webhooks", "components", "security", "tags", "externalDocs"}
    extra = [k for k in doc if k not in allowed and not k.startswith("x-")]
    out(not extra, "only OpenAPI 3.1 top-level fields", repr(extra))

    bad = []
    for where, ref in refs(doc):
        try:
            pointer(doc, ref)
        except (KeyError, TypeError):
            bad.append(where + " -> " + ref)
    out(not bad, "every $ref resolves", "; ".join(bad))

    ops = set()
    for path, item in doc.get("paths", {}).items():
        if not path.startswith("/"):
            out(False, "path " + path, "does not start with /")
        for m, op in item.items():
            if m not in METHODS:
                continue
            ops.add(op.get("operationId"))
            res = op.get("responses", {})
            ok = bool(res) and all(
                "description" in inline(doc, r) for r in res.values())
            out(ok, "%s %s: responses with descriptions" % (m.upper(), path))
            for p in op.get("parameters", []):
                if p.get("in") == "path":
                    out("{%s}" % p["name"] in path and p.get("required"),
                        "%s %s: path parameter %s" % (m.upper(), path,
                                                      p["name"]))
    out(None not in ops, "every operation has an operationId")

    for name, scheme in doc.get("components", {}).get(
            "securitySchemes", {}).items():
        out(scheme.get("type") in ("apiKey", "http", "mutualTLS", "oauth2",
                                   "openIdConnect"),
            "security scheme " + name)

    for where, s in schemas(doc):
        try:
            V.check_schema(inline(doc, s))
            out(True, "JSON Schema 2020-12: " + where)
        except jsonschema.exceptions.SchemaError as e:
            out(False, "JSON Schema 2020-12: " + where, e.message)


def sse_events(body):
    events, terminal = [], 0
    for frame in body.split("\n\n"):
        if not frame.strip():
            continue
        ev, data = None, None
        for line in frame.split("\n"):
            if line.startswith(":"):
                continue
            if line.startswith("event: "):
                ev = line[len("event: "):]
            elif line.startswith("data: "):
                data = line[len("data: "):]
            else:
                raise ValueError("unexpected SSE line " + repr(line))
        if ev is None and data is None:
            continue
        events.append({"event": ev, "data": json.loads(data)})
    for e in events:
        terminal += e["event"] in ("complete", "error")
    if terminal != 1 or events[-1]["event"] not in ("complete", "error"):
        raise ValueError("not exactly one terminal event at the end")
    return events


def check_response(doc, c):
    name = "%s %s %s (%s)" % (c["method"], c["path"], c["status"], c["name"])
    op = doc["paths"].get(c["path"], {}).get(c["method"].lower())
    if op is None:
        return out(False, name, "route not in the document")
    res = op.get("responses", {}).get(str(c["status"]))
    if res is None:
        return out(False, name, "status not in the document")
    res = inline(doc, res)
    ctype = c["type"].split(";")[0].strip()
    media = res.get("content", {}).get(ctype)
    if media is None:
        return out(False, name, "content type %s not in the document" % ctype)
    schema = media.get("schema", {})
    try:
        if ctype == "text/event-stream":
            ev_schema = schema["x-sse-events"]
            items = sse_events(c["body"])
            v = V(ev_schema)
            for e in items:
                err = next(iter(v.iter_errors(e)), None)
                if err:
                    return out(False, name, "event %s: %s" % (e["event"],
                                                              err.message))
            return out(True, name + " [%d events]" % len(items))
        body = json.loads(c["body"])
    except (ValueError, KeyError) as e:
        return out(False, name, str(e))
    err = next(iter(V(schema).iter_errors(body)), None)
    out(err is None, name, err.message if err else "")


def main():
    doc = json.load(open(sys.argv[2]))
    if sys.argv[1] == "doc":
        check_doc(doc)
    else:
        for c in json.load(open(sys.argv[3])):
            check_response(doc, c)


main()
