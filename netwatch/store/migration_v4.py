"""Migration v4: measurements from one JSON body per row (v3) to one column per field.

Everything here is part of a released migration: never edit it; a later change is a new migration.
``schema.MIGRATIONS[3]`` creates the table if needed, copies what ``backfill`` left (``copy_sql(-1)``)
and swaps the tables, in the transaction that bumps ``user_version``.
"""

from __future__ import annotations

import sqlite3

# started_at stays the indexed epoch seconds, started_at_text is format_utc's exact text;
# phases/evidence are JSON object text; label columns follow Labels; plain is described in
# measurements.py.
CREATE = """CREATE TABLE IF NOT EXISTS measurements_v4 (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    target_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    vantage_id TEXT NOT NULL,
    started_at REAL NOT NULL,
    started_at_text TEXT NOT NULL,
    duration_s REAL,
    failure TEXT,
    partial INTEGER NOT NULL,
    country TEXT NOT NULL,
    region TEXT NOT NULL,
    asn TEXT NOT NULL,
    operator TEXT NOT NULL,
    network_type TEXT NOT NULL,
    category TEXT NOT NULL,
    role TEXT NOT NULL,
    phases TEXT NOT NULL,
    evidence TEXT NOT NULL,
    plain INTEGER NOT NULL
)"""
# A v3 row's columns in v4 order. SQLite's JSON functions keep number and string tokens as
# written (-> returns the subobject's text, ->> parses a number to the same double Python wrote),
# and the defaults are Measurement.from_dict's for keys an older body lacks. plain is computed as
# measurements.py does (no control character, quote, comma or backslash in the short text fields).
_LABEL_DEFAULTS = (
    ("country", ""), ("region", ""), ("asn", ""), ("operator", ""),
    ("network_type", "unknown"), ("category", ""), ("role", "subject"),
)  # fmt: skip
_TEXT = "id || target_id || kind || vantage_id || coalesce(failure, '') || " + " || ".join(
    name for name, _ in _LABEL_DEFAULTS
)
_SPECIAL = "'*[' || char(" + ", ".join(str(c) for c in range(1, 32)) + ") || ']*'"
_COLUMNS = (
    "seq, id, target_id, kind, vantage_id, started_at, started_at_text, duration_s, failure, partial, "
    + ", ".join(name for name, _ in _LABEL_DEFAULTS)
    + ", phases, evidence"
)


def copy_sql(limit: int) -> str:
    """SQL copying up to ``limit`` (-1: all) v3 rows not yet in measurements_v4, in seq order
    (insertion order: seq is never reused while the newest row is kept)."""
    labels = "".join(f" coalesce(body ->> '$.labels.{n}', '{d}') AS {n}," for n, d in _LABEL_DEFAULTS)
    v3 = (
        "SELECT seq, id, target_id, kind, vantage_id, started_at, body ->> '$.started_at' AS started_at_text,"
        " body ->> '$.duration_s' AS duration_s, failure, coalesce(body ->> '$.partial', 0) AS partial,"
        f"{labels} coalesce(body -> '$.phases', '{{}}') AS phases,"
        " coalesce(body -> '$.evidence', '{}') AS evidence FROM measurements"
        f" WHERE seq > (SELECT coalesce(max(seq), -1) FROM measurements_v4) ORDER BY seq LIMIT {limit}"
    )
    plain = f"NOT (instr(text, ',') OR instr(text, '\"') OR instr(text, '\\') OR text GLOB {_SPECIAL})"
    return (
        f"INSERT INTO measurements_v4 SELECT {_COLUMNS}, {plain} FROM (SELECT *, {_TEXT} AS text FROM ({v3}))"
    )


BACKFILL_ROWS = 50_000


def backfill(conn: sqlite3.Connection) -> None:
    """Copy v3 measurement rows into ``measurements_v4``, ``BACKFILL_ROWS`` per transaction, in
    seq order, so a large store upgrades without one huge transaction and resumes where it was
    after a crash (the database stays valid v3 throughout). Stops when another process has
    finished the migration. Rows a still-running older netwatch writes meanwhile get higher seqs
    and are copied by the migration's own transaction; one it deletes after its copy (retention)
    survives in v4 until the next retention run deletes it again."""
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] != 3:
                conn.execute("COMMIT")
                return
            conn.execute(CREATE)
            copied = conn.execute(copy_sql(BACKFILL_ROWS)).rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if copied < BACKFILL_ROWS:
            return
