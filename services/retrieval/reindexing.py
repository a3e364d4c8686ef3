"""Re-embedding the index for a new embedding model or version, while it serves (docs/adr/0005).

The live collection is the only complete copy of what is indexed, so the new
collection is built from it: every document's chunks are read, embedded again
by the embedding service the request names, and written to the new
collection. Events keep being applied to the live collection meanwhile, and
every document they change is noted; those documents are copied again, until
few are left. Tombstones of deleted documents (docs/adr/0015) are copied
first, and again with each noted document. The last ones are copied holding the write lock, so that nothing
changes in between, and the new collection then replaces the live one in the
same critical section. Searches never wait: they use the live collection until
the switch, and the new one after it. The old collection is dropped once the
searches that started on it have had time to finish.
"""

from __future__ import annotations

import logging
import threading
from contextlib import nullcontext
from typing import Callable, Iterable

import grpc
import redis
from opentelemetry import trace

from ragline.kafka import TransientError
from services.retrieval.embedding_client import Credentials, EmbeddingClient, EmbeddingClients, EmbeddingMismatch
from services.retrieval.index import ChunkCollection, ChunkIndex, tombstone_id
from services.retrieval.index_generations import IndexGenerations
from services.retrieval.indexer import ChunkIndexer
from services.retrieval.reindex_requests import (
    BUILDING,
    CANCELLED,
    DONE,
    FAILED,
    SWITCHED,
    ReindexRequest,
    ReindexRequests,
    ReindexStatus,
)

log = logging.getLogger(__name__)
tracer = trace.get_tracer("ragline.retrieval")

DOCUMENTS_PER_STEP = 32
# Copy rounds over changed documents before the last round takes the write lock
# anyway; under the lock, events wait for at most this many documents.
MAX_ROUNDS = 10
FINAL_ROUND_DOCUMENTS = 100
PROBE_TEXT = "Ragline re-index probe"
# Defaults for fields that a collection made by an earlier version lacks.
LATER_FIELD_DEFAULTS = {"published_at": 0}


class Superseded(Exception):
    """The request was withdrawn or replaced, or the service is stopping."""


class ChangedDocuments:
    """Documents the live collection changed for while a re-index runs."""

    def __init__(self) -> None:
        self._documents: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def changed(self, tenant: str, document_id: str) -> None:
        with self._lock:
            self._documents.add((tenant, document_id))

    def take(self) -> set[tuple[str, str]]:
        with self._lock:
            taken, self._documents = self._documents, set()
        return taken

    def put_back(self, documents: set[tuple[str, str]]) -> None:
        with self._lock:
            self._documents |= documents

    def __len__(self) -> int:
        with self._lock:
            return len(self._documents)


