"""When each document passed each stage, and when it became searchable.

Retrieval records `index.updated` with outcome `indexed` on the audit topic
right after Milvus acknowledged the upsert (consistency level Strong: a search
from then on sees the chunks), so the record's `occurred_at` is the moment the
document became searchable, and its chunk ids say how many chunks were
indexed. The moment ingest and embedding finished with a document is the
timestamp Kafka gave the event each of them published for it (keyed
`<tenant>/<document_id>`). Watching topics costs the services nothing, unlike
polling Search.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

from confluent_kafka import Consumer, Message, TopicPartition
from google.protobuf.message import DecodeError

from ragline.config import kafka_client_settings
from ragline.kafka import AUDIT, CHUNKS, EMBEDDINGS
from ragline.v1 import audit_pb2

# The stage that published to each topic.
STAGE_OF_TOPIC = {CHUNKS: "ingest", EMBEDDINGS: "embedding"}


@dataclass
class Progress:
    """Epoch seconds at which a document left each stage; `indexed` once searchable."""

    left: dict[str, float] = field(default_factory=dict)
    indexed: float | None = None
    chunks: int = 0


class IndexWatch:
    """Follows the documents of the tenants starting with `tenant_prefix`, from
    the topics' ends at construction onwards."""

    def __init__(self, tenant_prefix: str):
        self._prefix = tenant_prefix
        self._consumer = Consumer(
            {**kafka_client_settings(), "group.id": f"bench-watch-{uuid.uuid4().hex}", "enable.auto.commit": False}
        )
        assignment = []
        for topic in (AUDIT, *STAGE_OF_TOPIC):
            for p in self._consumer.list_topics(topic, timeout=10).topics[topic].partitions:
                end = self._consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                assignment.append(TopicPartition(topic, p, end))
        self._consumer.assign(assignment)
        self._documents: dict[tuple[str, str], Progress] = {}
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="index-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                for message in self._consumer.consume(num_messages=500, timeout=0.2):
                    if not message.error():
                        self._read(message)
        finally:
            self._consumer.close()

    def _read(self, message: Message) -> None:
        if message.topic() in STAGE_OF_TOPIC:
            tenant, _, document_id = (message.key() or b"").decode("utf-8", "replace").partition("/")
            if tenant.startswith(self._prefix):
                with self._changed:
                    progress = self._documents.setdefault((tenant, document_id), Progress())
                    progress.left.setdefault(STAGE_OF_TOPIC[message.topic()], message.timestamp()[1] / 1000)
            return
        try:
            record = audit_pb2.AuditEvent.FromString(message.value() or b"")
        except DecodeError:
            return  # not an audit record, so not one of ours
        tenant = record.header.tenant
        if record.action != "index.updated" or record.outcome != "indexed" or not tenant.startswith(self._prefix):
            return
        with self._changed:
            for document_id in record.document_ids:
                progress = self._documents.setdefault((tenant, document_id), Progress())
                if progress.indexed is None:
                    progress.indexed = record.occurred_at.ToNanoseconds() / 1e9
                    progress.chunks = len(record.chunk_ids)
            self._changed.notify_all()

    def wait(self, tenant: str, document_ids: set[str], timeout: float) -> dict[str, Progress]:
        """The documents of `tenant` that became searchable, once all of
        `document_ids` have or the timeout passed."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = {
                    d: self._documents[(tenant, d)]
                    for d in document_ids
                    if (tenant, d) in self._documents and self._documents[(tenant, d)].indexed is not None
                }
                remaining = deadline - time.monotonic()
                if len(found) == len(document_ids) or remaining <= 0:
                    return found
                self._changed.wait(min(remaining, 1.0))

    def close(self) -> None:
        self._stopping.set()
        self._thread.join()
