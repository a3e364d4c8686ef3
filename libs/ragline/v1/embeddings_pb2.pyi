from ragline.v1 import chunks_pb2 as _chunks_pb2
from ragline.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EmbeddedChunk(_message.Message):
    __slots__ = ("chunk", "vector")
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    chunk: _chunks_pb2.Chunk
    vector: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, chunk: _Optional[_Union[_chunks_pb2.Chunk, _Mapping]] = ..., vector: _Optional[_Iterable[float]] = ...) -> None: ...

class EmbeddingEvent(_message.Message):
    __slots__ = ("header", "document_id", "document_version", "embedding_model", "embedding_model_version", "upsert", "delete")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_MODEL_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    UPSERT_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    header: _common_pb2.EventHeader
    document_id: str
    document_version: int
    embedding_model: str
    embedding_model_version: str
    upsert: EmbeddingBatch
    delete: _chunks_pb2.ChunkDeletion
    def __init__(self, header: _Optional[_Union[_common_pb2.EventHeader, _Mapping]] = ..., document_id: _Optional[str] = ..., document_version: _Optional[int] = ..., embedding_model: _Optional[str] = ..., embedding_model_version: _Optional[str] = ..., upsert: _Optional[_Union[EmbeddingBatch, _Mapping]] = ..., delete: _Optional[_Union[_chunks_pb2.ChunkDeletion, _Mapping]] = ...) -> None: ...

class EmbeddingBatch(_message.Message):
    __slots__ = ("chunks",)
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    chunks: _containers.RepeatedCompositeFieldContainer[EmbeddedChunk]
    def __init__(self, chunks: _Optional[_Iterable[_Union[EmbeddedChunk, _Mapping]]] = ...) -> None: ...
