"""One document event in, one chunk event out: validate, fetch, parse, screen, chunk.

Every way an event can fail for good raises RejectedEvent with the stage and a
reason a person can act on; the consumer turns it into a dead letter and the
RPC into INVALID_ARGUMENT. A guardrail that cannot be reached raises its gRPC
error unchanged, so the consumer retries the batch later: a document is never
indexed unscreened.
"""

from __future__ import annotations

import contextvars
import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry import trace

from ragline.auditing import event_header
from ragline.kafka import RejectedEvent
from ragline.v1 import chunks_pb2, common_pb2, documents_pb2, guardrail_pb2
from services.ingest.chunking import Chunker
from services.ingest.fetching import UnreadableReference, shown
from services.ingest.limits import Limits
from services.ingest.parsing import Block, UnparsableDocument
from services.ingest.validation import check_content, media_type, validate

tracer = trace.get_tracer("ragline.ingest")

PRODUCER = "ingest"

# (tenant, document_id, text) -> the guardrail's verdict on the text.
Screen = Callable[[str, str, str], guardrail_pb2.ScreenDocumentResponse]
# content_uri -> the bytes behind it; raises UnreadableReference.
Fetch = Callable[[str], bytes]
# (media type, content) -> blocks; raises UnparsableDocument.
Parse = Callable[[str, bytes], list[Block]]


def chunk_id(tenant: str, document_id: str, document_version: int, ordinal: int, text: str) -> str:
    """Hex SHA-256, first 32 digits (128 bits), over the five fields in this order, each
    written as its UTF-8 bytes preceded by their length as an 8-byte big-endian integer
    (numbers in decimal). Length prefixes keep the encoding unambiguous whatever the
    fields contain; a replayed event yields the same ids, a new version new ones."""
    digest = hashlib.sha256()
    for field in (tenant, document_id, str(document_version), str(ordinal), text):
        data = field.encode("utf-8")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()[:32]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def published_at(header: common_pb2.EventHeader, logged_at: Timestamp) -> Timestamp:
    """When the document event was published: the producer's header.produced_at, or
    when the producer left it empty, the time Kafka logged the event."""
    if header.produced_at.seconds or header.produced_at.nanos:
        return header.produced_at
    return logged_at


