"""Check an exported .ipynb with the official nbformat package.

Usage: nbformat_check.py EXPORTED [ORIGINAL]

Prints one JSON object: "valid" (the file as stored validates against the
nbformat 4.5 JSON schema that the nbformat package installs, checked both
by nbformat.validate, with no repair, and by jsonschema directly),
"errors", and with ORIGINAL "differences": every way the exported
notebook differs from ORIGINAL as nbformat.read gives it (upgraded to v4,
ids repaired), ignoring only what nbformat itself normalises: cell ids
that nbformat made up, the minor version, output "transient" fields, the
metadata nbformat never writes (orig_nbformat...), and line breaks inside
base64 image data (the same bytes).
"""
import copy
import json
import os
import sys
import warnings

import jsonschema
import nbformat
import nbformat.v4

warnings.simplefilter("ignore")


def schema():
    path = os.path.join(os.path.dirname(nbformat.v4.__file__), "nbformat.v4.5.schema.json")
    with open(path) as f:
        return json.load(f)


def plain(node):
    return json.loads(json.dumps(node))


def output(o):
    o = plain(o)
    o.pop("transient", None)
    # Base64 images: the same bytes, whatever the line breaks inside.
    for mime, value in (o.get("data") or {}).items():
        if mime.startswith("image/") and mime != "image/svg+xml" and isinstance(value, str):
            o["data"][mime] = "".join(value.split())
    return o


def cell(c, keep_id):
    d = {"cell_type": c["cell_type"], "source": c["source"], "metadata": plain(c["metadata"])}
    if keep_id:
        d["id"] = c.get("id")
    if "attachments" in c:
        d["attachments"] = plain(c["attachments"])
    if c["cell_type"] == "code":
        d["execution_count"] = c.get("execution_count")
        d["outputs"] = [output(o) for o in c.get("outputs", [])]
    return d


def original_ids_kept(path):
    """Ids the original file gave its cells, when all were valid and unique."""
    with open(path) as f:
        raw = json.load(f)
    ids = [c.get("id") for c in raw.get("cells", [])]
    if raw.get("nbformat") != 4 or raw.get("nbformat_minor", 0) < 5 or not ids:
        return False
    valid = all(isinstance(i, str) and i and len(i) <= 64 and
                all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in i) for i in ids)
    return valid and len(set(ids)) == len(ids)


def main():
    exported_path = sys.argv[1]
    original_path = sys.argv[2] if len(sys.argv) > 2 else None
    result = {"valid": True, "errors": [], "differences": []}
    with open(exported_path) as f:
        raw = json.load(f)
    if (raw.get("nbformat"), raw.get("nbformat_minor")) != (4, 5):
        result["valid"] = False
        result["errors"].append("not written as nbformat 4.5")
    try:
        # On a copy: validate() repairs some things in place (and warns).
        nbformat.validate(copy.deepcopy(raw), version=4, version_minor=5)
    except Exception as e:  # ValidationError and friends
        result["valid"] = False
        result["errors"].append("nbformat.validate: " + str(e)[:3000])
    # The JSON schema has no uniqueness rule for ids; nbformat checks it
    # itself (and validate() repairs instead of failing).
    ids = [c.get("id") for c in raw.get("cells", [])]
    if len(set(ids)) != len(ids):
        result["valid"] = False
        result["errors"].append("cell ids are not unique")
    errors = sorted(jsonschema.Draft4Validator(schema()).iter_errors(raw), key=str)
    for e in errors[:5]:
        result["valid"] = False
        result["errors"].append("jsonschema: %s at %s" % (e.message[:500], list(e.absolute_path)))
    if original_path:
        original = nbformat.read(original_path, as_version=4)
        exported = nbformat.reads(json.dumps(raw), as_version=4)
        keep_ids = original_ids_kept(original_path)
        diffs = result["differences"]
        # nbformat keeps these in memory after an upgrade and never writes them.
        for key in ("orig_nbformat", "orig_nbformat_minor", "signature"):
            original.metadata.pop(key, None)
        if plain(original.metadata) != plain(exported.metadata):
            diffs.append({"where": "metadata", "original": plain(original.metadata),
                          "exported": plain(exported.metadata)})
        if len(original.cells) != len(exported.cells):
            diffs.append({"where": "cells", "original": len(original.cells),
                          "exported": len(exported.cells)})
        for i, (a, b) in enumerate(zip(original.cells, exported.cells)):
            a, b = cell(a, keep_ids), cell(b, keep_ids)
            for key in sorted(set(a) | set(b)):
                if a.get(key) != b.get(key):
                    diffs.append({"where": "cells[%d].%s" % (i, key),
                                  "original": a.get(key), "exported": b.get(key)})
    print(json.dumps(result))


main()
