"""The results store: runs, DUTs, steps, measurements, attachments and events, in SQLite or PostgreSQL.

Layout (SQLite): a results directory holds ``results.db`` (WAL mode), ``attachments/`` for large files
and ``results.db-runlocks/`` (one lock file per run being written). PostgreSQL (``postgresql://...``,
psycopg 3, the ``lab`` extra) keeps everything, attachments included, in the database.
The schema is versioned as zigpy's appdb is: one ``schema/schema_vN.sql`` per version (written in the
SQLite dialect; ``postgres_dialect`` translates its few types), every table named with its version
suffix, the version in ``PRAGMA user_version`` (SQLite) or the ``hanrig_schema`` table (PostgreSQL),
all migrations in one transaction, and ``CorruptDatabase`` when the two disagree.

Crash consistency: a run row is inserted as ``running`` when it starts, and every step (with its
measurements and attachments) and every batch of events is committed in its own short transaction
as it finishes. A process killed mid-run leaves every committed row intact and the run ``running``
with no writer, which readers report as ``incomplete``. Several writers (threads, processes, hosts on
PostgreSQL) are safe: each write is one short transaction (``BEGIN IMMEDIATE`` under a busy timeout on
SQLite).

One writer per run: whoever begins or resumes a run holds its run lock until the run is finished or
the store closed; a second writer is refused with ``RunLocked`` naming the holder. The lock dies with
its holder, so a killed writer never leaves a run locked: on PostgreSQL it is a session advisory lock
(released when the server sees the connection go, from any host); on SQLite it is ``flock`` on the
run's lock file (released by the kernel when the process dies). A SQLite store lives on one host
(WAL needs shared memory), so that lock covers every writer it can have. A run is ``running`` while
its lock is held, and ``incomplete`` once its status says running but nobody holds the lock.

Portability: SQL here is plain (``?`` placeholders, ``INSERT ... RETURNING``); everything
backend-specific (connecting, placeholder style, version bookkeeping, table listing, run locks) sits in
a small ``Backend`` adapter, so ``Store`` is the same code on both engines.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .exceptions import CorruptDatabase, MalformedRow, RunLocked, StoreError, UnknownRun
from .records import (
    Attachment,
    DutRecord,
    Event,
    EventKind,
    Measurement,
    OutcomeDetail,
    RunOutcome,
    RunRecord,
    RunStatus,
    StepOutcome,
    StepRecord,
    validator_from_dict,
)

LOGGER = logging.getLogger(__name__)

SCHEMA_DIR = Path(__file__).parent / "schema"
SCHEMA_VERSION = 2
DB_FILENAME = "results.db"
ATTACHMENTS_DIRNAME = "attachments"
BUSY_TIMEOUT_S = 30.0
# Attachments up to this size live in the database; larger ones are files beside it.
INLINE_ATTACHMENT_MAX = 64 * 1024
EVENT_BATCH = 5000
# A lock probe (``results list`` on SQLite) holds a run's lock file for microseconds: a writer that
# finds the lock taken retries this long before it believes someone else is writing the run.
LOCK_RETRY_S = 0.5
POSTGRES_CONNECT_TIMEOUT_S = 10

_TABLE_RE = re.compile(r"^([a-z_]+?)_v(\d+)$")


def schema_sql(version: int) -> list[str]:
    """The statements of ``schema_v<version>.sql``, split on complete statements."""
    text = (SCHEMA_DIR / f"schema_v{version}.sql").read_text()
    statements, pending = [], ""
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        raise ValueError(f"schema_v{version}.sql ends inside a statement")
    return statements


# --------------------------------------------------------------------------------------------------
# Backend adapters


class Backend:
    """What differs between database engines; ``Store`` speaks only through this (and plain DB-API)."""

    url: str  # for messages and summaries: never carries a password
    root: Path | None  # where attachment files go; None keeps every attachment in the database
    # The driver module's DB-API exception classes.
    IntegrityError: type[Exception] = Exception
    OperationalError: type[Exception] = Exception

    def connect(self) -> Any:
        raise NotImplementedError

    def sql(self, statement: str) -> str:
        """Adapt a statement written with ``?`` placeholders to this driver's paramstyle."""
        return statement

    def begin(self, cursor: Any) -> None:
        raise NotImplementedError

    def lock_schema(self, cursor: Any) -> None:
        """Serialise migrations: called first in the migration transaction."""

    def get_version(self, cursor: Any) -> int:
        raise NotImplementedError

    def set_version(self, cursor: Any, version: int) -> None:
        raise NotImplementedError

    def table_names(self, cursor: Any) -> list[str]:
        raise NotImplementedError

    def columns(self, cursor: Any, table: str) -> list[str]:
        raise NotImplementedError

    def schema(self, version: int) -> list[str]:
        raise NotImplementedError

    def after_copy(self, cursor: Any, table: str) -> None:
        """A migration copied rows with their ids into ``table``: resynchronise what must follow them."""

    # -- run locks: one writer per run; held until released or the holder dies

    def lock_run(self, conn: Any, run_id: str, holder: str) -> Any:
        """Take run ``run_id``'s lock for this writer (``holder`` says who), or raise ``RunLocked``."""
        raise NotImplementedError

    def unlock_run(self, conn: Any, token: Any) -> None:
        raise NotImplementedError

    def locked_runs(self, conn: Any, run_ids: Sequence[str]) -> set[str]:
        """Those of ``run_ids`` whose lock someone (this store included) holds now."""
        raise NotImplementedError