class IndexRebuild:
    """One re-index request, carried out."""

    def __init__(
        self,
        index: ChunkIndex,
        indexer: ChunkIndexer,
        embedders: EmbeddingClients,
        generations: IndexGenerations | None,
        request: ReindexRequest,
        embedder: EmbeddingClient,
        report: Callable[[ReindexStatus], None],
        still_wanted: Callable[[], bool],
        retry_pause_s: float = 2.0,
        drop_grace_s: float = 10.0,
    ):
        self._index = index
        self._indexer = indexer
        self._embedders = embedders
        self._generations = generations
        self._request = request
        self._embedder = embedder
        self._report = report
        self._still_wanted = still_wanted
        self._retry_pause_s = retry_pause_s
        self._drop_grace_s = drop_grace_s
        self._pause = threading.Event()
        self._next: ChunkCollection | None = None
        self._model = self._model_version = ""
        self._dimension = 0
        self._documents = self._copied = 0
        self._tenants: set[str] = set()

    def stop(self) -> None:
        """Give up at the next step (the service is stopping)."""
        self._pause.set()

    def run(self) -> str:
        """Build, switch and drop the old collection; return the final state."""
        changed = ChangedDocuments()
        try:
            self._retrying(self._probe)
            with self._index.writing():
                self._next = self._index.create_next(
                    self._model, self._model_version, self._dimension, self._request.request_id
                )
                self._indexer.listen(changed)
            self._retrying(self._copy_tombstones)
            documents = self._retrying(self._index.live.documents)
            self._documents = len(documents)
            self._status(BUILDING, f"copying {self._documents} documents")
            self._copy(documents)
            for _ in range(MAX_ROUNDS):
                if len(changed) <= FINAL_ROUND_DOCUMENTS:
                    break
                self._copy(changed.take())
            previous = self._retrying(lambda: self._switch(changed))
        except Superseded as reason:
            self._abandon()
            self._status(CANCELLED, str(reason))
            return CANCELLED
        except Exception as error:  # noqa: BLE001 - any failure leaves the live index as it was
            log.exception("re-index failed", extra={"fields": {"request_id": self._request.request_id}})
            self._abandon()
            self._status(FAILED, f"{type(error).__name__}: {error}")
            return FAILED
        # Every answer given from the old vectors may change.
        if self._generations is not None:
            self._generations.bump(self._tenants)
        if previous is not None:
            self._status(SWITCHED, f"{self._next.name} serves; dropping {previous.name} in {self._drop_grace_s:.0f}s")
            # Searches that picked the old collection before the switch finish on it.
            self._pause.wait(self._drop_grace_s)
            try:
                self._retrying(lambda: self._index.drop(previous))
            except Exception:  # noqa: BLE001 - the new index serves; the next re-index drops what is left
                log.exception("old collection not dropped", extra={"fields": {"collection": previous.name}})
        self._status(DONE, f"{self._next.name} serves; the old collection is dropped")
        log.info("re-index done", extra={"fields": {"collection": self._next.name, "model": self._model}})
        return DONE

    def _probe(self) -> None:
        embedded = self._embedder.embed([PROBE_TEXT])
        self._model, self._model_version = embedded.model, embedded.model_version
        self._dimension = len(embedded.vectors[0])
        if not self._model or self._dimension == 0:
            raise EmbeddingMismatch(f"{self._embedder.address} did not name its model or returned an empty vector")

    def _copy_tombstones(self) -> None:
        """Every tombstone of the live collection into the new one; those that change
        meanwhile are copied again with their documents."""
        for page in self._index.live.tombstones():
            self._next.put_tombstones([{**LATER_FIELD_DEFAULTS, **row} for row in page])

    def _copy(self, documents: Iterable[tuple[str, str]], locked: bool = False) -> None:
        """Make each document in the new collection what it is in the live one."""
        ordered = sorted(documents)
        for start in range(0, len(ordered), DOCUMENTS_PER_STEP):
            if not locked and not self._still_wanted():
                raise Superseded("the re-index request was withdrawn or replaced")
            if self._pause.is_set():
                raise Superseded("the retrieval service is stopping")
            group = ordered[start : start + DOCUMENTS_PER_STEP]
            if locked:
                self._copy_group(group, locked)
            else:
                self._retrying(lambda: self._copy_group(group, locked))
            self._tenants.update(tenant for tenant, _ in group)
            self._copied += len(group)
            if not locked:
                self._status(BUILDING, f"copied {self._copied} documents")

    def _copy_group(self, group: list[tuple[str, str]], locked: bool) -> None:
        # One trace per step, so that the step's Milvus and Embed calls are not each a trace of their own.
        with tracer.start_as_current_span(
            "reindex copy",
            attributes={"ragline.index.request": self._request.request_id, "ragline.index.documents": len(group)},
        ):
            self._copy_documents(group, locked)

    def _copy_documents(self, group: list[tuple[str, str]], locked: bool) -> None:
        live = self._index.live
        read = {document: live.document_rows(*document) for document in group}
        tombstones = live.tombstones_of(group)
        texts = [row["text"] for rows in read.values() for row in rows]
        vectors = iter(self._embed(texts))
        with nullcontext() if locked else self._index.writing():
            for (tenant, document_id), rows in read.items():
                copies = [
                    {
                        **LATER_FIELD_DEFAULTS,
                        **row,
                        "vector": next(vectors),
                        "embedding_model": self._model,
                        "embedding_model_version": self._model_version,
                    }
                    for row in rows
                ]
                read_chunks = {(row["chunk_id"], int(row["document_version"])) for row in rows}
                if not locked and set(live.document_chunks(tenant, document_id)) != read_chunks:
                    continue  # changed since it was read: noted as changed, copied in a later round
                self._next.upsert(copies)
                self._next.remove(tenant, document_id, None, keep=frozenset(chunk_id for chunk_id, _ in read_chunks))
            self._next.put_tombstones([{**LATER_FIELD_DEFAULTS, **row} for row in tombstones.values()])
            self._next.delete([tombstone_id(*document) for document in group if tombstone_id(*document) not in tombstones])

    def _embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        embedded = self._embedder.embed(texts)
        if (embedded.model, embedded.model_version) != (self._model, self._model_version):
            raise EmbeddingMismatch(
                f"{self._embedder.address} now embeds with {embedded.model} {embedded.model_version}, "
                f"not {self._model} {self._model_version}: request the re-index again"
            )
        if any(len(vector) != self._dimension for vector in embedded.vectors):
            raise EmbeddingMismatch(f"{self._embedder.address} returned vectors of more than one dimension")
        return embedded.vectors

    def _switch(self, changed: ChangedDocuments) -> ChunkCollection | None:
        """Copy the last changed documents and switch, with events waiting."""
        with self._index.writing():
            last = changed.take()
            try:
                self._copy(last, locked=True)
            except Exception:
                changed.put_back(last)
                raise
            self._embedders.add(self._model, self._embedder)
            previous = self._index.switch_to(self._next)
            self._indexer.listen(None)
        return previous

    def _abandon(self) -> None:
        with self._index.writing():
            self._indexer.listen(None)
            if self._next is not None and self._next is not self._index.live:
                try:
                    self._index.drop(self._next)
                except Exception:  # noqa: BLE001 - the next re-index drops what is left
                    log.exception("unfinished collection not dropped", extra={"fields": {"collection": self._next.name}})

    def _retrying(self, step: Callable[[], object]):
        """Run a step, again after a pause while Milvus or the embedding service is unavailable."""
        while True:
            try:
                return step()
            except (TransientError, grpc.RpcError) as error:
                if isinstance(error, grpc.RpcError) and error.code() not in _TRANSIENT_CODES:
                    raise
                message = f"{error.code().name}: {error.details()}" if isinstance(error, grpc.RpcError) else str(error)
                log.warning("re-index waits", extra={"fields": {"error": message}})
                self._status(BUILDING, f"waiting: {message}")
                if self._pause.wait(self._retry_pause_s):
                    raise Superseded("the retrieval service is stopping") from None
                if not self._still_wanted():
                    raise Superseded("the re-index request was withdrawn or replaced") from None

    def _status(self, state: str, message: str) -> None:
        self._report(
            ReindexStatus(
                request_id=self._request.request_id,
                state=state,
                collection=self._next.name if self._next else "",
                model=self._model,
                model_version=self._model_version,
                documents=self._documents,
                copied=self._copied,
                message=message,
            )
        )


