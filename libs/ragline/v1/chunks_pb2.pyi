import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from ragline.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Chunk(_message.Message):
    __slots__ = ("chunk_id", "document_id", "ordinal", "text", "heading_path", "content_hash", "provenance", "metadata", "suspected_injection", "published_at")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ORDINAL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    HEADING_PATH_FIELD_NUMBER: _ClassVar[int]
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    SUSPECTED_INJECTION_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    document_id: str
    ordinal: int
    text: str
    heading_path: _containers.RepeatedScalarFieldContainer[str]
    content_hash: str
    provenance: _common_pb2.Provenance
    metadata: _containers.ScalarMap[str, str]
    suspected_injection: bool
    published_at: _timestamp_pb2.Timestamp
    def __init__(self, chunk_id: _Optional[str] = ..., document_id: _Optional[str] = ..., ordinal: _Optional[int] = ..., text: _Optional[str] = ..., heading_path: _Optional[_Iterable[str]] = ..., content_hash: _Optional[str] = ..., provenance: _Optional[_Union[_common_pb2.Provenance, _Mapping]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., suspected_injection: _Optional[bool] = ..., published_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ChunkEvent(_message.Message):
    __slots__ = ("header", "document_id", "document_version", "upsert", "delete")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    UPSERT_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    header: _common_pb2.EventHeader
    document_id: str
    document_version: int
    upsert: ChunkBatch
    delete: ChunkDeletion
    def __init__(self, header: _Optional[_Union[_common_pb2.EventHeader, _Mapping]] = ..., document_id: _Optional[str] = ..., document_version: _Optional[int] = ..., upsert: _Optional[_Union[ChunkBatch, _Mapping]] = ..., delete: _Optional[_Union[ChunkDeletion, _Mapping]] = ...) -> None: ...

class ChunkBatch(_message.Message):
    __slots__ = ("chunks",)
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    chunks: _containers.RepeatedCompositeFieldContainer[Chunk]
    def __init__(self, chunks: _Optional[_Iterable[_Union[Chunk, _Mapping]]] = ...) -> None: ...

class ChunkDeletion(_message.Message):
    __slots__ = ("document_version",)
    DOCUMENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    document_version: int
    def __init__(self, document_version: _Optional[int] = ...) -> None: ...