class SqliteBackend(Backend):
    """SQLite in WAL mode, one connection per ``Store``, explicit transactions; run locks are ``flock``
    on one file per run beside the database."""

    IntegrityError = sqlite3.IntegrityError
    OperationalError = sqlite3.OperationalError

    def __init__(self, path: Path, root: Path | None):
        self.path = path
        self.root = root
        self.url = f"sqlite:///{path}"
        self.lock_dir = path.with_name(f"{path.name}-runlocks")

    def connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                   check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                LOGGER.warning("%s: journal mode is %s, not WAL", self.path, mode)
            # NORMAL in WAL mode survives a killed process; only an OS crash can lose the last commit.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            raise CorruptDatabase(f"{self.path}: not a usable SQLite database: {exc}") from None
        return conn

    def begin(self, cursor: sqlite3.Cursor) -> None:
        # IMMEDIATE takes the write lock up front, so two writers never deadlock upgrading a read lock.
        cursor.execute("BEGIN IMMEDIATE")

    def get_version(self, cursor: sqlite3.Cursor) -> int:
        return int(cursor.execute("PRAGMA user_version").fetchone()[0])

    def set_version(self, cursor: sqlite3.Cursor, version: int) -> None:
        cursor.execute(f"PRAGMA user_version = {int(version)}")

    def table_names(self, cursor: sqlite3.Cursor) -> list[str]:
        rows = cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        return [name for (name,) in rows if not name.startswith("sqlite_")]

    def columns(self, cursor: sqlite3.Cursor, table: str) -> list[str]:
        return [row[1] for row in cursor.execute(f"PRAGMA table_info({table})").fetchall()]

    def schema(self, version: int) -> list[str]:
        return schema_sql(version)

    def _lock_path(self, run_id: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)[:100]
        if safe != run_id:  # two ids that sanitise alike must not share a lock
            safe += "-" + _sha256(run_id.encode())[:12]
        return self.lock_dir / f"{safe}.lock"

    def lock_run(self, conn: Any, run_id: str, holder: str) -> int:
        path = self._lock_path(run_id)
        try:
            self.lock_dir.mkdir(exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o664)
        except OSError as exc:
            raise StoreError(f"{path}: cannot create the run's lock file: {exc.strerror or exc}") from None
        deadline = time.monotonic() + LOCK_RETRY_S
        while True:
            try:
                # flock, not fcntl: it belongs to this open file, so another Store in the same process
                # is refused too, and closing some other descriptor of the file never drops it.
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    text = os.pread(fd, 512, 0).decode("utf-8", "replace").strip()
                    os.close(fd)
                    raise RunLocked(run_id, text or "another process") from None
                time.sleep(0.02)
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode(), 0)
        return fd

    def unlock_run(self, conn: Any, token: int) -> None:
        with contextlib.suppress(OSError):
            os.close(token)  # closing the only descriptor releases the flock

    def locked_runs(self, conn: Any, run_ids: Sequence[str]) -> set[str]:
        held = set()
        for run_id in run_ids:
            try:
                fd = os.open(self._lock_path(run_id), os.O_RDONLY)
            except FileNotFoundError:
                continue  # never locked (a run written before run locks existed): nobody writes it
            try:
                # a shared probe: probes never exclude each other, and a writer retries past one
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                held.add(run_id)
            finally:
                os.close(fd)
        return held


def postgres_dialect(statement: str) -> str:
    """A schema statement written for SQLite in PostgreSQL's types (the rest of the SQL is shared)."""
    statement = re.sub(r"\bINTEGER PRIMARY KEY\b", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                       statement)
    statement = re.sub(r"\bINTEGER\b", "BIGINT", statement)
    statement = re.sub(r"\bREAL\b", "DOUBLE PRECISION", statement)
    return re.sub(r"\bBLOB\b", "BYTEA", statement)


POSTGRES_VERSION_TABLE = "hanrig_schema"
_RUN_LOCK_SALT = b"hanrig run lock:"
_SCHEMA_LOCK_KEY = int.from_bytes(hashlib.sha256(b"hanrig schema migration").digest()[:8], "big") >> 1


def run_lock_key(run_id: str) -> int:
    """The PostgreSQL advisory-lock key (a positive bigint) of a run."""
    return int.from_bytes(hashlib.sha256(_RUN_LOCK_SALT + run_id.encode()).digest()[:8], "big") >> 1