_TRANSIENT_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED)


class ReindexWatcher:
    """Re-reads the standing re-index request and carries it out when the live
    collection was not built for it."""

    def __init__(
        self,
        requests: ReindexRequests,
        index: ChunkIndex,
        indexer: ChunkIndexer,
        embedders: EmbeddingClients,
        generations: IndexGenerations | None,
        credentials: Credentials,
        embed_timeout_s: float,
        poll_s: float,
        drop_grace_s: float,
    ):
        self._requests = requests
        self._index = index
        self._indexer = indexer
        self._embedders = embedders
        self._generations = generations
        self._credentials = credentials
        self._embed_timeout_s = embed_timeout_s
        self._poll_s = poll_s
        self._drop_grace_s = drop_grace_s
        self._stopping = threading.Event()
        self._rebuild: IndexRebuild | None = None
        self._redis_failing = False

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="reindex-watcher", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stopping.set()
        if self._rebuild is not None:
            self._rebuild.stop()

    def _run(self) -> None:
        given_up: set[str] = set()
        while not self._stopping.is_set():
            request = self._latest()
            if request and request.request_id != self._index.live.request and request.request_id not in given_up:
                log.info("re-index starts", extra={"fields": {"request_id": request.request_id, "embedding": request.embedding_address}})
                self._rebuild = IndexRebuild(
                    self._index,
                    self._indexer,
                    self._embedders,
                    self._generations,
                    request,
                    EmbeddingClient(request.embedding_address, self._credentials, self._embed_timeout_s),
                    self._requests.report,
                    lambda: self._still_wanted(request),
                    drop_grace_s=self._drop_grace_s,
                )
                if self._rebuild.run() == FAILED:
                    given_up.add(request.request_id)
                self._rebuild = None
                continue
            self._stopping.wait(self._poll_s)

    def _latest(self) -> ReindexRequest | None:
        try:
            request = self._requests.latest()
        except redis.RedisError as error:
            if not self._redis_failing:
                log.error("cannot read re-index requests from Redis; retrying", extra={"fields": {"error": str(error)}})
            self._redis_failing = True
            return None
        self._redis_failing = False
        return request

    def _still_wanted(self, request: ReindexRequest) -> bool:
        try:
            latest = self._requests.latest()
        except redis.RedisError:
            return True  # Redis down says nothing about the request: go on
        return latest is not None and latest.request_id == request.request_id

