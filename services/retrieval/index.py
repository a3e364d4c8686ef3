"""The chunk index in Milvus, through pymilvus' MilvusClient.

Searches and events go to the *live* collection, which the alias
RAGLINE_MILVUS_COLLECTION points at. A re-index builds the next collection
beside it, then points the alias at that one and drops the old
(services/retrieval/reindexing.py, docs/adr/0005). Each collection records the
embedding model of its vectors; the live one's model is the index's model.

A deleted document leaves a tombstone row in the collection: the version it
was deleted up to, so that a late upsert of an older version stays out
(docs/adr/0015). Tombstones belong to no tenant, and every search and every
document lookup names a tenant, so none of them ever returns one.

The same code serves milvus-lite (a local `.db` file, the default) and a Milvus
server (an http(s):// URI): only RAGLINE_MILVUS_URI changes.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import grpc
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import (
    ConnectionConfigException,
    DataNotMatchException,
    DataTypeNotMatchException,
    MilvusException,
    ParamError,
)

from ragline import minilm
from ragline.config import ConfigError, data_dir, env_float, env_str
from ragline.kafka import TransientError
from services.retrieval.access import quote, quote_list, readers
from services.retrieval.rows import (
    FILTER_FIELDS,
    LATER_FIELDS,
    MAX_ACCESS_ENTRIES,
    MAX_ACCESS_ENTRY_BYTES,
    MAX_BYTES,
    SCALAR_FIELDS,
    TOMBSTONE_PREFIX,
    tombstone_row,
)

tracer = trace.get_tracer("ragline.retrieval")

# Collection properties: the model whose vectors it holds, the re-index
# request that built it ("" for the first), and whether it is still being built.
MODEL_PROPERTY = "ragline.embedding_model"
MODEL_VERSION_PROPERTY = "ragline.embedding_model_version"
REQUEST_PROPERTY = "ragline.index.request"
STATE_PROPERTY = "ragline.index.state"
BUILDING, SERVING = "building", "serving"
# Largest result Milvus returns from one query (its default maxQueryResultWindow).
QUERY_WINDOW = 16384
UPSERT_BATCH = 512
LIST_BATCH = 1000
INDEX_TYPES = ("FLAT", "IVF_FLAT", "HNSW", "AUTOINDEX")
# Milvus status codes for a request the server judged malformed: retrying cannot help.
_INPUT_ERROR_CODES = {6, 1100}
_STATE_FIELDS = ["chunk_id", "tenant", "document_id", "document_version"]


@dataclass(frozen=True)
class DocumentState:
    """What the index holds for one document, and who holds a set of chunk ids."""

    # Each asked-for chunk id that is indexed: the (tenant, document) it is indexed for.
    owners: dict[str, tuple[str, str]]
    # (chunk id, version) of every chunk of the document; None when it has more rows than one query returns.
    chunks: tuple[tuple[str, int], ...] | None
    # Highest version among the document's chunks; None when it has none.
    newest: int | None
    # The version its tombstone says it was deleted up to; None when it has none.
    deleted_up_to: int | None

    def supersedes(self, version: int) -> bool:
        """Whether a newer chunk, or a tombstone at or above `version`, already decides the document."""
        return (self.newest is not None and self.newest > version) or (
            self.deleted_up_to is not None and self.deleted_up_to >= version
        )


def tombstone_id(tenant: str, document_id: str) -> str:
    """The primary key of a document's tombstone: both ids, hashed, as together they
    may be longer than a chunk id. A chunk id never starts with TOMBSTONE_PREFIX."""
    return TOMBSTONE_PREFIX + hashlib.sha256(json.dumps([tenant, document_id], ensure_ascii=False).encode()).hexdigest()


class IndexUnavailable(TransientError):
    """Milvus failed for a reason that may pass; the operation can be retried."""


class IndexRequestError(Exception):
    """Milvus refused the request itself; retrying it cannot succeed."""


@dataclass(frozen=True)
class IndexSettings:
    uri: str
    token: str
    alias: str
    index_type: str
    timeout_s: float
    # The model a new, empty index is made for; an existing index keeps its own.
    model: str = minilm.MODEL_NAME
    dimension: int = minilm.DIMENSION

    @classmethod
    def from_env(cls) -> IndexSettings:
        uri = env_str("RAGLINE_MILVUS_URI", str(data_dir() / "milvus" / "ragline.db"))
        if not uri.startswith(("http://", "https://", "tcp://", "unix:")):
            if not uri.endswith(".db"):
                raise ConfigError(
                    f"RAGLINE_MILVUS_URI={uri!r} is neither a Milvus server address (http://host:19530) "
                    "nor a milvus-lite file ending in .db"
                )
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
        index_type = env_str("RAGLINE_MILVUS_INDEX_TYPE", "FLAT").upper()
        if index_type not in INDEX_TYPES:
            raise ConfigError(f"RAGLINE_MILVUS_INDEX_TYPE={index_type!r} is not one of {', '.join(INDEX_TYPES)}")
        alias = env_str("RAGLINE_MILVUS_COLLECTION", "ragline_chunks")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,200}", alias):
            raise ConfigError(f"RAGLINE_MILVUS_COLLECTION={alias!r} is not a Milvus name (letters, digits, underscores)")
        return cls(
            uri=uri,
            token=env_str("RAGLINE_MILVUS_TOKEN", ""),
            alias=alias,
            index_type=index_type,
            timeout_s=env_float("RAGLINE_MILVUS_TIMEOUT_S", 10.0, minimum=0.1),
        )


class ChunkCollection:
    """One Milvus collection of chunks with their vectors, access lists and provenance."""

    def __init__(self, client: MilvusClient, name: str, timeout_s: float):
        self._client = client
        self.name = name
        self._timeout = timeout_s
        with self._call("describe"):
            description = self._client.describe_collection(name)
        fields = {field["name"]: field for field in description["fields"]}
        properties = description.get("properties", {})
        self.fields = frozenset(fields) - {"vector"}
        self.dimension = int(fields.get("vector", {}).get("params", {}).get("dim", 0))
        self.model = properties.get(MODEL_PROPERTY, "")
        self.model_version = properties.get(MODEL_VERSION_PROPERTY, "")
        self.request = properties.get(REQUEST_PROPERTY, "")
        self._output_fields = [field for field in SCALAR_FIELDS if field in self.fields]
        # Made before docs/adr/0013: searched through the access arrays until a re-index.
        self.has_reader_tokens = "readers" in self.fields
        problem = None
        missing = {*SCALAR_FIELDS, *FILTER_FIELDS} - LATER_FIELDS - self.fields
        unknown = self.fields - {*SCALAR_FIELDS, *FILTER_FIELDS}
        if missing or unknown or "vector" not in fields:
            problem = f"its fields differ from this version's ({', '.join(sorted(missing | unknown)) or 'vector'})"
        elif not self.model:
            problem = f"it has no {MODEL_PROPERTY} property naming the model of its vectors"
        if problem:
            raise ConfigError(
                f"Milvus collection {name!r} cannot be used: {problem}. Point RAGLINE_MILVUS_COLLECTION at another "
                "name to start a new index, or drop the collection."
            )

    def document_state(self, tenant: str, document_id: str, chunk_ids: Sequence[str] = ()) -> DocumentState:
        """The document's chunks and tombstone, and the owners of `chunk_ids`: one query,
        unless the document has more rows than one query returns."""
        states = self.document_states([(tenant, document_id, chunk_ids)])
        if states is not None:
            return states[0]
        # Looked up by primary key, and the newest version by paging through the document.
        asked = quote_list([*chunk_ids, tombstone_id(tenant, document_id)])
        rows = self._query(f"chunk_id in {asked}", _STATE_FIELDS, len(chunk_ids) + 1)
        state = _state(rows, tenant, document_id, chunk_ids)
        return DocumentState(state.owners, None, self._newest(tenant, document_id), state.deleted_up_to)

    def document_states(self, documents: Sequence[tuple[str, str, Sequence[str]]]) -> list[DocumentState] | None:
        """document_state() of each (tenant, document id, chunk ids), in one query for all;
        None when together they have more rows than one query returns."""
        if not documents:
            return []
        asked = [chunk_id for _, _, chunk_ids in documents for chunk_id in chunk_ids]
        asked += [tombstone_id(tenant, document_id) for tenant, document_id, _ in documents]
        expression = " or ".join(
            [f"chunk_id in {quote_list(asked)}", *(f"({_document(tenant, document_id)})" for tenant, document_id, _ in documents)]
        )
        rows = self._query(expression, _STATE_FIELDS, QUERY_WINDOW)
        if len(rows) >= QUERY_WINDOW:
            return None
        return [_state(rows, tenant, document_id, chunk_ids) for tenant, document_id, chunk_ids in documents]

    def _newest(self, tenant: str, document_id: str) -> int | None:
        newest: int | None = None
        with self._call("query"):
            pages = self._client.query_iterator(
                self.name,
                batch_size=LIST_BATCH,
                filter=_document(tenant, document_id),
                output_fields=["document_version"],
                timeout=self._timeout,
            )
            try:
                while page := pages.next():
                    versions = [int(row["document_version"]) for row in page]
                    newest = max(versions if newest is None else [newest, *versions])
            finally:
                pages.close()
        return newest

    def _query(self, expression: str, fields: list[str], limit: int) -> list[dict[str, Any]]:
        with self._call("query"):
            return self._client.query(self.name, filter=expression, output_fields=fields, limit=limit, timeout=self._timeout)

    def document_chunks(self, tenant: str, document_id: str, max_version: int | None = None) -> list[tuple[str, int]]:
        """(chunk id, version) of up to QUERY_WINDOW indexed chunks of a document."""
        expression = _document(tenant, document_id)
        if max_version is not None:
            expression += f" and document_version <= {int(max_version)}"
        with self._call("query"):
            rows = self._client.query(
                self.name,
                filter=expression,
                output_fields=["chunk_id", "document_version"],
                limit=QUERY_WINDOW,
                timeout=self._timeout,
            )
        return [(row["chunk_id"], int(row["document_version"])) for row in rows]

    def document_rows(self, tenant: str, document_id: str) -> list[dict[str, Any]]:
        """Every field but the vector, of up to QUERY_WINDOW chunks of a document."""
        with self._call("query"):
            return self._client.query(
                self.name,
                filter=_document(tenant, document_id),
                output_fields=self._output_fields,
                limit=QUERY_WINDOW,
                timeout=self._timeout,
            )

    def documents(self) -> set[tuple[str, str]]:
        """(tenant, document id) of every indexed document."""
        found: set[tuple[str, str]] = set()
        with self._call("query"):
            pages = self._client.query_iterator(
                self.name,
                batch_size=LIST_BATCH,
                filter='tenant != ""',  # not the tombstones
                output_fields=["tenant", "document_id"],
                timeout=self._timeout,
            )
            try:
                while page := pages.next():
                    found.update((row["tenant"], row["document_id"]) for row in page)
            finally:
                pages.close()
        return found

    def upsert(self, rows: list[dict[str, Any]]) -> None:
        """Write rows, with `readers` derived from their access lists; fields this
        collection predates are left out."""
        if self.has_reader_tokens:
            rows = [{**row, "readers": readers(row["access_users"], row["access_groups"])} for row in rows]
        rows = [{key: value for key, value in row.items() if key in self.fields or key == "vector"} for row in rows]
        for start in range(0, len(rows), UPSERT_BATCH):
            with self._call("upsert"):
                self._client.upsert(self.name, rows[start : start + UPSERT_BATCH], timeout=self._timeout)

    def tombstone(self, tenant: str, document_id: str, version: int) -> dict[str, Any]:
        """The document's tombstone row, deleted up to `version`, ready for upsert()."""
        row = tombstone_row(tombstone_id(tenant, document_id), document_id, version, time.time_ns() // 1_000_000)
        return self._marked(row)

    def mark_deleted(self, tenant: str, document_id: str, version: int) -> None:
        """Write the document's tombstone: deleted up to `version`."""
        self.upsert([self.tombstone(tenant, document_id, version)])

    def tombstones(self) -> Iterator[list[dict[str, Any]]]:
        """Every tombstone row (without the vector), a page at a time."""
        with self._call("query"):
            pages = self._client.query_iterator(
                self.name, batch_size=LIST_BATCH, filter='tenant == ""', output_fields=self._output_fields, timeout=self._timeout
            )
        try:
            while True:
                with self._call("query"):
                    page = pages.next()
                if not page:
                    return
                yield page
        finally:
            pages.close()

    def tombstones_of(self, documents: Sequence[tuple[str, str]]) -> dict[str, dict[str, Any]]:
        """The tombstone rows (without the vector) of those `documents` that have one, by tombstone id."""
        if not documents:
            return {}
        ids = [tombstone_id(tenant, document_id) for tenant, document_id in documents]
        return {row["chunk_id"]: row for row in self._query(f"chunk_id in {quote_list(ids)}", self._output_fields, len(ids))}

    def put_tombstones(self, rows: Iterable[dict[str, Any]]) -> None:
        """Write tombstone rows."""
        self.upsert([self._marked(row) for row in rows])

    def _marked(self, row: dict[str, Any]) -> dict[str, Any]:
        """A tombstone row with the same unit vector as every other: it is never searched
        (no search names the empty tenant), but Milvus wants one of this dimension."""
        return {**row, "vector": [1.0] + [0.0] * (self.dimension - 1)}

    def delete(self, chunk_ids: Sequence[str]) -> None:
        # Not `ids=`: pymilvus writes those into the expression unescaped.
        if chunk_ids:
            with self._call("delete"):
                self._client.delete(self.name, filter=f"chunk_id in {quote_list(chunk_ids)}", timeout=self._timeout)

    def remove(self, tenant: str, document_id: str, max_version: int | None, keep: frozenset[str]) -> tuple[str, ...]:
        """Delete the document's chunks at or below `max_version` (None: all) that are not in `keep`."""
        removed: list[str] = []
        while True:
            chunks = self.document_chunks(tenant, document_id, max_version)
            stale = [chunk_id for chunk_id, _ in chunks if chunk_id not in keep]
            self.delete(stale)
            removed.extend(stale)
            if not stale or len(chunks) < QUERY_WINDOW:
                return tuple(removed)

    def search(self, vector: Sequence[float], expression: str, limit: int) -> list[tuple[dict[str, Any], float]]:
        """The `limit` rows closest to `vector` among those `expression` admits, closest first,
        each with its cosine similarity."""
        with self._call("search") as span:
            results = self._client.search(
                self.name,
                data=[list(vector)],
                filter=expression,
                limit=limit,
                output_fields=self._output_fields,
                search_params={"metric_type": "COSINE"},
                timeout=self._timeout,
            )
            span.set_attribute("db.response.returned_rows", len(results[0]))
        return [(hit["entity"], float(hit["distance"])) for hit in results[0]]

    @contextmanager
    def _call(self, operation: str) -> Iterator[trace.Span]:
        with _milvus_call(operation, self.name) as span:
            yield span


class ChunkIndex:
    """The index: its live collection, and the collections built to replace it.

    Searches may run concurrently with each other and with writes: Milvus and
    milvus-lite both serve reads during a write. Writes are serialized through
    `writing()`, because milvus-lite allows only one writer per collection and
    because a document's read-check-write sequence must not interleave with
    another write. Switching the live collection also holds that lock.
    """

    def __init__(self, settings: IndexSettings):
        self.alias = settings.alias
        self._settings = settings
        self._timeout = settings.timeout_s
        self._write_lock = threading.Lock()
        try:
            self._client = MilvusClient(uri=settings.uri, token=settings.token, timeout=settings.timeout_s)
        except ConnectionConfigException as error:
            raise ConfigError(
                f"cannot open Milvus at RAGLINE_MILVUS_URI={settings.uri!r}: {error.message} "
                "(a milvus-lite file serves one process only; share an index through a Milvus server)"
            ) from None
        except MilvusException as error:
            raise IndexUnavailable(f"cannot reach Milvus at {settings.uri}: {error.message}") from None
        self.live = self._open_live()

    def _open_live(self) -> ChunkCollection:
        """The collection the alias points at; else one named like the alias (made before
        aliases were used); else the newest finished build; else a new one."""
        with _milvus_call("open", self.alias):
            if self.alias in self._aliases():
                name = self._client.describe_alias(self.alias)["collection_name"]
            elif self.alias in self._client.list_collections():
                name = self.alias
            else:
                serving = [name for name in self._builds() if self._state(name) == SERVING]
                if serving:
                    name = serving[-1]
                else:
                    name = self._create(self._settings.model, "", self._settings.dimension, "", SERVING)
                self._client.create_alias(name, self.alias)
            self._client.load_collection(name)
        return ChunkCollection(self._client, name, self._timeout)

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the write lock: one writer at a time, for a whole document."""
        with self._write_lock:
            yield

    def create_next(self, model: str, model_version: str, dimension: int, request: str) -> ChunkCollection:
        """A new, empty collection for `model`, after dropping any other that is not live
        (what an interrupted re-index left behind)."""
        # has_collection() would also say yes for the alias: list_collections() names collections only.
        names = self._client.list_collections()
        for name in [*self._builds(), *([self.alias] if self.alias in names else [])]:
            if name != self.live.name:
                with _milvus_call("drop", name):
                    self._client.drop_collection(name)
        name = self._create(model, model_version, dimension, request, BUILDING)
        with _milvus_call("load", name):
            self._client.load_collection(name)
        return ChunkCollection(self._client, name, self._timeout)

    def switch_to(self, collection: ChunkCollection) -> ChunkCollection | None:
        """Make `collection` the live one; return the one it replaces, to be dropped
        later, unless that one is dropped already. Call it holding `writing()`: searches
        that started before it finish on the old collection."""
        with _milvus_call("alter_properties", collection.name):
            self._client.alter_collection_properties(collection.name, {STATE_PROPERTY: SERVING})
        previous: ChunkCollection | None = self.live
        if self.live.name == self.alias:
            # Made before aliases: the alias can take its name only once it is gone.
            with _milvus_call("drop", self.live.name):
                if self.live.name in self._client.list_collections():
                    self._client.drop_collection(self.live.name)
                self._client.create_alias(collection.name, self.alias)
            previous = None
        else:
            with _milvus_call("alter_alias", self.alias):
                self._client.alter_alias(collection.name, self.alias)
        self.live = collection
        return previous

    def drop(self, collection: ChunkCollection) -> None:
        """Drop a collection that is not live: a replaced one, or an abandoned build."""
        with _milvus_call("drop", collection.name):
            self._client.drop_collection(collection.name)

    def close(self) -> None:
        self._client.close()

    def _aliases(self) -> list[str]:
        return list(self._client.list_aliases().get("aliases", []))

    def _builds(self) -> list[str]:
        """This index's collections named `<alias>_v<n>`, oldest first."""
        pattern = re.compile(rf"{re.escape(self.alias)}_v(\d+)")
        numbered = [(int(match[1]), name) for name in self._client.list_collections() if (match := pattern.fullmatch(name))]
        return [name for _, name in sorted(numbered)]

    def _state(self, name: str) -> str:
        return self._client.describe_collection(name).get("properties", {}).get(STATE_PROPERTY, SERVING)

    def _create(self, model: str, model_version: str, dimension: int, request: str, state: str) -> str:
        builds = self._builds()
        number = int(builds[-1].rsplit("_v", 1)[1]) + 1 if builds else 1
        name = f"{self.alias}_v{number}"
        schema = MilvusClient.create_schema(
            auto_id=False,
            enable_dynamic_field=False,
            description="Ragline chunks with vectors, access lists and provenance",
        )
        varchar = DataType.VARCHAR
        schema.add_field("chunk_id", varchar, is_primary=True, max_length=MAX_BYTES["chunk_id"])
        schema.add_field("tenant", varchar, max_length=MAX_BYTES["tenant"])
        schema.add_field("document_id", varchar, max_length=MAX_BYTES["document_id"])
        schema.add_field("document_version", DataType.INT64)
        schema.add_field("ordinal", DataType.INT32)
        schema.add_field("text", varchar, max_length=MAX_BYTES["text"])
        schema.add_field("heading_path", DataType.JSON)
        schema.add_field("sensitivity", DataType.INT32)
        for field in ("access_users", "access_groups"):
            schema.add_field(
                field,
                DataType.ARRAY,
                element_type=varchar,
                max_capacity=MAX_ACCESS_ENTRIES,
                max_length=MAX_ACCESS_ENTRY_BYTES,
            )
        schema.add_field(
            "readers",
            varchar,
            max_length=MAX_BYTES["readers"],
            description="the access lists as reader tokens, for the access filter (docs/adr/0013)",
        )
        for field in ("title", "source_uri", "origin_system", "author", "content_hash"):
            schema.add_field(field, varchar, max_length=MAX_BYTES[field])
        schema.add_field("created_at", DataType.INT64, description="epoch milliseconds, 0 when unknown")
        schema.add_field("updated_at", DataType.INT64, description="epoch milliseconds, 0 when unknown")
        schema.add_field("suspected_injection", DataType.BOOL)
        schema.add_field("embedding_model", varchar, max_length=MAX_BYTES["embedding_model"])
        schema.add_field("embedding_model_version", varchar, max_length=MAX_BYTES["embedding_model_version"])
        schema.add_field("published_at", DataType.INT64, description="epoch milliseconds the document event was published, 0 when unknown")
        schema.add_field("indexed_at", DataType.INT64, description="epoch milliseconds")
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)

        indexes = MilvusClient.prepare_index_params()
        indexes.add_index("vector", index_type=self._settings.index_type, metric_type="COSINE")
        # Every access filter and every document lookup starts with these two.
        indexes.add_index("tenant", index_type="INVERTED")
        indexes.add_index("document_id", index_type="INVERTED")
        with _milvus_call("create", name):
            self._client.create_collection(
                name,
                schema=schema,
                index_params=indexes,
                # The indexer reads what it wrote a moment ago (versions, stale chunks).
                consistency_level="Strong",
                properties={
                    MODEL_PROPERTY: model,
                    MODEL_VERSION_PROPERTY: model_version,
                    REQUEST_PROPERTY: request,
                    STATE_PROPERTY: state,
                },
            )
        return name


