"""The SQLite audit store on a real file: gapless per-tenant sequences, duplicates stored once, a hash
chain that exposes tampering, and the query filters."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import uuid

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from ragline.v1 import audit_pb2, common_pb2
from services.audit.store import GENESIS_HASH, AuditQuery, SqliteAuditStore, chain_hash

T0 = 1_800_000_000_000_000_000  # ns


def event(
    tenant: str = "acme",
    action: str = "answer",
    principal: str = "alice",
    documents: tuple[str, ...] = (),
    occurred_at_ns: int = T0,
    event_id: str | None = None,
) -> audit_pb2.AuditEvent:
    occurred = Timestamp()
    occurred.FromNanoseconds(occurred_at_ns)
    return audit_pb2.AuditEvent(
        header=common_pb2.EventHeader(event_id=event_id or uuid.uuid4().hex, tenant=tenant, producer="test"),
        action=action,
        principal=principal,
        outcome="ok",
        document_ids=list(documents),
        details={"model": "extractive"},
        occurred_at=occurred,
    )


@pytest.fixture
def store(tmp_path):
    store = SqliteAuditStore(tmp_path / "audit" / "audit.db")
    yield store
    store.close()


def test_the_file_is_created_in_wal_mode_with_full_sync(tmp_path, store):
    path = tmp_path / "audit" / "audit.db"
    assert path.exists()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sequences_are_per_tenant_and_gapless(store):
    sequences = [(e.header.tenant, store.append(e).sequence) for e in [event("acme"), event("globex"), event("acme")]]
    assert sequences == [("acme", 1), ("globex", 1), ("acme", 2)]


def test_a_redelivered_event_is_stored_once_and_leaves_no_gap(store):
    first = event(event_id="e-1")
    assert store.append(first).sequence == 1
    assert store.append(first) is None
    assert store.append(event()).sequence == 2
    assert [r.sequence for r in store.query(AuditQuery("acme"))] == [1, 2]


def test_records_are_hash_chained_from_64_zeros(store):
    first, second = event(), event()
    one, two = store.append(first), store.append(second)
    first_bytes = first.SerializeToString(deterministic=True)
    assert one.hash == hashlib.sha256(bytes(32) + (1).to_bytes(8, "big") + first_bytes).hexdigest()
    assert one.hash == chain_hash(GENESIS_HASH, 1, first_bytes)
    assert two.hash == chain_hash(one.hash, 2, second.SerializeToString(deterministic=True))
    assert store.verify_chain("acme").intact
    assert store.verify_chain("acme").records_checked == 2


def test_records_survive_reopening(tmp_path):
    path = tmp_path / "audit.db"
    store = SqliteAuditStore(path)
    store.append(event())
    store.close()
    reopened = SqliteAuditStore(path)
    assert reopened.append(event()).sequence == 2
    assert reopened.verify_chain("acme").intact
    reopened.close()


def test_the_table_refuses_updates_and_deletes(tmp_path, store):
    store.append(event())
    with sqlite3.connect(tmp_path / "audit" / "audit.db") as connection:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            connection.execute("UPDATE audit_records SET principal = 'mallory'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            connection.execute("DELETE FROM audit_records")


def tamper(tmp_path, sql: str, *parameters) -> None:
    """What someone with write access to the file can do: drop the guard triggers and edit rows."""
    with sqlite3.connect(tmp_path / "audit" / "audit.db") as connection:
        for trigger in ("audit_records_no_update", "audit_records_no_delete"):
            connection.execute(f"DROP TRIGGER {trigger}")
        connection.execute(sql, parameters)


def test_a_changed_event_is_found(tmp_path, store):
    for _ in range(3):
        store.append(event())
    forged = event(principal="someone-else").SerializeToString(deterministic=True)
    tamper(tmp_path, "UPDATE audit_records SET event = ? WHERE tenant = 'acme' AND sequence = 2", forged)
    verification = store.verify_chain("acme")
    assert not verification.intact
    assert verification.broken_at == 2
    assert verification.records_checked == 1


def test_a_deleted_record_is_found(tmp_path, store):
    for _ in range(3):
        store.append(event())
    tamper(tmp_path, "DELETE FROM audit_records WHERE tenant = 'acme' AND sequence = 2")
    assert store.verify_chain("acme").broken_at == 2


def test_a_changed_index_column_is_found(tmp_path, store):
    store.append(event(principal="alice"))
    tamper(tmp_path, "UPDATE audit_records SET principal = 'bob' WHERE sequence = 1")
    verification = store.verify_chain("acme")
    assert verification.broken_at == 1
    assert "indexed columns" in verification.problem


def test_other_tenants_are_unaffected_by_tampering(tmp_path, store):
    store.append(event("acme"))
    store.append(event("globex"))
    tamper(tmp_path, "UPDATE audit_records SET hash = ? WHERE tenant = 'acme'", "f" * 64)
    assert not store.verify_chain("acme").intact
    assert store.verify_chain("globex").intact


def test_appends_from_many_threads_keep_the_sequence_gapless_and_the_chain_intact(store):
    def append_many() -> None:
        for _ in range(25):
            store.append(event())

    threads = [threading.Thread(target=append_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = store.query(AuditQuery("acme", limit=1000))
    assert [r.sequence for r in records] == list(range(1, 201))
    assert store.verify_chain("acme").intact


def test_query_filters(store):
    store.append(event(action="answer", principal="alice", documents=("doc-1", "doc-2"), occurred_at_ns=T0))
    store.append(event(action="search", principal="bob", documents=("doc-2",), occurred_at_ns=T0 + 10))
    store.append(event(action="answer", principal="bob", occurred_at_ns=T0 + 20))
    store.append(event(tenant="globex", action="answer", principal="alice", documents=("doc-1",)))

    def sequences(**filters) -> list[int]:
        return [r.sequence for r in store.query(AuditQuery("acme", **filters))]

    assert sequences() == [1, 2, 3]
    assert sequences(principal="bob") == [2, 3]
    assert sequences(action="answer") == [1, 3]
    assert sequences(document_id="doc-2") == [1, 2]
    assert sequences(document_id="doc-1") == [1]
    assert sequences(since_ns=T0 + 10) == [2, 3]
    assert sequences(until_ns=T0 + 10) == [1]
    assert sequences(after_sequence=1, limit=1) == [2]
    assert sequences(action="answer", principal="bob") == [3]


def test_query_returns_the_stored_event(store):
    original = event(documents=("doc-1",))
    store.append(original)
    [record] = store.query(AuditQuery("acme"))
    assert record.event == original
    proto = record.to_proto()
    assert proto.sequence == 1 and proto.event == original and proto.stored_at.seconds > 0
