"""Every kind of bad document event, published between valid ones to the running
platform: each bad one reaches the dead-letter topic with its stage and a
precise reason and its original bytes, and every valid one published after it
becomes searchable.

Ingest runs here with a folder it may read files from, a 64 KiB document limit
and a 3 s parse limit (restarted for this module, then restored).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from ragline.cli import corpus, deadletters
from ragline.cli.demo import wait_searchable
from ragline.cli.launcher import ServiceLauncher
from ragline.config import kafka_client_settings, repo_root
from ragline.kafka import DEADLETTER, DOCUMENTS, EventProducer
from ragline.v1 import chunks_pb2, common_pb2, documents_pb2
from samples.hostile import slow_pdf

pytestmark = pytest.mark.e2e

MAX_BYTES = 64 * 1024
PARSE_TIMEOUT_S = 3
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
GROUP = "all-staff"


class Handler(BaseHTTPRequestHandler):
    """What ingest fetches over http: a valid handbook page, and a page without end."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - the http.server interface
        if self.path.startswith("/valid/"):
            body = f"# {self.path.rsplit('/', 1)[1]}\n\nFetched over http from the handbook server.\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        for _ in range(4 * MAX_BYTES // 1024):  # bounded: the server stops by itself
            try:
                self.wfile.write(b"x" * 1024)
            except OSError:
                return

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the http.server interface
        pass


@dataclass
class Setting:
    root: Path
    http: str
    tenant: str


@pytest.fixture(scope="module")
def setting(platform, tmp_path_factory) -> Iterator[Setting]:
    root = tmp_path_factory.mktemp("published")
    (root / "escape.md").symlink_to("/etc/hostname")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    strict = ServiceLauncher(
        platform.data / "run",
        {
            "RAGLINE_INGEST_FILE_ROOT": str(root),
            "RAGLINE_INGEST_MAX_DOCUMENT_BYTES": str(MAX_BYTES),
            "RAGLINE_INGEST_PARSE_TIMEOUT_S": str(PARSE_TIMEOUT_S),
            "RAGLINE_INGEST_FETCH_TIMEOUT_S": "5",
        },
    )
    platform.launcher.stop("ingest")
    strict.start("ingest")
    try:
        strict.wait_ready("ingest", timeout=120)
        yield Setting(root, f"http://127.0.0.1:{server.server_address[1]}", f"dl-{uuid.uuid4().hex[:8]}")
    finally:
        strict.stop("ingest")
        platform.launcher.start("ingest")
        platform.launcher.wait_ready("ingest", timeout=120)
        server.shutdown()
        server.server_close()


def upsert(tenant: str, document_id: str, content: bytes = b"", mime_type: str = "text/markdown", **provenance) -> documents_pb2.DocumentEvent:
    fields = {
        "document_version": 1,
        "sensitivity": common_pb2.SENSITIVITY_INTERNAL,
        "access": common_pb2.AccessList(groups=[GROUP]),
        "title": document_id,
        "origin_system": "e2e",
        **provenance,
    }
    return documents_pb2.DocumentEvent(
        header=common_pb2.EventHeader(event_id=uuid.uuid4().hex, tenant=tenant, schema_version="ragline.v1"),
        document_id=document_id,
        upsert=documents_pb2.DocumentUpsert(provenance=common_pb2.Provenance(**fields), mime_type=mime_type, content=content),
    )


def changed(event: documents_pb2.DocumentEvent, change: Callable[[documents_pb2.DocumentEvent], object]) -> documents_pb2.DocumentEvent:
    change(event)
    return event


def referencing(event: documents_pb2.DocumentEvent, uri: str) -> documents_pb2.DocumentEvent:
    event.upsert.content_uri = uri
    return event


@dataclass
class BadEvent:
    name: str
    stage: str
    reason: str
    # (setting, document id) -> raw bytes, published as they are, or an event, published with its type header
    build: Callable[[Setting, str], bytes | documents_pb2.DocumentEvent | chunks_pb2.ChunkEvent]


def chunk_event(tenant: str) -> chunks_pb2.ChunkEvent:
    event = chunks_pb2.ChunkEvent(header=common_pb2.EventHeader(event_id="c", tenant=tenant), document_id="wrong", document_version=1)
    event.upsert.chunks.add(chunk_id="c1", text="A chunk, not a document.")
    return event


