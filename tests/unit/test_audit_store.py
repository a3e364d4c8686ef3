"""The SQLite audit store on a real file: gapless per-tenant sequences, duplicates stored once, a hash
chain that exposes tampering (an edited, deleted or reordered record, done with sqlite3 directly as someone
with write access to the file would), the query filters, and the upgrade of a file from schema version 1."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import uuid

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from ragline.v1 import audit_pb2, common_pb2
from services.audit.store import _MIGRATIONS, GENESIS_HASH, AuditQuery, SqliteAuditStore, chain_hash

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
        for trigger in ("audit_records_no_update", "audit_records_no_delete", "audit_record_documents_no_delete"):
            connection.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        connection.execute(sql, parameters)


def append(store, count: int) -> list:
    return [store.append(event()) for _ in range(count)]


def test_an_intact_chain_reports_its_head(store):
    records = append(store, 3)
    verification = store.verify_chain("acme")
    assert verification.intact and verification.problem == ""
    assert verification.records_checked == 3
    assert verification.head_hash == records[-1].hash
    assert [r.prev_hash for r in records] == [GENESIS_HASH, records[0].hash, records[1].hash]


def test_an_empty_log_is_intact_at_the_genesis_hash(store):
    verification = store.verify_chain("nobody")
    assert verification.intact and verification.records_checked == 0 and verification.head_hash == GENESIS_HASH


def test_an_edited_record_is_found(tmp_path, store):
    append(store, 4)
    forged = event(principal="someone-else").SerializeToString(deterministic=True)
    tamper(tmp_path, "UPDATE audit_records SET event = ? WHERE tenant = 'acme' AND sequence = 2", forged)
    verification = store.verify_chain("acme")
    assert not verification.intact
    assert verification.broken_at == 2
    assert verification.records_checked == 1
    assert "does not match its hash" in verification.problem


def test_an_edited_record_whose_hash_was_recomputed_breaks_the_link_of_the_next(tmp_path, store):
    records = append(store, 4)
    forged = event(principal="alice").SerializeToString(deterministic=True)
    tamper(
        tmp_path,
        "UPDATE audit_records SET event = ?, event_id = ?, hash = ? WHERE tenant = 'acme' AND sequence = 2",
        forged,
        audit_pb2.AuditEvent.FromString(forged).header.event_id,
        chain_hash(records[0].hash, 2, forged),
    )
    verification = store.verify_chain("acme")
    assert verification.broken_at == 3
    assert "does not follow record 2" in verification.problem


def test_a_deleted_record_is_found(tmp_path, store):
    append(store, 4)
    tamper(tmp_path, "DELETE FROM audit_records WHERE tenant = 'acme' AND sequence = 2")
    verification = store.verify_chain("acme")
    assert verification.broken_at == 2
    assert verification.records_checked == 1
    assert "sequence gap after 1" in verification.problem


def test_a_deleted_record_is_found_when_the_later_ones_were_renumbered(tmp_path, store):
    append(store, 4)
    tamper(tmp_path, "DELETE FROM audit_records WHERE tenant = 'acme' AND sequence = 2")
    tamper(tmp_path, "UPDATE audit_records SET sequence = sequence - 1 WHERE tenant = 'acme' AND sequence > 2")
    verification = store.verify_chain("acme")
    assert verification.broken_at == 2
    assert "does not follow record 1" in verification.problem


def test_reordered_records_are_found(tmp_path, store):
    append(store, 4)
    # Swap records 2 and 3 (each keeps its bytes and hashes, takes the other's place).
    tamper(tmp_path, "UPDATE audit_records SET sequence = 100 WHERE tenant = 'acme' AND sequence = 2")
    tamper(tmp_path, "UPDATE audit_records SET sequence = 2 WHERE tenant = 'acme' AND sequence = 3")
    tamper(tmp_path, "UPDATE audit_records SET sequence = 3 WHERE tenant = 'acme' AND sequence = 100")
    verification = store.verify_chain("acme")
    assert verification.broken_at == 2
    assert "out of order" in verification.problem and "after record 3" in verification.problem


def test_removed_newest_records_change_the_head(tmp_path, store):
    records = append(store, 3)
    tamper(tmp_path, "DELETE FROM audit_records WHERE tenant = 'acme' AND sequence = 3")
    verification = store.verify_chain("acme")
    # The rest of the chain is intact: only a head kept elsewhere shows the loss.
    assert verification.intact
    assert verification.head_hash == records[1].hash != records[2].hash


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


def test_a_schema_1_file_is_upgraded_in_place_and_its_chain_still_verifies(tmp_path):
    path = tmp_path / "audit.db"
    connection = sqlite3.connect(path, isolation_level=None)
    connection.executescript(f"BEGIN; {_MIGRATIONS[1]} PRAGMA user_version=1; COMMIT;")
    previous_hash = GENESIS_HASH
    for sequence in (1, 2):
        original = event()
        event_bytes = original.SerializeToString(deterministic=True)
        previous_hash = chain_hash(previous_hash, sequence, event_bytes)
        connection.execute(
            "INSERT INTO audit_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ("acme", sequence, original.header.event_id, "alice", "answer", T0, T0, event_bytes, previous_hash),
        )
    connection.close()

    store = SqliteAuditStore(path)
    try:
        assert store.verify_chain("acme").intact
        assert store.append(event()).prev_hash == previous_hash
        assert store.verify_chain("acme").records_checked == 3
        with sqlite3.connect(path) as reader:
            assert reader.execute("PRAGMA user_version").fetchone()[0] == 2
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                reader.execute("UPDATE audit_records SET prev_hash = ''")
    finally:
        store.close()


def test_recent_returns_every_tenants_watched_actions_since_a_time(store):
    store.append(event("acme", action="answer", occurred_at_ns=T0 + 30))
    store.append(event("globex", action="search", occurred_at_ns=T0 + 20))
    store.append(event("acme", action="ingest.accepted", occurred_at_ns=T0 + 25))
    store.append(event("acme", action="search", occurred_at_ns=T0 - 1))
    recent = list(store.recent(T0, {"answer", "search"}))
    assert [(r.tenant, r.event.action, r.occurred_at_ns) for r in recent] == [
        ("globex", "search", T0 + 20),
        ("acme", "answer", T0 + 30),
    ]
