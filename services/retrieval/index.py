"""The chunk index: one Milvus collection, through pymilvus' MilvusClient.

The same code serves milvus-lite (a local `.db` file, the default) and a Milvus
server (an http(s):// URI): only RAGLINE_MILVUS_URI changes.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

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
from services.retrieval.access import quote, quote_list
from services.retrieval.rows import (
    DIMENSION,
    MAX_ACCESS_ENTRIES,
    MAX_ACCESS_ENTRY_BYTES,
    MAX_BYTES,
    SCALAR_FIELDS,
)

tracer = trace.get_tracer("ragline.retrieval")

# Collection property naming the model whose vectors the collection holds.
MODEL_PROPERTY = "ragline.embedding_model"
# Largest result Milvus returns from one query (its default maxQueryResultWindow).
QUERY_WINDOW = 16384
UPSERT_BATCH = 512
INDEX_TYPES = ("FLAT", "IVF_FLAT", "HNSW", "AUTOINDEX")
# Milvus status codes for a request the server judged malformed: retrying cannot help.
_INPUT_ERROR_CODES = {6, 1100}


class IndexUnavailable(TransientError):
    """Milvus failed for a reason that may pass; the operation can be retried."""


class IndexRequestError(Exception):
    """Milvus refused the request itself; retrying it cannot succeed."""


@dataclass(frozen=True)
class IndexSettings:
    uri: str
    token: str
    collection: str
    index_type: str
    timeout_s: float
    model: str = minilm.MODEL_NAME

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
        return cls(
            uri=uri,
            token=env_str("RAGLINE_MILVUS_TOKEN", ""),
            collection=env_str("RAGLINE_MILVUS_COLLECTION", "ragline_chunks"),
            index_type=index_type,
            timeout_s=env_float("RAGLINE_MILVUS_TIMEOUT_S", 10.0, minimum=0.1),
        )


class ChunkIndex:
    """Chunks of every tenant, with their vectors, access lists and provenance.

    Searches may run concurrently with each other and with writes: Milvus and
    milvus-lite both serve reads during a write. Writes are serialized through
    `writing()`, because milvus-lite allows only one writer per collection and
    because the indexer's read-check-write sequence for a document must not
    interleave with another write.
    """

    def __init__(self, settings: IndexSettings):
        self.collection = settings.collection
        self.model = settings.model
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
        with self._call("open"):
            if not self._client.has_collection(self.collection):
                self._create(settings.index_type)
            self._check_compatible()
            self._client.load_collection(self.collection)

    def _create(self, index_type: str) -> None:
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
        for field in ("title", "source_uri", "origin_system", "author", "content_hash"):
            schema.add_field(field, varchar, max_length=MAX_BYTES[field])
        schema.add_field("created_at", DataType.INT64, description="epoch milliseconds, 0 when unknown")
        schema.add_field("updated_at", DataType.INT64, description="epoch milliseconds, 0 when unknown")
        schema.add_field("suspected_injection", DataType.BOOL)
        schema.add_field("embedding_model", varchar, max_length=MAX_BYTES["embedding_model"])
        schema.add_field("embedding_model_version", varchar, max_length=MAX_BYTES["embedding_model_version"])
        schema.add_field("indexed_at", DataType.INT64, description="epoch milliseconds")
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIMENSION)

        indexes = MilvusClient.prepare_index_params()
        indexes.add_index("vector", index_type=index_type, metric_type="COSINE")
        # Every access filter and every document lookup starts with these two.
        indexes.add_index("tenant", index_type="INVERTED")
        indexes.add_index("document_id", index_type="INVERTED")
        self._client.create_collection(
            self.collection,
            schema=schema,
            index_params=indexes,
            # The indexer reads what it wrote a moment ago (versions, stale chunks).
            consistency_level="Strong",
            properties={MODEL_PROPERTY: self.model},
        )

    def _check_compatible(self) -> None:
        description = self._client.describe_collection(self.collection)
        fields = {field["name"]: field for field in description["fields"]}
        expected = {*SCALAR_FIELDS, "vector"}
        model = description.get("properties", {}).get(MODEL_PROPERTY)
        dimension = int(fields.get("vector", {}).get("params", {}).get("dim", 0))
        problem = None
        if set(fields) != expected:
            problem = f"its fields differ from this version's ({', '.join(sorted(set(fields) ^ expected))})"
        elif dimension != DIMENSION:
            problem = f"its vectors have {dimension} dimensions, not {DIMENSION}"
        elif model != self.model:
            problem = f"it holds vectors of model {model!r}, not {self.model!r}"
        if problem:
            raise ConfigError(
                f"Milvus collection {self.collection!r} cannot be used: {problem}. Re-index into a new collection "
                "(set RAGLINE_MILVUS_COLLECTION) or drop the old one."
            )

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the write lock: one writer at a time, for a whole document."""
        with self._write_lock:
            yield

    def owners(self, chunk_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """Tenant and document of each of `chunk_ids` that is already indexed."""
        if not chunk_ids:
            return {}
        with self._call("query"):
            rows = self._client.query(
                self.collection,
                filter=f"chunk_id in {quote_list(chunk_ids)}",
                output_fields=["chunk_id", "tenant", "document_id"],
                limit=len(chunk_ids),
                timeout=self._timeout,
            )
        return {row["chunk_id"]: (row["tenant"], row["document_id"]) for row in rows}

    def has_version_above(self, tenant: str, document_id: str, version: int) -> bool:
        with self._call("query"):
            rows = self._client.query(
                self.collection,
                filter=f"{_document(tenant, document_id)} and document_version > {int(version)}",
                output_fields=["chunk_id"],
                limit=1,
                timeout=self._timeout,
            )
        return bool(rows)

    def document_chunks(self, tenant: str, document_id: str, max_version: int | None = None) -> list[tuple[str, int]]:
        """(chunk id, version) of up to QUERY_WINDOW indexed chunks of a document."""
        expression = _document(tenant, document_id)
        if max_version is not None:
            expression += f" and document_version <= {int(max_version)}"
        with self._call("query"):
            rows = self._client.query(
                self.collection,
                filter=expression,
                output_fields=["chunk_id", "document_version"],
                limit=QUERY_WINDOW,
                timeout=self._timeout,
            )
        return [(row["chunk_id"], int(row["document_version"])) for row in rows]

    def upsert(self, rows: list[dict[str, Any]]) -> None:
        for start in range(0, len(rows), UPSERT_BATCH):
            with self._call("upsert"):
                self._client.upsert(self.collection, rows[start : start + UPSERT_BATCH], timeout=self._timeout)

    def delete(self, chunk_ids: Sequence[str]) -> None:
        # Not `ids=`: pymilvus writes those into the expression unescaped.
        if chunk_ids:
            with self._call("delete"):
                self._client.delete(
                    self.collection, filter=f"chunk_id in {quote_list(chunk_ids)}", timeout=self._timeout
                )

    def search(self, vector: Sequence[float], expression: str, limit: int) -> list[tuple[dict[str, Any], float]]:
        """The `limit` rows closest to `vector` among those `expression` admits, closest first,
        each with its cosine similarity."""
        with self._call("search") as span:
            results = self._client.search(
                self.collection,
                data=[list(vector)],
                filter=expression,
                limit=limit,
                output_fields=SCALAR_FIELDS,
                search_params={"metric_type": "COSINE"},
                timeout=self._timeout,
            )
            span.set_attribute("db.response.returned_rows", len(results[0]))
        return [(hit["entity"], float(hit["distance"])) for hit in results[0]]

    def close(self) -> None:
        self._client.close()

    @contextmanager
    def _call(self, operation: str) -> Iterator[trace.Span]:
        """A client span for one Milvus operation, and Milvus errors as ours."""
        with tracer.start_as_current_span(
            f"{operation} {self.collection}",
            kind=SpanKind.CLIENT,
            attributes={
                "db.system.name": "milvus",
                "db.operation.name": operation,
                "db.collection.name": self.collection,
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


def _document(tenant: str, document_id: str) -> str:
    return f"tenant == {quote(tenant)} and document_id == {quote(document_id)}"