@contextmanager
def _milvus_call(operation: str, collection: str) -> Iterator[trace.Span]:
    """A client span for one Milvus operation, and Milvus errors as ours."""
    with tracer.start_as_current_span(
        f"{operation} {collection}",
        kind=SpanKind.CLIENT,
        attributes={
            "db.system.name": "milvus",
            "db.operation.name": operation,
            "db.collection.name": collection,
        },
    ) as span:
        try:
            yield span
        except (ParamError, DataNotMatchException, DataTypeNotMatchException) as error:
            raise IndexRequestError(f"Milvus {operation} refused: {error.message}") from None
        except MilvusException as error:
            if error.is_input_error or error.code in _INPUT_ERROR_CODES:
                raise IndexRequestError(f"Milvus {operation} refused: {error.message}") from None
            raise IndexUnavailable(f"Milvus {operation} failed: {error.message}") from None
        except grpc.RpcError as error:
            raise IndexUnavailable(f"Milvus {operation} failed: {error.code().name}: {error.details()}") from None


def _state(rows: list[dict[str, Any]], tenant: str, document_id: str, chunk_ids: Sequence[str]) -> DocumentState:
    """A document's state from rows that hold all of its rows, its tombstone and the rows of `chunk_ids`."""
    chunks = tuple(
        (row["chunk_id"], int(row["document_version"]))
        for row in rows
        if (row["tenant"], row["document_id"]) == (tenant, document_id)
    )
    wanted = set(chunk_ids)
    tombstone = tombstone_id(tenant, document_id)
    marks = [int(row["document_version"]) for row in rows if row["chunk_id"] == tombstone]
    return DocumentState(
        owners={row["chunk_id"]: (row["tenant"], row["document_id"]) for row in rows if row["chunk_id"] in wanted},
        chunks=chunks,
        newest=max((version for _, version in chunks), default=None),
        deleted_up_to=marks[0] if marks else None,
    )


def _document(tenant: str, document_id: str) -> str:
    return f"tenant == {quote(tenant)} and document_id == {quote(document_id)}"
