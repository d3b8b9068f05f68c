"""Connections and schema: pragmas, ordered migrations, ``PRAGMA user_version``.

The schema version is the number of migrations applied. Migrations are append-only: never edit a
released one, add a new one at the end. Each runs in its own ``BEGIN IMMEDIATE`` transaction
together with its ``user_version`` bump, so a crash mid-upgrade leaves the previous version intact.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from netwatch.store import migration_v4

DB_FILENAME = "netwatch.sqlite3"

# Seconds a connection waits on another writer's lock before failing with "database is locked".
# Writer batches and event transactions are short (milliseconds), so this is generous.
BUSY_TIMEOUT_MS = 10_000

MIGRATIONS: tuple[Sequence[str], ...] = (
    # v1: raw evidence. started_at is epoch seconds (REAL) for range scans; the exact
    # microsecond ISO time lives in body (Measurement.to_dict JSON), which is what we read back.
    # seq is the rowid: an insertion-ordered tie-break and a cheap cursor for chunked deletes.
    (
        """CREATE TABLE measurements (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            target_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            vantage_id TEXT NOT NULL,
            started_at REAL NOT NULL,
            failure TEXT,
            body TEXT NOT NULL
        )""",
        "CREATE INDEX measurements_started_at ON measurements (started_at)",
        "CREATE INDEX measurements_target_time ON measurements (target_id, started_at)",
    ),
    # v2: detector output. Indexed columns for filtering; the full record as JSON in body.
    # outage_evidence lets retention keep exactly the measurements an outage cites.
    (
        """CREATE TABLE outages (
            id TEXT PRIMARY KEY,
            incident_id TEXT NOT NULL,
            scope_type TEXT NOT NULL,
            entity TEXT NOT NULL,
            layer TEXT NOT NULL,
            started_at REAL NOT NULL,
            ended_at REAL,
            body TEXT NOT NULL
        )""",
        "CREATE INDEX outages_started_at ON outages (started_at)",
        "CREATE INDEX outages_scope ON outages (scope_type, entity, started_at)",
        "CREATE INDEX outages_incident ON outages (incident_id)",
        "CREATE INDEX outages_open ON outages (started_at) WHERE ended_at IS NULL",
        """CREATE TABLE outage_evidence (
            outage_id TEXT NOT NULL,
            measurement_id TEXT NOT NULL,
            PRIMARY KEY (outage_id, measurement_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX outage_evidence_measurement ON outage_evidence (measurement_id)",
        """CREATE TABLE transitions (
            seq INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            subject TEXT NOT NULL,
            body TEXT NOT NULL
        )""",
        "CREATE INDEX transitions_at ON transitions (at)",
        "CREATE INDEX transitions_subject ON transitions (subject, at)",
    ),
    # v3: notification outbox. dedupe_key makes enqueueing the same event twice a no-op.
    (
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            created_at REAL NOT NULL,
            kind TEXT NOT NULL,
            dedupe_key TEXT UNIQUE,
            payload TEXT NOT NULL,
            claimed_at REAL,
            claimed_by TEXT,
            delivered_at REAL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            last_error TEXT
        )""",
        "CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE delivered_at IS NULL",
    ),
    # v4: the JSON body split into columns, so reads and exports take flat rows instead of
    # parsing JSON per row (the table and the copy are in migration_v4). Most rows are copied
    # beforehand in chunks (migration_v4.backfill, run through BEFORE); this transaction copies
    # the rest and swaps the tables.
    (
        migration_v4.CREATE,
        migration_v4.copy_sql(-1),
        "DROP TABLE measurements",
        "ALTER TABLE measurements_v4 RENAME TO measurements",
        "CREATE INDEX measurements_started_at ON measurements (started_at)",
        "CREATE INDEX measurements_target_time ON measurements (target_id, started_at)",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)

# Work done before a migration's own transaction, in as many transactions as it likes, keyed by
# the version being migrated from. It must be idempotent and leave the database valid at the old
# version after a crash at any point.
BEFORE: dict[int, Callable[[sqlite3.Connection], None]] = {3: migration_v4.backfill}


class StoreError(Exception):
    """The store cannot do what was asked; the message says why in an operator's words."""


def db_path(data_dir: Path) -> Path:
    """Where the database lives inside ``Config.data_dir``."""
    return data_dir / DB_FILENAME


def connect(path: Path) -> sqlite3.Connection:
    """Open ``path`` read-write (creating it and its directory) with netwatch's pragmas.

    The connection is in autocommit mode (``isolation_level=None``): callers open transactions
    explicitly with ``BEGIN IMMEDIATE`` so a writer takes the lock up front instead of failing to
    upgrade a read lock half-way. ``check_same_thread`` stays on: one connection, one thread.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        # WAL: readers never block the writer and vice versa, and a commit is one sequential append.
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise StoreError(f"{path}: cannot switch to WAL journal (got {mode!r})")
        # synchronous=NORMAL in WAL mode: fsync at checkpoints, not at every commit. A process crash
        # (SIGKILL, OOM) loses nothing committed: the WAL is in the OS page cache and is replayed on
        # next open. A power loss or kernel crash can roll back the last commits made since the
        # last fsync (at most ~a checkpoint's worth), but never corrupts the database. Measurements
        # arrive tens of thousands a second; an fsync per batch would cap throughput at the disk's
        # flush rate for a guarantee that only matters when the whole machine dies.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    except BaseException:
        conn.close()
        raise
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Apply migrations in order up to ``target``; return the version reached.

    Safe to call concurrently from several processes: the version is re-read under the write lock
    (and ``BEFORE`` work re-checks it in each of its transactions).
    Raises ``StoreError`` for a database newer than this code (downgrades are not supported).
    """
    while True:
        before = BEFORE.get(schema_version(conn))
        if before is not None and schema_version(conn) < target:
            before(conn)
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = schema_version(conn)
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"database schema v{version} is newer than this netwatch (v{SCHEMA_VERSION}); "
                    "upgrade netwatch"
                )
            if version >= target:
                conn.execute("COMMIT")
                return version
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            # user_version lives in the database header, so it commits atomically with the DDL.
            conn.execute(f"PRAGMA user_version={version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def open_database(path: Path) -> sqlite3.Connection:
    """``connect`` then ``migrate``; ``StoreError`` with a clear message on any failure."""
    try:
        conn = connect(path)
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(describe(path, exc)) from exc
    try:
        migrate(conn)
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(describe(path, exc)) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def describe(path: Path, exc: BaseException) -> str:
    """An operator-facing explanation of a storage failure, naming the file and the likely fix."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL or getattr(exc, "errno", None) == errno.ENOSPC:
        return f"{path}: disk full, nothing new is being stored; free space on the data_dir's filesystem"
    readonly = code is not None and code & 0xFF == sqlite3.SQLITE_READONLY
    if readonly or isinstance(exc, PermissionError) or code == sqlite3.SQLITE_CANTOPEN:
        # SQLite says "unable to open" when it cannot create the -wal/-shm files beside the
        # database; name what is actually not writable (os.access sees read-only mounts too).
        if not os.access(path.parent, os.W_OK):
            return f"{path}: directory {path.parent} is read-only or not writable; nothing is being stored"
        if readonly or (path.exists() and not os.access(path, os.W_OK)):
            return f"{path}: database file is read-only; give the netwatch user write access to it"
        return f"{path}: cannot open the database file ({exc}); check that data_dir exists and is writable"
    if code is not None and code & 0xFF == sqlite3.SQLITE_BUSY:
        return f"{path}: database is locked by another process for over {BUSY_TIMEOUT_MS / 1000:g} s"
    return f"{path}: storage error: {exc}"
