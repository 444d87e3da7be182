#!/usr/bin/env python3
"""Modern-ClickHouse conformance of evbench's schema, under chDB (ClickHouse in-process).

Usage: python3 ci/chdb_conformance.py FIXTURE_DIR

FIXTURE_DIR is written by `cargo test -p schema --test chdb_conformance` and holds:
  statements.json   every migration of the modern dialect (bootstrap first), in order
  stand_in.json     the Kafka-engine views over Null stand-in tables (chDB has no Kafka engine),
                    created in the database `evbench_kafka`
  kpis.json         [{name, sql, columns: [[name, kind]], key_columns}] with parameters rendered
  expected.json     the KPI values computed in Rust from the same sessions
  sessions.jsonl    the ground-truth sessions, one JSON object per line
  signals.jsonl     raw signal messages (valid ones, then bad ones), one per line
  expect.json       {"signals": n, "dead_letters": n, "sessions": n} for the stand-in path
  users.json        the users' SQL (chDB has no access control: parsed with EXPLAIN AST only)

It applies every migration, loads the sessions, runs every KPI query and compares with the Rust
values (counts and texts exactly, floats within 1e-9 relative), then feeds the raw messages
through the Kafka-engine views and checks the counts and KPIs there too. It writes actual.json
(the KPI rows as read) and exits 0 when everything agrees, 1 otherwise, 3 when chDB is missing.
"""

import json
import math
import os
import sys
import tempfile

try:
    from chdb import session as chdb_session
except ImportError as exc:  # pragma: no cover - reported to the caller
    print(f"SKIP: chdb is not importable ({exc}); ci/setup installs chdb-core", file=sys.stderr)
    sys.exit(3)

TOLERANCE = 1e-9
SESSION_COLUMNS = (
    "session_id, charger_id, plate, arrived_at, identified_at, user_id, price_eur_per_kwh, "
    "charge_started_at, charge_ended_at, power_kw, departed_at, energy_kwh, revenue_eur, dwell_ms, "
    "charging_ms, idle_after_charge_ms, outcome, overstay, flags"
)


def tsv_escape(text):
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def tsv_unescape(field):
    if "\\" not in field:
        return field
    out, i = [], 0
    table = {"t": "\t", "n": "\n", "r": "\r", "0": "\0"}
    while i < len(field):
        c = field[i]
        if c == "\\" and i + 1 < len(field):
            out.append(table.get(field[i + 1], field[i + 1]))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse_rows(text, columns):
    rows = []
    for line in text.splitlines():
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != len(columns):
            raise ValueError(f"{len(fields)} fields in {line!r}, expected {len(columns)}")
        row = []
        for field, (_, kind) in zip(fields, columns):
            if kind == "int":
                row.append(int(field))
            elif kind == "float":
                row.append(float(field))
            else:
                row.append(tsv_unescape(field))
        rows.append(row)
    return rows


def agree(kind, a, b):
    if kind == "float":
        a, b = float(a), float(b)
        return a == b or abs(a - b) <= TOLERANCE * max(abs(a), abs(b))
    return a == b


def compare(label, kpi, expected_rows, actual_rows):
    problems = []
    columns, keys = kpi["columns"], kpi["key_columns"]
    if len(expected_rows) != len(actual_rows):
        problems.append(f"{label}{kpi['name']}: {len(expected_rows)} rows expected, {len(actual_rows)} found")
    actual_by_key = {tuple(r[:keys]): r for r in actual_rows}
    for row in expected_rows:
        key = tuple(row[:keys])
        found = actual_by_key.get(key)
        if found is None:
            problems.append(f"{label}{kpi['name']}: row {key} missing")
            continue
        for (name, kind), e, a in zip(columns, row, found):
            if not agree(kind, e, a):
                problems.append(f"{label}{kpi['name']} {key} {name}: expected {e!r}, found {a!r}")
    return problems


def run_kpis(sess, kpis, expected, label, database):
    problems, actual = [], {}
    for kpi in kpis:
        sql = kpi["sql"].replace("evbench.sessions", f"{database}.sessions")
        text = str(sess.query(sql, "TabSeparated"))
        rows = parse_rows(text, kpi["columns"])
        actual[kpi["name"]] = {"columns": [c for c, _ in kpi["columns"]], "rows": rows}
        problems += compare(label, kpi, expected["tables"][kpi["name"]]["rows"], rows)
    return problems, actual


