#!/usr/bin/python3
"""redfish_validate.py — check every resource of a tree against the DMTF schemas.

    redfish_validate.py TREE SCHEMA_DIR

TREE is a directory holding one index.json per resource (the redfishfs mount,
a copy of it, or a mockup). For each document: its @odata.type names a
versioned JSON schema in SCHEMA_DIR/json-schema, and the document must
validate against it (types, enums, required and unknown properties); its
@odata.id must match one of the URIs the schema allows. References to other
schemas resolve to the files in SCHEMA_DIR (a versioned reference whose exact
version is not there resolves to the newest version present). Prints one line
per problem; exits 1 if there is any. Needs Debian's python3-jsonschema.
"""
import json
import os
import re
import sys

import jsonschema

BASE = "http://redfish.dmtf.org/schemas/v1/"


def version_key(name):
    m = re.search(r"\.v(\d+)_(\d+)_(\d+)\.json$", name)
    return tuple(int(x) for x in m.groups()) if m else (-1,)


class Schemas:
    def __init__(self, root):
        self.dir = os.path.join(root, "json-schema")
        self.files = set(os.listdir(self.dir))
        self.cache = {}

    def file_for(self, name):
        """A schema file name for a reference, or None."""
        if name in self.files:
            return name
        m = re.match(r"^([A-Za-z0-9]+)\.v\d+_\d+_\d+\.json$", name)
        if m:
            same = [f for f in self.files if re.match(re.escape(m.group(1)) + r"\.v\d+_\d+_\d+\.json$", f)]
            if same:
                return max(same, key=version_key)
        return None

    def load(self, name):
        f = self.file_for(name)
        if f is None:
            raise KeyError(name)
        if f not in self.cache:
            with open(os.path.join(self.dir, f), encoding="utf-8") as fh:
                self.cache[f] = json.load(fh)
        return self.cache[f]

    def resolver(self, doc):
        def handler(uri):
            name = uri[len(BASE):] if uri.startswith(BASE) else os.path.basename(uri)
            return self.load(name)

        return jsonschema.RefResolver(BASE, doc, handlers={"http": handler, "https": handler})


def uri_allowed(schemas, type_name, odata_id):
    try:
        unversioned = schemas.load(type_name + ".json")
    except KeyError:
        return None
    uris = unversioned.get("definitions", {}).get(type_name, {}).get("uris")
    if not uris:
        return None
    for u in uris:
        pattern = "^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(u)) + "$"
        if re.match(pattern, odata_id):
            return True
    return False


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    tree, root = sys.argv[1], sys.argv[2]
    schemas = Schemas(root)
    problems = checked = 0
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames.sort()
        if "index.json" not in filenames:
            continue
        path = os.path.join(dirpath, "index.json")
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
        odata_id = doc.get("@odata.id", "?")
        odata_type = doc.get("@odata.type")
        m = re.match(r"^#([A-Za-z0-9]+)\.(v\d+_\d+_\d+\.)?([A-Za-z0-9]+)$", odata_type or "")
        if not m:
            print(f"{odata_id}: @odata.type {odata_type!r} is not a Redfish type")
            problems += 1
            continue
        ns, version, type_name = m.group(1), m.group(2), m.group(3)
        file_name = f"{ns}.{version}json" if version else f"{ns}.json"
        if file_name not in schemas.files:
            print(f"{odata_id}: no schema {file_name} in {schemas.dir}")
            problems += 1
            continue
        schema = schemas.load(file_name)
        sub = {"$ref": f"{BASE}{file_name}#/definitions/{type_name}"}
        validator = jsonschema.Draft7Validator(sub, resolver=schemas.resolver(schema))
        for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.path)):
            where = "/".join(str(p) for p in err.path) or "(document)"
            print(f"{odata_id}: {where}: {err.message[:300]}")
            problems += 1
        allowed = uri_allowed(schemas, ns, odata_id)
        if allowed is False:
            print(f"{odata_id}: not a URI the {ns} schema allows")
            problems += 1
        checked += 1
    print(f"{checked} resources checked, {problems} problems")
    return 1 if problems or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