class DocumentPipeline:
    def __init__(
        self, screen: Screen, chunker: Chunker, limits: Limits, fetch: Fetch, parse: Parse, screen_concurrency: int = 1
    ):
        self._screen = screen
        self._chunker = chunker
        self._limits = limits
        self._fetch = fetch
        self._parse = parse
        self._pool = ThreadPoolExecutor(max_workers=screen_concurrency, thread_name_prefix="ingest-screen")

    def process(self, event: documents_pb2.DocumentEvent, logged_at: Timestamp) -> chunks_pb2.ChunkEvent:
        """`logged_at`: when Kafka logged the event, the publish time if the producer gave none."""
        tenant = event.header.tenant
        problem = validate(event, self._limits)
        if problem:
            raise RejectedEvent("validate", problem, tenant)
        result = chunks_pb2.ChunkEvent(header=event_header(tenant, PRODUCER), document_id=event.document_id)
        if event.HasField("delete"):
            result.document_version = event.delete.document_version
            result.delete.document_version = event.delete.document_version
            return result

        upsert = event.upsert
        kind, _ = media_type(upsert.mime_type)
        attributes = {
            "ragline.tenant": tenant,
            "ragline.document.id": event.document_id,
            "ragline.document.version": upsert.provenance.document_version,
            "ragline.document.mime_type": kind,
        }
        content = upsert.content or self._fetched(upsert, attributes, tenant)
        with tracer.start_as_current_span("ragline.ingest.parse", attributes=attributes) as span:
            blocks = self._blocks(kind, content, tenant)
            span.set_attribute("ragline.document.blocks", len(blocks))
        with tracer.start_as_current_span("ragline.ingest.screen", attributes=attributes) as span:
            blocks, suspected = self._screened(tenant, event.document_id, blocks)
            span.set_attribute("ragline.document.suspected_injection", any(suspected))
        with tracer.start_as_current_span("ragline.ingest.chunk", attributes=attributes) as span:
            pieces = self._chunker.chunk(blocks)
            span.set_attribute("ragline.document.chunks", len(pieces))
        if not pieces:
            raise RejectedEvent("screen", "no text is left after the guardrail's redaction", tenant)

        provenance = common_pb2.Provenance()
        provenance.CopyFrom(upsert.provenance)
        if not provenance.content_hash:
            provenance.content_hash = sha256_hex(content)
        published = published_at(event.header, logged_at)
        version = provenance.document_version
        result.document_version = version
        for ordinal, piece in enumerate(pieces):
            metadata = {**upsert.metadata, "mime_type": kind}
            if piece.page:
                metadata["page"] = str(piece.page)
            result.upsert.chunks.add(
                chunk_id=chunk_id(tenant, event.document_id, version, ordinal, piece.text),
                document_id=event.document_id,
                ordinal=ordinal,
                text=piece.text,
                heading_path=piece.heading_path,
                content_hash=sha256_hex(piece.text.encode("utf-8")),
                provenance=provenance,
                metadata=metadata,
                suspected_injection=any(suspected[index] for index in piece.blocks),
                published_at=published,
            )
        return result

    def _fetched(self, upsert: documents_pb2.DocumentUpsert, attributes: dict, tenant: str) -> bytes:
        """The content behind upsert.content_uri, checked as inline content would be."""
        uri = upsert.content_uri
        scheme = uri.partition(":")[0].lower()
        with tracer.start_as_current_span("ragline.ingest.fetch", attributes={**attributes, "url.scheme": scheme}) as span:
            try:
                content = self._fetch(uri)
            except UnreadableReference as error:
                raise RejectedEvent("fetch", str(error), tenant) from None
            span.set_attribute("ragline.document.bytes", len(content))
        problem = check_content(upsert, content, self._limits)
        if problem:
            raise RejectedEvent("validate", f"{problem} (content read from {shown(uri)})", tenant)
        return content

    def _blocks(self, kind: str, content: bytes, tenant: str) -> list[Block]:
        try:
            blocks = self._parse(kind, content)
        except UnparsableDocument as error:
            raise RejectedEvent("parse", str(error), tenant) from None
        if not blocks:
            reason = f"the {kind} content has no text to index: publish a delete to remove it"
            raise RejectedEvent("parse", reason, tenant)
        return blocks

    def _screened(self, tenant: str, document_id: str, blocks: list[Block]) -> tuple[list[Block], list[bool]]:
        """The blocks as the guardrail redacted them, and which ones it suspects of injection.

        Each block is screened on its own, and each distinct heading once: a
        verdict then marks only the chunks holding the suspect text, and the
        redacted text maps back onto the document's structure exactly. The
        calls run concurrently, so a long document's screening takes seconds,
        not minutes (the consumer must poll again within Kafka's poll interval).
        """
        headings = (heading for block in blocks for heading in block.heading_path)
        texts = list(dict.fromkeys([*headings, *(block.text for block in blocks)]))
        verdicts = dict(zip(texts, self._screen_all(tenant, document_id, texts)))
        screened: list[Block] = []
        suspected: list[bool] = []
        for block in blocks:
            path = tuple(verdicts[heading][0] for heading in block.heading_path)
            text, flagged = verdicts[block.text]
            screened.append(Block(path, text, block.kind, block.page))
            suspected.append(flagged or any(verdicts[heading][1] for heading in block.heading_path))
        return screened, suspected

    def _screen_all(self, tenant: str, document_id: str, texts: list[str]) -> list[tuple[str, bool]]:
        """(redacted text, suspected injection) per text, in order; the first failure is raised."""

        def screen(text: str) -> tuple[str, bool]:
            response = self._screen(tenant, document_id, text)
            for verdict in response.verdicts:
                if verdict.action == guardrail_pb2.ACTION_BLOCK:
                    reason = f"the guardrail blocked the document ({verdict.check}: {verdict.reason})"
                    raise RejectedEvent("screen", reason, tenant)
            return response.text, response.suspected_injection

        # Each call runs in a copy of this context: the trace (and any caller token) goes along.
        futures = [self._pool.submit(contextvars.copy_context().run, screen, text) for text in texts]
        try:
            return [future.result() for future in futures]
        finally:
            for future in futures:
                future.cancel()


def audit_details(document: documents_pb2.DocumentEvent, chunks: chunks_pb2.ChunkEvent) -> dict[str, str]:
    """What the "ingest.accepted" audit record says about a processed event."""
    if chunks.HasField("delete"):
        return {"change": "delete", "document_version": str(chunks.document_version)}
    return {
        "change": "upsert",
        "chunks": str(len(chunks.upsert.chunks)),
        "mime_type": media_type(document.upsert.mime_type)[0],
        "document_version": str(chunks.document_version),
    }
