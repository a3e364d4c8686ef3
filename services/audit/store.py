"""The audit log: append-only, one gapless sequence and one SHA-256 hash chain per tenant.

Record n of a tenant is chained to record n-1:

    hash_n = SHA-256( bytes.fromhex(hash_{n-1}) || uint64_be(n) || event_bytes_n )

with hash_0 = 64 hex zeros. `event_bytes` are the stored bytes of the
AuditEvent (deterministic protobuf serialization, done once at append time;
verification hashes the stored bytes, never a re-serialization). Each record
also stores `prev_hash`, the hash it was chained to, so that verification can
tell a changed record from a removed or moved one. Changing, inserting,
removing or moving any record breaks the chain at that record.
"""

from __future__ import annotations

import abc
import hashlib
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Iterator

from google.protobuf.timestamp_pb2 import Timestamp

from ragline.v1 import audit_pb2

GENESIS_HASH = "0" * 64
SCHEMA_VERSION = 2


def chain_hash(previous_hash: str, sequence: int, event_bytes: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(previous_hash) + sequence.to_bytes(8, "big") + event_bytes).hexdigest()


@dataclass(frozen=True)
class StoredRecord:
    tenant: str
    sequence: int
    event: audit_pb2.AuditEvent
    stored_at_ns: int
    hash: str
    prev_hash: str
    # The exact bytes that were hashed, so that an export can be verified outside Ragline.
    event_bytes: bytes
    occurred_at_ns: int

    def to_proto(self) -> audit_pb2.AuditRecord:
        stored_at = Timestamp()
        stored_at.FromNanoseconds(self.stored_at_ns)
        return audit_pb2.AuditRecord(sequence=self.sequence, event=self.event, stored_at=stored_at)


@dataclass(frozen=True)
class AuditQuery:
    tenant: str
    principal: str = ""
    action: str = ""
    document_id: str = ""
    # occurred_at window: since <= occurred_at < until, in nanoseconds since the epoch.
    since_ns: int | None = None
    until_ns: int | None = None
    after_sequence: int = 0
    limit: int = 100


@dataclass(frozen=True)
class ChainVerification:
    tenant: str
    # Records that verified, from the first one on.
    records_checked: int
    # Hash of the tenant's last stored record (GENESIS_HASH for an empty log).
    head_hash: str
    # The first sequence number whose record does not verify, and why.
    broken_at: int | None = None
    problem: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_at is None


class StoreUnavailable(Exception):
    """The store cannot be written or read right now (disk full, locked, I/O error); retry later."""


class AuditStore(abc.ABC):
    @abc.abstractmethod
    def append(self, event: audit_pb2.AuditEvent) -> StoredRecord | None:
        """Store the event at the end of its tenant's log; None if its event id is already stored."""

    @abc.abstractmethod
    def query(self, query: AuditQuery) -> list[StoredRecord]:
        """The tenant's records that match, in sequence order."""

    @abc.abstractmethod
    def verify_chain(self, tenant: str) -> ChainVerification:
        """Recompute the tenant's hash chain from the first record; name the first record that breaks it."""

    @abc.abstractmethod
    def recent(self, since_ns: int, actions: Collection[str]) -> Iterator[StoredRecord]:
        """Every tenant's records of these actions that occurred since then, oldest first."""

    @abc.abstractmethod
    def close(self) -> None: ...


_APPEND_ONLY = """
CREATE TRIGGER IF NOT EXISTS audit_records_no_update BEFORE UPDATE ON audit_records
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""

# Each entry takes the file from the previous version to this one, in one transaction.
_MIGRATIONS = {
    1: """
CREATE TABLE IF NOT EXISTS audit_records (
    tenant TEXT NOT NULL,
    sequence INTEGER NOT NULL CHECK (sequence >= 1),
    event_id TEXT NOT NULL UNIQUE,
    principal TEXT NOT NULL,
    action TEXT NOT NULL,
    occurred_at_ns INTEGER NOT NULL,
    stored_at_ns INTEGER NOT NULL,
    event BLOB NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (tenant, sequence)
);
CREATE INDEX IF NOT EXISTS audit_records_by_principal ON audit_records (tenant, principal, sequence);
CREATE INDEX IF NOT EXISTS audit_records_by_action ON audit_records (tenant, action, sequence);
CREATE INDEX IF NOT EXISTS audit_records_by_time ON audit_records (tenant, occurred_at_ns);
CREATE TABLE IF NOT EXISTS audit_record_documents (
    tenant TEXT NOT NULL,
    document_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    PRIMARY KEY (tenant, document_id, sequence),
    FOREIGN KEY (tenant, sequence) REFERENCES audit_records (tenant, sequence)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS audit_records_no_delete BEFORE DELETE ON audit_records
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_record_documents_no_update BEFORE UPDATE ON audit_record_documents
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_record_documents_no_delete BEFORE DELETE ON audit_record_documents
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""
    + _APPEND_ONLY,
    # prev_hash of existing records is the stored hash of the record before them, which is what they were
    # chained to; a record that was already tampered with still fails verification after this step.
    2: f"""
DROP TRIGGER IF EXISTS audit_records_no_update;
ALTER TABLE audit_records ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
UPDATE audit_records SET prev_hash = COALESCE(
    (SELECT p.hash FROM audit_records p
     WHERE p.tenant = audit_records.tenant AND p.sequence = audit_records.sequence - 1),
    '{GENESIS_HASH}'
);
CREATE INDEX IF NOT EXISTS audit_records_by_hash ON audit_records (tenant, hash);
CREATE INDEX IF NOT EXISTS audit_records_by_occurrence ON audit_records (occurred_at_ns);
"""
    + _APPEND_ONLY,
}

