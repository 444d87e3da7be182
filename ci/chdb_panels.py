#!/usr/bin/env python3
"""Runs SQL under chDB (modern ClickHouse in-process) for the Grafana dashboard test.

Usage: python3 ci/chdb_panels.py FIXTURE_DIR

FIXTURE_DIR is written by `cargo test -p schema --test grafana_dashboard` and holds:
  statements.json  the schema's statements (modern dialect), applied in order
  inserts.json     [{"sql": "INSERT INTO … FORMAT JSONEachRow", "file": "name.jsonl"}], in order
                   (each is its own insert, so a replayed copy lands in a later part, as it would)
  queries.json     [{"name": …, "sql": …}]: the panels' SQL with the macros expanded

It writes results.json: {name: {"tsv": TabSeparatedWithNames text, "error": null}} or
{name: {"tsv": null, "error": message}} per query, and exits 0; 1 when the schema or the data
could not be loaded; 3 when chDB is missing.
"""

import json
import os
import sys
import tempfile

try:
    from chdb import session as chdb_session
except ImportError as exc:  # pragma: no cover - reported to the caller
    print(f"SKIP: chdb is not importable ({exc}); ci/setup installs chdb-core", file=sys.stderr)
    sys.exit(3)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    fixture = sys.argv[1]

    def load(name):
        with open(os.path.join(fixture, name), encoding="utf-8") as f:
            return json.load(f)

    sess = chdb_session.Session(tempfile.mkdtemp(prefix="evbench-chdb-panels-"))
    version = str(sess.query("SELECT version()", "TabSeparated")).strip()
    try:
        for statement in load("statements.json"):
            sess.query(statement)
        for insert in load("inserts.json"):
            with open(os.path.join(fixture, insert["file"]), encoding="utf-8") as f:
                sess.query(insert["sql"] + "\n" + f.read())
    except Exception as exc:  # noqa: BLE001 - the caller shows it
        print(f"chDB {version}: loading the fixture failed: {exc}", file=sys.stderr)
        return 1

    results = {}
    for query in load("queries.json"):
        try:
            tsv = str(sess.query(query["sql"], "TabSeparatedWithNames"))
            results[query["name"]] = {"tsv": tsv, "error": None}
        except Exception as exc:  # noqa: BLE001 - reported per query
            results[query["name"]] = {"tsv": None, "error": str(exc)}
    with open(os.path.join(fixture, "results.json"), "w", encoding="utf-8") as f:
        json.dump({"version": version, "results": results}, f)
    print(f"chDB {version}: ran {len(results)} queries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