class PostgresBackend(Backend):
    """PostgreSQL through psycopg 3: autocommit connection with explicit transactions, the schema
    version in its own table, run locks as session advisory locks (released when the session ends)."""

    root = None

    def __init__(self, dsn: str):
        try:
            import psycopg
        except ModuleNotFoundError:
            raise StoreError(f"{_redact(dsn)}: PostgreSQL results stores need psycopg: "
                             "pip install 'hanrig[lab]'") from None
        self._psycopg = psycopg
        self.dsn = dsn
        self.url = _redact(dsn)
        self.IntegrityError = psycopg.IntegrityError
        self.OperationalError = psycopg.OperationalError

    def connect(self) -> Any:
        try:
            return self._psycopg.connect(
                self.dsn, autocommit=True, connect_timeout=POSTGRES_CONNECT_TIMEOUT_S,
                application_name=f"hanrig@{socket.gethostname()} pid {os.getpid()}"[:63])
        except self._psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise StoreError(f"{self.url}: cannot connect to the results database: {reason}") from None

    def sql(self, statement: str) -> str:
        return statement.replace("%", "%%").replace("?", "%s")

    def begin(self, cursor: Any) -> None:
        cursor.execute("BEGIN")

    def lock_schema(self, cursor: Any) -> None:
        # two first writers of an empty database must not both create the tables
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))

    def get_version(self, cursor: Any) -> int:
        cursor.execute("SELECT to_regclass(%s)", (POSTGRES_VERSION_TABLE,))
        if cursor.fetchone()[0] is None:
            return 0
        cursor.execute(f"SELECT version FROM {POSTGRES_VERSION_TABLE}")
        row = cursor.fetchone()
        return int(row[0]) if row else 0

    def set_version(self, cursor: Any, version: int) -> None:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {POSTGRES_VERSION_TABLE} (version BIGINT NOT NULL)")
        cursor.execute(f"DELETE FROM {POSTGRES_VERSION_TABLE}")
        cursor.execute(f"INSERT INTO {POSTGRES_VERSION_TABLE} (version) VALUES (%s)", (int(version),))

    def table_names(self, cursor: Any) -> list[str]:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        return [name for (name,) in cursor.fetchall() if name != POSTGRES_VERSION_TABLE]

    def columns(self, cursor: Any, table: str) -> list[str]:
        cursor.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = "
                       "current_schema() AND table_name = %s ORDER BY ordinal_position", (table,))
        return [name for (name,) in cursor.fetchall()]

    def schema(self, version: int) -> list[str]:
        return [postgres_dialect(statement) for statement in schema_sql(version)]

    def after_copy(self, cursor: Any, table: str) -> None:
        if "id" in self.columns(cursor, table):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)")

    def lock_run(self, conn: Any, run_id: str, holder: str) -> int:
        key = run_lock_key(run_id)
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", (key,))
            if cursor.fetchone()[0]:
                return key
            # who holds it: the session's application name says host and pid, its address the host
            cursor.execute(
                "SELECT a.application_name, host(a.client_addr), a.backend_start FROM pg_locks l "
                "LEFT JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                "AND l.granted AND l.classid = %s AND l.objid = %s AND l.objsubid = 1",
                (key >> 32, key & 0xFFFFFFFF))
            row = cursor.fetchone()
        who = "another session"
        if row is not None and row[0]:
            who = row[0] + (f" (from {row[1]})" if row[1] else "")
        raise RunLocked(run_id, who)

    def unlock_run(self, conn: Any, token: int) -> None:
        with contextlib.suppress(self._psycopg.Error), conn.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", (token,))

    def locked_runs(self, conn: Any, run_ids: Sequence[str]) -> set[str]:
        if not run_ids:
            return set()
        with conn.cursor() as cursor:
            cursor.execute("SELECT classid, objid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                           "AND objsubid = 1")
            held = {(int(c) << 32) | int(o) for c, o in cursor.fetchall()}
        return {run_id for run_id in run_ids if run_lock_key(run_id) in held}


def open_store(target: str | os.PathLike[str], *, create: bool = True) -> Store:
    """Open the results store at a directory, ``sqlite:///path/to.db`` or ``postgresql://...``."""
    text = os.fspath(target)
    if text.startswith(("postgresql://", "postgres://")):
        return Store(PostgresBackend(text), create=create)
    if text.startswith("sqlite://"):
        if not text.startswith("sqlite:///") or len(text) <= len("sqlite:///"):
            raise StoreError(f"{text}: a SQLite URL is sqlite:///path/to/results.db")
        db_path = Path(text[len("sqlite:///"):]) if text.startswith("sqlite:////") \
            else Path(text[len("sqlite://"):])
        root = db_path.parent
    elif "://" in text:
        raise StoreError(f"{_redact(text)}: unsupported results URL scheme {text.split('://')[0]!r} "
                         "(use a directory, sqlite:///path or postgresql://...)")
    else:
        path = Path(text).expanduser()
        if path.is_file():
            db_path, root = path, path.parent
        else:
            db_path, root = path / DB_FILENAME, path
    if not db_path.exists():
        if not create:
            raise StoreError(f"{text}: no results store there (no {db_path.name})")
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{root}: cannot create the results directory: {exc.strerror or exc}") from None
    return Store(SqliteBackend(db_path, root))


def _redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


# --------------------------------------------------------------------------------------------------
# The store


T_RUNS, T_DUTS, T_STEPS = f"runs_v{SCHEMA_VERSION}", f"duts_v{SCHEMA_VERSION}", f"steps_v{SCHEMA_VERSION}"
T_MEAS, T_ATT, T_EVENTS = (f"measurements_v{SCHEMA_VERSION}", f"attachments_v{SCHEMA_VERSION}",
                           f"events_v{SCHEMA_VERSION}")


@dataclass(frozen=True)
class RunSummary:
    """One line of ``results list``: a run without its DUT details."""

    run_id: str
    rig_name: str
    start: float
    end: float | None
    status: RunStatus
    outcome: RunOutcome | None
    host: str
    operator: str
    attempts: int
    duts: int
    steps: dict[str, int]


class Store:
    """Reads and writes run records; also an output callback (``store(run_record)``)."""

    def __init__(self, backend: Backend, *, create: bool = True):
        self.backend = backend
        self._lock = threading.RLock()
        self._conn = backend.connect()
        self._host = socket.gethostname()
        self._run_locks: dict[str, Any] = {}  # run id -> the backend's lock token, while we write it
        try:
            self._migrate(create)
        except BaseException:
            self._conn.close()
            raise

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.backend.url

    def close(self) -> None:
        with self._lock:
            for run_id in list(self._run_locks):
                self.release_run(run_id)
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[_Cursor]:
        """One short write transaction; rolled back whole on any error."""
        with self._lock:
            cursor = self._conn.cursor()
            try:
                self.backend.begin(cursor)
            except self.backend.OperationalError as exc:
                raise StoreError(f"{self.url}: cannot start a write: {exc}") from None
            try:
                yield _Cursor(cursor, self.backend)
            except BaseException:
                # a lost connection cannot roll back; the server drops the transaction itself
                with contextlib.suppress(self.backend.OperationalError):
                    cursor.execute("ROLLBACK")
                raise
            else:
                cursor.execute("COMMIT")
            finally:
                cursor.close()

    def _read(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            cursor = self._conn.cursor()
            try:
                cursor.execute(self.backend.sql(statement), params)
                return cursor.fetchall()
            finally:
                cursor.close()

    def _migrate(self, create: bool = True) -> None:
        """Bring the schema to ``SCHEMA_VERSION`` in one transaction, or refuse a corrupt database."""
        with self._tx() as cur:
            self.backend.lock_schema(cur.raw)
            version = self.backend.get_version(cur.raw)
            tables = self.backend.table_names(cur.raw)
            table_versions = set()
            for name in tables:
                match = _TABLE_RE.match(name)
                if match is None:
                    raise CorruptDatabase(f"{self.url}: unexpected table {name!r} in a results database")
                table_versions.add(int(match.group(2)))
            if not tables and version == 0:
                if not create:
                    raise StoreError(f"{self.url}: no results store there (no hanrig tables)")
                for statement in self.backend.schema(SCHEMA_VERSION):
                    cur.execute(statement)
                self.backend.set_version(cur.raw, SCHEMA_VERSION)
                return
            if table_versions != {version}:
                raise CorruptDatabase(
                    f"{self.url}: database version {version} does not match its table versions "
                    f"{sorted(table_versions)}; the database is inconsistent")
            if version > SCHEMA_VERSION:
                raise StoreError(f"{self.url}: results database is schema v{version}, newer than this "
                                 f"hanrig (v{SCHEMA_VERSION}); upgrade hanrig to read it")
            for target in range(version + 1, SCHEMA_VERSION + 1):
                LOGGER.info("Migrating results database %s from v%d to v%d", self.url, target - 1, target)
                MIGRATIONS[target](self, cur)
                self.backend.set_version(cur.raw, target)

    # -- one writer per run ---------------------------------------------------------------------

    def _writer(self) -> str:
        return f"hanrig@{self._host} pid {os.getpid()}"

    def acquire_run(self, run_id: str) -> None:
        """Become the one writer of ``run_id`` (until ``release_run``, ``finish_run`` or ``close``);
        ``RunLocked`` names whoever already is."""
        with self._lock:
            if run_id not in self._run_locks:
                self._run_locks[run_id] = self.backend.lock_run(self._conn, run_id, self._writer())

    def release_run(self, run_id: str) -> None:
        with self._lock:
            token = self._run_locks.pop(run_id, None)
            if token is not None:
                self.backend.unlock_run(self._conn, token)

    # -- writing, live -------------------------------------------------------------------------

    def begin_run(self, run: RunRecord) -> None:
        """Insert the run as ``running`` with its DUTs, before any step runs (its writer holds its lock)."""
        self.acquire_run(run.run_id)
        with self._tx() as cur:
            cur.execute(
                f"INSERT INTO {T_RUNS} (run_id, rig_name, rig_snapshot, host, operator, versions, "
                "radio_firmware, start_time, end_time, status, outcome, details, writer_host, writer_pid, "
                "attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, NULL, ?, ?, ?, ?)",
                (run.run_id, run.rig_name, run.rig_snapshot, run.host, run.operator, _j(run.versions),
                 _j(run.radio_firmware), run.start, str(RunStatus.RUNNING),
                 _j([d.to_dict() for d in run.details]), self._host, os.getpid(), run.attempts))
            for position, dut in enumerate(run.duts):
                self._insert_dut(cur, run.run_id, dut, position)
        run.status = RunStatus.RUNNING

    def _insert_dut(self, cur: _Cursor, run_id: str, dut: DutRecord, position: int) -> None:
        cur.execute(
            f"INSERT INTO {T_DUTS} (run_id, dut_id, role, eui64, radio, manufacturer, model, "
            "firmware_before, firmware_after, image_hash, metadata, position) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, dut.id, dut.role, dut.eui64, dut.radio, dut.manufacturer, dut.model, dut.firmware_before,
             dut.firmware_after, dut.image_hash, _j(dut.metadata), position))

    def update_dut(self, run_id: str, dut: DutRecord) -> None:
        """Write what was learnt about a DUT (model, firmware before/after, image hash, metadata)."""
        with self._tx() as cur:
            cur.execute(
                f"UPDATE {T_DUTS} SET manufacturer = ?, model = ?, firmware_before = ?, firmware_after = ?, "
                "image_hash = ?, metadata = ? WHERE run_id = ? AND dut_id = ?",
                (dut.manufacturer, dut.model, dut.firmware_before, dut.firmware_after, dut.image_hash,
                 _j(dut.metadata), run_id, dut.id))
            if cur.rowcount == 0:
                raise UnknownRun(run_id, f"no DUT {dut.id!r} in this run")

    def set_radio_firmware(self, run_id: str, radio_firmware: dict[str, str]) -> None:
        with self._tx() as cur:
            cur.execute(f"UPDATE {T_RUNS} SET radio_firmware = ? WHERE run_id = ?",
                        (_j(radio_firmware), run_id))

    def record_step(self, run_id: str, step: StepRecord) -> None:
        """Commit one finished step with its measurements and attachments, all or nothing."""
        with self._tx() as cur:
            self._insert_step(cur, run_id, step)

    def _insert_step(self, cur: _Cursor, run_id: str, step: StepRecord) -> None:
        try:
            cur.execute(
                f"INSERT INTO {T_STEPS} (run_id, dut_id, step_index, attempt, name, start_time, end_time, "
                "outcome, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (run_id, step.dut_id, step.index, step.attempt, step.name, step.start, step.end,
                 str(step.outcome) if step.outcome else None, _j([d.to_dict() for d in step.details])))
        except self.backend.IntegrityError as exc:
            raise StoreError(f"run {run_id}: cannot record step {step.index} ({step.name}) of DUT "
                             f"{step.dut_id!r} attempt {step.attempt}: {exc}") from None
        (step_id,) = cur.fetchone()
        cur.executemany(
            f"INSERT INTO {T_MEAS} (step_id, seq, name, value, units, validator, description, outcome, "
            "marginal) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(step_id, seq, m.name, _j(m.value), m.units, _j(m.validator.to_dict()) if m.validator else None,
              m.description, str(m.outcome), int(m.marginal)) for seq, m in enumerate(step.measurements)])
        rows = []
        for seq, attachment in enumerate(step.attachments):
            data = attachment.read()
            path = None
            if len(data) > INLINE_ATTACHMENT_MAX and self.backend.root is not None:
                path = self._write_attachment_file(run_id, step_id, seq, attachment.name, data)
            rows.append((step_id, seq, attachment.name, attachment.mimetype, _sha256(data), len(data),
                         None if path else data, path))
        cur.executemany(
            f"INSERT INTO {T_ATT} (step_id, seq, name, mimetype, sha256, size, data, path) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def _write_attachment_file(self, run_id: str, step_id: int, seq: int, name: str, data: bytes) -> str:
        """Store a large attachment by content id: ``attachments/<sha256>`` (nothing from the run, its
        steps or the attachment's name goes into the path, so no stored value can steer it)."""
        assert self.backend.root is not None
        relative = Path(ATTACHMENTS_DIRNAME) / _sha256(data)
        if not (self.backend.root / relative).is_file():
            atomic_write(self.backend.root / relative, data)
        return relative.as_posix()

    def _attachment_file(self, run_id: str, sha256: str, path: str) -> Path:
        """Where a stored attachment's bytes are: by its content id inside the store's attachments
        directory. A path column from an older store is followed only while it stays inside that
        directory; anything else (``../``, an absolute path) is refused, never read."""
        root = self.backend.root
        if root is None:
            raise StoreError(f"run {run_id}: attachment {path!r} is a file, but this store keeps no files")
        base = (root / ATTACHMENTS_DIRNAME).resolve()
        if re.fullmatch(r"[0-9a-f]{64}", str(sha256)) and (base / sha256).is_file():
            return base / sha256
        candidate = (root / str(path)).resolve()
        if candidate.is_relative_to(base) and candidate != base:
            return candidate
        raise StoreError(f"run {run_id}: attachment path {path!r} is outside the store's "
                         f"{ATTACHMENTS_DIRNAME}/ directory")

    def add_events(self, run_id: str, events: Iterable[Event], attempt: int = 1) -> int:
        """Append events in bulk (batched transactions); returns how many were written."""
        count = 0
        batch: list[tuple[Any, ...]] = []

        def flush() -> None:
            with self._tx() as cur:
                cur.executemany(f"INSERT INTO {T_EVENTS} (run_id, dut_id, attempt, time, kind, data) "
                                "VALUES (?, ?, ?, ?, ?, ?)", batch)
            batch.clear()

        for event in events:
            batch.append((run_id, event.dut_id, attempt, event.time, str(event.kind), _j(dict(event.data))))
            count += 1
            if len(batch) >= EVENT_BATCH:
                flush()
        if batch:
            flush()
        return count

    def finish_run(self, run: RunRecord) -> None:
        """Mark the run finished with its outcome, end time, details and what was learnt of the DUTs."""
        if run.outcome is None or run.end is None:
            raise ValueError(f"run {run.run_id} is not finished (call RunRecord.finish first)")
        with self._tx() as cur:
            cur.execute(
                f"UPDATE {T_RUNS} SET end_time = ?, status = ?, outcome = ?, details = ?, radio_firmware = ? "
                "WHERE run_id = ?",
                (run.end, str(RunStatus.FINISHED), str(run.outcome), _j([d.to_dict() for d in run.details]),
                 _j(run.radio_firmware), run.run_id))
            if cur.rowcount == 0:
                raise UnknownRun(run.run_id)
            for dut in run.duts:
                cur.execute(
                    f"UPDATE {T_DUTS} SET manufacturer = ?, model = ?, firmware_before = ?, "
                    "firmware_after = ?, image_hash = ?, metadata = ? WHERE run_id = ? AND dut_id = ?",
                    (dut.manufacturer, dut.model, dut.firmware_before, dut.firmware_after, dut.image_hash,
                     _j(dut.metadata), run.run_id, dut.id))
        run.status = RunStatus.FINISHED
        self.release_run(run.run_id)

    def begin_attempt(self, run_id: str) -> int:
        """Reopen a run for a resumed attempt; returns the new attempt number (2, 3, ...).

        Refused with ``RunLocked`` while another writer (a run or a resume, on any host) holds the run."""
        run_id = self.resolve(run_id)
        self.acquire_run(run_id)
        with self._tx() as cur:
            cur.execute(f"UPDATE {T_RUNS} SET attempts = attempts + 1, status = ?, end_time = NULL, "
                        "outcome = NULL, writer_host = ?, writer_pid = ? WHERE run_id = ? RETURNING attempts",
                        (str(RunStatus.RUNNING), self._host, os.getpid(), run_id))
            (attempt,) = cur.fetchone()
        return int(attempt)

    # -- the output callback ---------------------------------------------------------------------

    def __call__(self, run: RunRecord) -> None:
        self.save_run(run)

    def save_run(self, run: RunRecord) -> None:
        """Store a finished record: a new run whole, or for a streamed run what is not stored yet.

        A run already in the store (written live by ``begin_run``/``record_step``) gets the steps it
        lacks and its final state; its events are assumed streamed with ``add_events`` already.
        """
        exists = bool(self._read(f"SELECT 1 FROM {T_RUNS} WHERE run_id = ?", (run.run_id,)))
        if not exists:
            self.begin_run(run)
            self.add_events(run.run_id, run.all_events())
        stored = {(d, i, a) for d, i, a in self._read(
            f"SELECT dut_id, step_index, attempt FROM {T_STEPS} WHERE run_id = ?", (run.run_id,))}
        with self._tx() as cur:
            for dut in run.duts:
                for step in dut.steps:
                    if (step.dut_id, step.index, step.attempt) not in stored:
                        self._insert_step(cur, run.run_id, step)
        if run.outcome is None or run.end is None:
            run.finish()
        self.finish_run(run)

    # -- reading -------------------------------------------------------------------------------

    def resolve(self, run_id: str) -> str:
        """The full run id for an id or a unique prefix of one."""
        rows = self._read(f"SELECT run_id FROM {T_RUNS} WHERE run_id = ?", (run_id,))
        if rows:
            return rows[0][0]
        escaped = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._read(f"SELECT run_id FROM {T_RUNS} WHERE run_id LIKE ? ESCAPE '\\' ORDER BY run_id",
                          (escaped + "%",))
        if not rows:
            raise UnknownRun(run_id)
        if len(rows) > 1:
            shown = ", ".join(r[0] for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
            raise UnknownRun(run_id, f"ambiguous prefix ({len(rows)} runs match: {shown})")
        return rows[0][0]

    def _statuses(self, rows: Iterable[tuple[str, str]]) -> dict[str, RunStatus]:
        """(run id, stored status) -> the status to report: a run stored as running whose lock nobody
        holds has lost its writer (killed, crashed, power cut, host gone) and is ``incomplete``."""
        rows = list(rows)
        running = [run_id for run_id, status in rows if status == RunStatus.RUNNING]
        with self._lock:
            alive = self.backend.locked_runs(self._conn, running)
        return {run_id: (RunStatus.INCOMPLETE if status == RunStatus.RUNNING and run_id not in alive
                         else RunStatus(status)) for run_id, status in rows}

    def list_runs(self, limit: int | None = 50) -> list[RunSummary]:
        """Recent runs, newest first (see :meth:`_list_runs`); a row that does not decode is MalformedRow."""
        try:
            return self._list_runs(limit)
        except _ROW_ERRORS as exc:
            raise MalformedRow(f"{self.url}: a stored run does not decode "
                               f"({type(exc).__name__}: {exc})") from None

    def _list_runs(self, limit: int | None = 50) -> list[RunSummary]:
        """The most recent runs first."""
        sql = (f"SELECT run_id, rig_name, start_time, end_time, status, outcome, host, operator, attempts, "
               f"(SELECT COUNT(*) FROM {T_DUTS} d WHERE d.run_id = r.run_id) "
               f"FROM {T_RUNS} r ORDER BY start_time DESC, run_id DESC")
        params: tuple[Any, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (limit,)
        rows = self._read(sql, params)
        counts: dict[str, dict[str, int]] = {}
        if rows:
            ids = [r[0] for r in rows]
            marks = ", ".join("?" * len(ids))
            # Only the latest attempt of each step counts, as in DutRecord.final_steps.
            for run_id, outcome, n in self._read(
                    f"SELECT s.run_id, COALESCE(s.outcome, 'RUNNING'), COUNT(*) FROM {T_STEPS} s "
                    f"WHERE s.run_id IN ({marks}) AND s.attempt = (SELECT MAX(t.attempt) FROM {T_STEPS} t "
                    "WHERE t.run_id = s.run_id AND t.dut_id = s.dut_id AND t.step_index = s.step_index) "
                    "GROUP BY s.run_id, s.outcome", ids):
                counts.setdefault(run_id, {})[outcome] = n
        statuses = self._statuses((r[0], r[4]) for r in rows)
        return [RunSummary(r[0], _text(r[1]), _epoch(r[2]), _epoch(r[3], None), statuses[r[0]],
                           RunOutcome(r[5]) if r[5] else None, _text(r[6]), _text(r[7]), _int(r[8]), r[9],
                           counts.get(r[0], {}))
                for r in rows]

    def incomplete_runs(self) -> list[str]:
        """Runs whose writer died before finishing them (a kill, a crash, a power cut)."""
        rows = self._read(f"SELECT run_id, status FROM {T_RUNS} WHERE status = ?", (str(RunStatus.RUNNING),))
        statuses = self._statuses((r[0], r[1]) for r in rows)
        return [r[0] for r in rows if statuses[r[0]] is RunStatus.INCOMPLETE]

    def load_run(self, run_id: str) -> RunRecord:
        """The whole record of a run (see :meth:`_load_run`); a row that does not decode (a damaged or
        hand-edited store) is :class:`MalformedRow`, never an error nobody meant."""
        try:
            return self._load_run(run_id)
        except _ROW_ERRORS as exc:
            raise MalformedRow(f"run {run_id}: a stored row does not decode "
                               f"({type(exc).__name__}: {exc})") from None

    def _load_run(self, run_id: str) -> RunRecord:
        """The whole record of a run (an id or unique prefix), every attempt of every step included."""
        run_id = self.resolve(run_id)
        with self._lock:
            (r,) = self._read(
                "SELECT run_id, rig_name, rig_snapshot, host, operator, versions, radio_firmware, "
                "start_time, end_time, status, outcome, details, writer_host, writer_pid, attempts "
                f"FROM {T_RUNS} WHERE run_id = ?", (run_id,))
            run = RunRecord(
                run_id=r[0], rig_name=_text(r[1]), rig_snapshot=_text(r[2]), host=_text(r[3]),
                operator=_text(r[4]), versions=_loads(r[5], dict), radio_firmware=_loads(r[6], dict),
                start=_epoch(r[7]), end=_epoch(r[8], None),
                outcome=RunOutcome(r[10]) if r[10] else None, status=self._statuses([(r[0], r[9])])[r[0]],
                details=[OutcomeDetail.from_dict(d) for d in _loads(r[11], list)], attempts=_int(r[14]))
            duts: dict[str, DutRecord] = {}
            for d in self._read(
                    "SELECT dut_id, role, eui64, radio, manufacturer, model, firmware_before, "
                    f"firmware_after, image_hash, metadata FROM {T_DUTS} WHERE run_id = ? "
                    "ORDER BY position, dut_id", (run_id,)):
                duts[d[0]] = DutRecord(_text(d[0]), _text(d[1]), _text(d[2]), _text(d[3]), d[4], d[5],
                                       _int(d[6], None), _int(d[7], None), d[8], _loads(d[9], dict))
            steps: dict[int, StepRecord] = {}
            for s in self._read(
                    f"SELECT id, dut_id, step_index, attempt, name, start_time, end_time, outcome, details "
                    f"FROM {T_STEPS} WHERE run_id = ? ORDER BY step_index, attempt, id", (run_id,)):
                step = StepRecord(name=_text(s[4]), index=_int(s[2]), dut_id=s[1], start=_epoch(s[5]),
                                  end=_epoch(s[6], None),
                                  outcome=StepOutcome(s[7]) if s[7] else None,
                                  details=[OutcomeDetail.from_dict(x) for x in _loads(s[8], list)],
                                  attempt=_int(s[3]))
                steps[s[0]] = step
                duts[s[1]].steps.append(step)
            for step_id, name, value, units, validator, description in self._read(
                    f"SELECT m.step_id, m.name, m.value, m.units, m.validator, m.description FROM {T_MEAS} m "
                    f"JOIN {T_STEPS} s ON s.id = m.step_id WHERE s.run_id = ? ORDER BY m.step_id, m.seq",
                    (run_id,)):
                steps[step_id].measurements.append(Measurement(
                    name, json.loads(value), units,
                    validator_from_dict(_loads(validator, dict) if validator else None), description))
            for step_id, name, mimetype, data, path, sha256 in self._read(
                    f"SELECT a.step_id, a.name, a.mimetype, a.data, a.path, a.sha256 FROM {T_ATT} a "
                    f"JOIN {T_STEPS} s ON s.id = a.step_id WHERE s.run_id = ? ORDER BY a.step_id, a.seq",
                    (run_id,)):
                if path is not None:
                    file = self._attachment_file(run_id, sha256, path)
                    steps[step_id].attachments.append(Attachment(name, mimetype, path=file))
                else:
                    steps[step_id].attachments.append(Attachment(name, mimetype, data=bytes(data)))
            for dut_id, t, kind, data in self._read(
                    f"SELECT dut_id, time, kind, data FROM {T_EVENTS} WHERE run_id = ? ORDER BY time, id",
                    (run_id,)):
                event = Event(_epoch(t), EventKind(kind), _loads(data, dict), dut_id)
                if dut_id is not None and dut_id in duts:
                    duts[dut_id].events.append(event)
                else:
                    run.events.append(event)
            run.duts = list(duts.values())
        return run

    def not_passed(self, run_id: str,
                   planned: Iterable[tuple[str, int, str]] | None = None) -> list[tuple[str, int, str]]:
        """(DUT id, step index, step name) whose latest attempt did not PASS, for ``--resume``.

        With ``planned`` (``Rig.planned()``), steps never recorded (the run died first) are included.
        """
        run_id = self.resolve(run_id)
        latest: dict[tuple[str, int], tuple[int, str, str | None]] = {}
        for dut_id, index, attempt, name, outcome in self._read(
                f"SELECT dut_id, step_index, attempt, name, outcome FROM {T_STEPS} WHERE run_id = ?",
                (run_id,)):
            key = (dut_id, index)
            if key not in latest or attempt > latest[key][0]:
                latest[key] = (attempt, name, outcome)
        result = [(d, i, name) for (d, i), (_a, name, outcome) in latest.items()
                  if outcome != StepOutcome.PASS]
        if planned is not None:
            result += [(d, i, name) for d, i, name in planned if (d, i) not in latest]
        return sorted(result, key=lambda item: (item[1], item[0]))


class _Cursor:
    """A cursor that adapts placeholders through the backend, so Store's SQL stays portable."""

    def __init__(self, raw: Any, backend: Backend):
        self.raw = raw
        self._backend = backend

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        self.raw.execute(self._backend.sql(statement), params)

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.raw.executemany(self._backend.sql(statement), rows)

    def fetchone(self) -> Any:
        return self.raw.fetchone()

    @property
    def rowcount(self) -> int:
        return int(self.raw.rowcount)


# --------------------------------------------------------------------------------------------------
# Migrations: MIGRATIONS[n] moves a v(n-1) database to v(n), inside the caller's transaction.


def _copy_tables(store: Store, cur: _Cursor, old: int, new: int, tables: Sequence[str]) -> None:
    """Copy each ``<table>_v<old>`` into ``<table>_v<new>`` (shared columns), then drop the old ones."""
    for table in tables:
        src, dst = f"{table}_v{old}", f"{table}_v{new}"
        src_cols = store.backend.columns(cur.raw, src)
        dst_cols = set(store.backend.columns(cur.raw, dst))
        columns = ", ".join(c for c in src_cols if c in dst_cols)
        cur.execute(f"INSERT INTO {dst} ({columns}) SELECT {columns} FROM {src}")
        store.backend.after_copy(cur.raw, dst)
    for table in reversed(tables):  # children first, so no foreign key points at a dropped table
        cur.execute(f"DROP TABLE {table}_v{old}")


def _migrate_to_v2(store: Store, cur: _Cursor) -> None:
    """v2 adds attempts (resume): every v1 step and event becomes attempt 1 of its run."""
    for statement in store.backend.schema(2):
        cur.execute(statement)
    _copy_tables(store, cur, 1, 2, ("runs", "duts", "steps", "measurements", "attachments", "events"))


MIGRATIONS: dict[int, Callable[[Store, _Cursor], None]] = {2: _migrate_to_v2}


# --------------------------------------------------------------------------------------------------
# Helpers


def _j(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# what decoding a damaged row raises (bad JSON, an unknown enum value, a wrong type, a missing key)
_ROW_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError)


_MISSING: Any = object()
_LAST_EPOCH = 253402300799.0  # 9999-12-31T23:59:59Z, the last instant a datetime can hold


def _epoch(value: Any, default: Any = _MISSING) -> Any:
    """A stored time: seconds since the epoch that a datetime can hold (None only where allowed)."""
    if value is None and default is not _MISSING:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= _LAST_EPOCH:
        raise ValueError(f"{value!r} is not a time")
    return float(value)


def _int(value: Any, default: Any = _MISSING) -> Any:
    if value is None and default is not _MISSING:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not an integer")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not text")
    return value


def _loads(text: Any, kind: type) -> Any:
    """A JSON column, which must hold a ``kind`` (dict or list); anything else is a ValueError."""
    value = json.loads(text)
    if not isinstance(value, kind):
        raise ValueError(f"expected a JSON {kind.__name__}, the row holds {type(value).__name__}")
    return value


def safe_name(name: str, fallback: str = "file") -> str:
    """One path component made from a stored or user-given name: letters, digits, ``_ . -`` only, no
    leading dot (so never ``.`` or ``..``), at most 80 characters."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(name))[:80].lstrip(".") or fallback


def contained_path(directory: Path, *names: str) -> Path:
    """``directory`` joined with each of ``names`` made safe (:func:`safe_name`); a result that would
    still resolve outside ``directory`` (a symlink planted inside it) is a :class:`StoreError`."""
    target = Path(directory).joinpath(*(safe_name(n) for n in names))
    base = Path(directory).resolve()
    if not target.resolve().is_relative_to(base):
        raise StoreError(f"{target}: resolves outside {directory}; not writing there")
    return target


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a reader sees the old file or the whole new one, never half.

    Stages beside the target (same filesystem, so the rename is atomic), never in the system temp dir.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(staging, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(staging, path)
    except BaseException:
        with contextlib.suppress(OSError):
            staging.unlink()
        raise