_COLUMNS = "tenant, sequence, event, stored_at_ns, hash, prev_hash, occurred_at_ns"


def _record(row: tuple) -> StoredRecord:
    tenant, sequence, event_bytes, stored_at_ns, record_hash, prev_hash, occurred_at_ns = row
    event = audit_pb2.AuditEvent.FromString(event_bytes)
    return StoredRecord(tenant, sequence, event, stored_at_ns, record_hash, prev_hash, event_bytes, occurred_at_ns)


class SqliteAuditStore(AuditStore):
    """One SQLite file in WAL mode with synchronous=FULL: an appended record survives a power cut.

    Appends go through one connection under a lock and in BEGIN IMMEDIATE
    transactions, so sequence numbers stay gapless with any number of writer
    threads (and processes). Each read opens its own read-only connection,
    which WAL lets run beside a write.
    """

    def __init__(self, path: Path, busy_timeout_s: float = 30.0):
        self._path = path
        self._busy_timeout_s = busy_timeout_s
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._writer = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
            self._writer.execute("PRAGMA journal_mode=WAL")
            self._writer.execute("PRAGMA synchronous=FULL")
            self._writer.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.Error as error:
            raise StoreUnavailable(f"cannot open the audit store {path}: {error}") from error

    def _migrate(self) -> None:
        version = self._writer.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreUnavailable(
                f"{self._path} has schema version {version}; this build knows up to {SCHEMA_VERSION}"
            )
        for step in range(version + 1, SCHEMA_VERSION + 1):
            self._writer.executescript(f"BEGIN IMMEDIATE; {_MIGRATIONS[step]} PRAGMA user_version={step}; COMMIT;")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            connection = self._writer
            try:
                connection.execute("BEGIN IMMEDIATE")
                try:
                    yield connection
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
                connection.execute("COMMIT")
            except sqlite3.OperationalError as error:
                raise StoreUnavailable(f"audit store write failed: {error}") from error

    def append(self, event: audit_pb2.AuditEvent) -> StoredRecord | None:
        tenant = event.header.tenant
        event_bytes = event.SerializeToString(deterministic=True)
        stored_at_ns = time.time_ns()
        occurred_at_ns = _occurred_at_ns(event, stored_at_ns)
        with self._transaction() as connection:
            if connection.execute(
                "SELECT 1 FROM audit_records WHERE event_id = ?", (event.header.event_id,)
            ).fetchone():
                return None
            last = connection.execute(
                "SELECT sequence, hash FROM audit_records WHERE tenant = ? ORDER BY sequence DESC LIMIT 1", (tenant,)
            ).fetchone()
            sequence, previous_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
            record_hash = chain_hash(previous_hash, sequence, event_bytes)
            connection.execute(
                "INSERT INTO audit_records (tenant, sequence, event_id, principal, action, occurred_at_ns,"
                " stored_at_ns, event, hash, prev_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    tenant,
                    sequence,
                    event.header.event_id,
                    event.principal,
                    event.action,
                    occurred_at_ns,
                    stored_at_ns,
                    event_bytes,
                    record_hash,
                    previous_hash,
                ),
            )
            connection.executemany(
                "INSERT OR IGNORE INTO audit_record_documents (tenant, document_id, sequence) VALUES (?, ?, ?)",
                [(tenant, document_id, sequence) for document_id in event.document_ids],
            )
        return StoredRecord(
            tenant, sequence, event, stored_at_ns, record_hash, previous_hash, event_bytes, occurred_at_ns
        )

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        try:
            uri = f"{self._path.resolve().as_uri()}?mode=ro"
            connection = sqlite3.connect(uri, uri=True, timeout=self._busy_timeout_s)
        except sqlite3.Error as error:
            raise StoreUnavailable(f"cannot read the audit store: {error}") from error
        try:
            yield connection
        except sqlite3.OperationalError as error:
            raise StoreUnavailable(f"audit store read failed: {error}") from error
        finally:
            connection.close()

    def query(self, query: AuditQuery) -> list[StoredRecord]:
        sql = f"SELECT {_COLUMNS} FROM audit_records r WHERE tenant = ? AND sequence > ?"
        parameters: list[object] = [query.tenant, query.after_sequence]
        for column, value in (("principal", query.principal), ("action", query.action)):
            if value:
                sql += f" AND {column} = ?"
                parameters.append(value)
        if query.since_ns is not None:
            sql += " AND occurred_at_ns >= ?"
            parameters.append(query.since_ns)
        if query.until_ns is not None:
            sql += " AND occurred_at_ns < ?"
            parameters.append(query.until_ns)
        if query.document_id:
            sql += (
                " AND EXISTS (SELECT 1 FROM audit_record_documents d"
                " WHERE d.tenant = r.tenant AND d.document_id = ? AND d.sequence = r.sequence)"
            )
            parameters.append(query.document_id)
        sql += " ORDER BY sequence LIMIT ?"
        parameters.append(query.limit)
        with self._reader() as connection:
            rows = connection.execute(sql, parameters).fetchall()
        return [_record(row) for row in rows]

    def recent(self, since_ns: int, actions: Collection[str]) -> Iterator[StoredRecord]:
        marks = ", ".join("?" for _ in actions)
        with self._reader() as connection:
            rows = connection.execute(
                f"SELECT {_COLUMNS} FROM audit_records WHERE occurred_at_ns >= ? AND action IN ({marks})"
                " ORDER BY occurred_at_ns, tenant, sequence",
                (since_ns, *actions),
            )
            for row in rows:
                yield _record(row)

    def verify_chain(self, tenant: str) -> ChainVerification:
        with self._reader() as connection:
            # One snapshot: the head and the walk see the same records while appends go on.
            connection.execute("BEGIN")
            head = connection.execute(
                "SELECT hash FROM audit_records WHERE tenant = ? ORDER BY sequence DESC LIMIT 1", (tenant,)
            ).fetchone()
            head_hash = head[0] if head else GENESIS_HASH
            checked = 0
            previous_hash = GENESIS_HASH
            rows = connection.execute(
                "SELECT sequence, event_id, principal, action, event, hash, prev_hash FROM audit_records"
                " WHERE tenant = ? ORDER BY sequence",
                (tenant,),
            )
            for sequence, event_id, principal, action, event_bytes, record_hash, prev_hash in rows:
                expected = checked + 1
                problem = (
                    _gap(expected, sequence)
                    or _broken_link(connection, tenant, sequence, prev_hash, previous_hash)
                    or _changed(sequence, prev_hash, event_bytes, record_hash)
                    or _index_differs(connection, tenant, sequence, event_id, principal, action, event_bytes)
                )
                if problem:
                    return ChainVerification(tenant, checked, head_hash, expected, problem)
                previous_hash = record_hash
                checked += 1
            connection.rollback()
        return ChainVerification(tenant, checked, head_hash)

    def close(self) -> None:
        with self._lock:
            self._writer.close()