BAD_EVENTS = [
    BadEvent("undecodable", "decode", "not a valid ragline.v1.DocumentEvent", lambda s, d: b"\xff\x00 not an event \x13\x37"),
    BadEvent("typed-chunk-event", "decode", "message type ragline.v1.ChunkEvent on a topic that carries ragline.v1.DocumentEvent", lambda s, d: chunk_event(s.tenant)),
    BadEvent("untyped-chunk-event", "decode", "field(s) upsert, delete.document_version arrived with the wrong wire type", lambda s, d: chunk_event(s.tenant).SerializeToString()),
    BadEvent("no-document-id", "validate", "document_id is empty", lambda s, d: upsert(s.tenant, "", b"Text.")),
    BadEvent("no-content", "validate", "content and content_uri are both empty", lambda s, d: upsert(s.tenant, d)),
    BadEvent("no-reader", "validate", "provenance.access names no user and no group", lambda s, d: upsert(s.tenant, d, b"Text.", access=common_pb2.AccessList())),
    BadEvent("unsupported-type", "validate", "mime_type 'application/msword' is not supported", lambda s, d: upsert(s.tenant, d, b"Text.", "application/msword")),
    BadEvent("lying-type", "validate", "content declared as text/markdown is a PDF document (it starts with %PDF-): set mime_type to 'application/pdf'", lambda s, d: upsert(s.tenant, d, (repo_root() / "samples/corpus/expense-policy.pdf").read_bytes())),
    BadEvent("outside-root", "fetch", "file:///etc/hostname resolves to /etc/hostname, outside the folder ingest may read", lambda s, d: referencing(upsert(s.tenant, d), "file:///etc/hostname")),
    BadEvent("symlink-out", "fetch", "resolves to /etc/hostname, outside the folder ingest may read", lambda s, d: referencing(upsert(s.tenant, d), (s.root / "escape.md").as_uri())),
    BadEvent("too-large", "validate", f"content is {MAX_BYTES + 1} bytes, above the limit of {MAX_BYTES}", lambda s, d: upsert(s.tenant, d, b"a" * (MAX_BYTES + 1))),
    BadEvent("too-large-remote", "fetch", f"/endless holds more than {MAX_BYTES} bytes, above the limit of {MAX_BYTES}", lambda s, d: referencing(upsert(s.tenant, d), f"{s.http}/endless")),
    BadEvent("not-utf8", "validate", "content is not valid UTF-8 (byte 0xe9 at offset 3)", lambda s, d: upsert(s.tenant, d, "café".encode("latin-1"))),
    BadEvent("absurd-title", "validate", "provenance.title is 3000 bytes long, above the limit of 2048", lambda s, d: upsert(s.tenant, d, b"Text.", title="t" * 3000)),
    BadEvent("absurd-metadata", "validate", "metadata has 40 entries, above the limit of 32", lambda s, d: changed(upsert(s.tenant, d, b"Text."), lambda e: e.upsert.metadata.update({f"k{i}": "v" for i in range(40)}))),
    BadEvent("absurd-access", "validate", "provenance.access.users has 2000 entries, above the limit of 1024", lambda s, d: upsert(s.tenant, d, b"Text.", access=common_pb2.AccessList(users=[f"u{i}" for i in range(2000)]))),
    BadEvent("slow-pdf", "parse", f"parsing the application/pdf content took longer than {PARSE_TIMEOUT_S} s", lambda s, d: upsert(s.tenant, d, slow_pdf(), "application/pdf")),
    BadEvent("broken-docx", "parse", "the DOCX is not a readable ZIP package", lambda s, d: upsert(s.tenant, d, b"PK\x03\x04 cut short", DOCX)),
]


def valid_document(setting: Setting, index: int) -> tuple[documents_pb2.DocumentEvent, corpus.DocumentSpec]:
    """One valid document per bad event, of every kind of content in turn."""
    document_id = f"valid-{index:02d}"
    title = f"Valid document {index} about room {index} on floor {index % 5}"
    kind = index % 4
    if kind == 0:
        event = upsert(setting.tenant, document_id, f"# Room {index}\n\nRoom {index} is on floor {index % 5}.\n".encode(), title=title)
    elif kind == 1:
        content = (repo_root() / "samples/corpus/warehouse-safety.docx").read_bytes()
        event = upsert(setting.tenant, document_id, content, DOCX, title=title)
    elif kind == 2:
        path = setting.root / "team" / f"{document_id}.md"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"# Room {index}\n\nRead from a file below the allowed root.\n")
        event = referencing(upsert(setting.tenant, document_id, title=title), path.as_uri())
    else:
        event = referencing(upsert(setting.tenant, document_id, title=title), f"{setting.http}/valid/{document_id}")
    return event, corpus.DocumentSpec(path=Path(document_id), document_id=document_id, title=title, groups=[GROUP])


def dead_letter_end() -> int:
    reader = Consumer({**kafka_client_settings(), "group.id": uuid.uuid4().hex})
    try:
        return reader.get_watermark_offsets(TopicPartition(DEADLETTER, 0), timeout=10)[1]
    finally:
        reader.close()


def test_each_bad_event_is_dead_lettered_with_stage_and_reason_and_valid_ones_after_it_are_searchable(platform, setting):
    since = dead_letter_end()
    producer = EventProducer("e2e-upstream")
    raw = Producer(kafka_client_settings())
    published: dict[str, bytes] = {}
    specs = []
    for index, bad in enumerate(BAD_EVENTS):
        key = f"{setting.tenant}/bad-{bad.name}"
        value = bad.build(setting, f"bad-{bad.name}")
        if isinstance(value, bytes):
            raw.produce(DOCUMENTS, key=key.encode(), value=value)
            raw.flush(10)
            published[key] = value
        else:
            producer.publish(DOCUMENTS, key, value)
            published[key] = value.SerializeToString()
        event, spec = valid_document(setting, index)
        producer.publish(DOCUMENTS, f"{setting.tenant}/{event.document_id}", event)
        specs.append(spec)
    producer.flush()

    letters: dict[str, deadletters.StoredLetter] = {}
    deadline = time.monotonic() + 120
    while len(letters) < len(BAD_EVENTS) and time.monotonic() < deadline:
        for stored in deadletters.read_dead_letters(consumer="ingest", offset_from=since):
            key = stored.letter.original_key.decode()
            if key.startswith(f"{setting.tenant}/"):
                letters[key] = stored
        time.sleep(1.0)

    assert set(letters) == set(published), f"dead-lettered: {sorted(letters)}"
    for bad in BAD_EVENTS:
        key = f"{setting.tenant}/bad-{bad.name}"
        letter = letters[key].letter
        assert (bad.name, letter.stage) == (bad.name, bad.stage), letter.reason
        assert bad.reason in letter.reason, (bad.name, letter.reason)
        assert letter.original_value == published[key], bad.name
        assert letter.source_topic == DOCUMENTS and letter.consumer == "ingest"

    token = platform.token("reader", (GROUP,), "internal", tenant=setting.tenant)
    missing = wait_searchable(setting.tenant, specs, token, timeout=180)
    assert not missing, f"valid documents not searchable after the bad events: {missing}"