def scalar(sess, sql):
    return int(str(sess.query(sql, "TabSeparated")).strip())


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    fixture = sys.argv[1]

    def load(name):
        with open(os.path.join(fixture, name), encoding="utf-8") as f:
            return json.load(f)

    statements, stand_in = load("statements.json"), load("stand_in.json")
    kpis, expected, expect = load("kpis.json"), load("expected.json"), load("expect.json")
    with open(os.path.join(fixture, "sessions.jsonl"), encoding="utf-8") as f:
        sessions_jsonl = f.read()
    with open(os.path.join(fixture, "signals.jsonl"), encoding="utf-8") as f:
        signal_lines = f.read().split("\n")[:-1]

    sess = chdb_session.Session(tempfile.mkdtemp(prefix="evbench-chdb-"))
    print(f"chdb: ClickHouse {str(sess.query('SELECT version()', 'TabSeparated')).strip()}")
    problems = []

    # 1. Every migration of the modern dialect, twice over databases: `evbench` (sessions loaded
    #    directly) and `evbench_kafka` (fed through the Kafka-engine views).
    for database in ("evbench", "evbench_kafka"):
        for statement in statements:
            sess.query(statement.replace("evbench.", f"{database}.").replace(
                "DATABASE IF NOT EXISTS evbench", f"DATABASE IF NOT EXISTS {database}"))
    print(f"applied {len(statements)} statements in evbench and evbench_kafka")

    # 2. KPIs on the sessions as stored, against Rust.
    sess.query(f"INSERT INTO evbench.sessions ({SESSION_COLUMNS}) FORMAT JSONEachRow\n{sessions_jsonl}")
    stored = scalar(sess, "SELECT count() FROM evbench.sessions FINAL")
    if stored != expect["sessions"]:
        problems.append(f"sessions stored: {stored}, expected {expect['sessions']}")
    kpi_problems, actual = run_kpis(sess, kpis, expected, "", "evbench")
    problems += kpi_problems
    rollup = scalar(sess, "SELECT sum(sessions) FROM evbench.station_hourly")
    if rollup != expect["sessions"]:
        problems.append(f"hourly rollup counts {rollup} sessions, expected {expect['sessions']}")

    # 3. The Kafka-engine views (over Null stand-ins): raw messages in, rows and dead letters out.
    for statement in stand_in:
        sess.query(statement.replace("evbench.", "evbench_kafka."))
    signal_tsv = "".join(
        f"{tsv_escape(line)}\t{i % 7}\t{i}\n" for i, line in enumerate(signal_lines))
    sess.query(f"INSERT INTO evbench_kafka.kafka_signals (raw, _partition, _offset) FORMAT TabSeparated\n{signal_tsv}")
    session_tsv = "".join(
        f"{tsv_escape(line)}\t0\t{i}\n" for i, line in enumerate(sessions_jsonl.split("\n")[:-1]))
    sess.query(f"INSERT INTO evbench_kafka.kafka_sessions (raw, _partition, _offset) FORMAT TabSeparated\n{session_tsv}")
    for table, key in (("signals", "signals"), ("sessions", "sessions"), ("dead_letters", "dead_letters")):
        n = scalar(sess, f"SELECT count() FROM evbench_kafka.{table} FINAL")
        if n != expect[key]:
            problems.append(f"kafka-engine views: {n} rows in {table}, expected {expect[key]}")
    kafka_problems, _ = run_kpis(sess, kpis, expected, "kafka-engine views: ", "evbench_kafka")
    problems += kafka_problems
    # Field by field: no session differs between the two paths (EXCEPT compares NULLs as equal).
    cols = SESSION_COLUMNS
    for a, b in (("evbench", "evbench_kafka"), ("evbench_kafka", "evbench")):
        differing = scalar(sess, f"SELECT count() FROM (SELECT {cols} FROM {a}.sessions FINAL "
                                 f"EXCEPT SELECT {cols} FROM {b}.sessions FINAL)")
        if differing:
            problems.append(f"kafka-engine views: {differing} sessions in {a} differ from {b}")

    # 4. The users' SQL parses (chDB cannot create users: no access storage in-process).
    for statement in load("users.json"):
        try:
            sess.query("EXPLAIN AST " + statement, "TabSeparated")
        except Exception as exc:  # noqa: BLE001 - reported as a difference
            problems.append(f"users SQL does not parse: {str(exc)[:200]}")

    with open(os.path.join(fixture, "actual.json"), "w", encoding="utf-8") as f:
        json.dump({"tables": actual}, f)
    if problems:
        print(f"FAILED: {len(problems)} differences", file=sys.stderr)
        for p in problems[:50]:
            print("  " + p, file=sys.stderr)
        return 1
    print(f"ok: {len(kpis)} KPI queries agree with Rust on {expect['sessions']} sessions; "
          f"Kafka-engine views stored {expect['signals']} signals, {expect['sessions']} sessions, "
          f"{expect['dead_letters']} dead letters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