def _gap(expected: int, sequence: int) -> str:
    if sequence == expected:
        return ""
    return f"sequence gap after {expected - 1}: record {expected} is missing (deleted), the next record is {sequence}"


def _broken_link(connection: sqlite3.Connection, tenant: str, sequence: int, prev_hash: str, previous_hash: str) -> str:
    if prev_hash == previous_hash:
        return ""
    moved_after = connection.execute(
        "SELECT sequence FROM audit_records WHERE tenant = ? AND hash = ? AND sequence != ?",
        (tenant, prev_hash, sequence - 1),
    ).fetchone()
    if moved_after:
        return (
            f"record {sequence} is out of order: it was chained after record {moved_after[0]} (records were reordered)"
        )
    return (
        f"record {sequence} does not follow record {sequence - 1}: the hash it was chained to is not the hash of "
        f"record {sequence - 1} (a record before it was deleted, inserted or changed)"
    )


def _changed(sequence: int, prev_hash: str, event_bytes: bytes, record_hash: str) -> str:
    if chain_hash(prev_hash, sequence, event_bytes) == record_hash:
        return ""
    return f"record {sequence} does not match its hash: its content or its sequence number was changed"


def _index_differs(
    connection: sqlite3.Connection,
    tenant: str,
    sequence: int,
    event_id: str,
    principal: str,
    action: str,
    event_bytes: bytes,
) -> str:
    """Queries filter on the indexed columns, so editing them could hide a record from an auditor."""
    event = audit_pb2.AuditEvent.FromString(event_bytes)
    documents = connection.execute(
        "SELECT document_id FROM audit_record_documents WHERE tenant = ? AND sequence = ?", (tenant, sequence)
    ).fetchall()
    columns = (event.header.tenant, event.header.event_id, event.principal, event.action)
    if columns == (tenant, event_id, principal, action) and {row[0] for row in documents} == set(event.document_ids):
        return ""
    return f"record {sequence}: the indexed columns differ from the hashed event"


def _occurred_at_ns(event: audit_pb2.AuditEvent, stored_at_ns: int) -> int:
    """When it happened, for time filters: occurred_at, else when it was produced, else when stored."""
    for stamp in (event.occurred_at, event.header.produced_at):
        if stamp.seconds or stamp.nanos:
            return stamp.ToNanoseconds()
    return stored_at_ns
