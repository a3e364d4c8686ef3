from ragline.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DocumentEvent(_message.Message):
    __slots__ = ("header", "document_id", "upsert", "delete")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    UPSERT_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    header: _common_pb2.EventHeader
    document_id: str
    upsert: DocumentUpsert
    delete: DocumentDelete
    def __init__(self, header: _Optional[_Union[_common_pb2.EventHeader, _Mapping]] = ..., document_id: _Optional[str] = ..., upsert: _Optional[_Union[DocumentUpsert, _Mapping]] = ..., delete: _Optional[_Union[DocumentDelete, _Mapping]] = ...) -> None: ...

class DocumentUpsert(_message.Message):
    __slots__ = ("provenance", "mime_type", "content", "metadata", "content_uri")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CONTENT_URI_FIELD_NUMBER: _ClassVar[int]
    provenance: _common_pb2.Provenance
    mime_type: str
    content: bytes
    metadata: _containers.ScalarMap[str, str]
    content_uri: str
    def __init__(self, provenance: _Optional[_Union[_common_pb2.Provenance, _Mapping]] = ..., mime_type: _Optional[str] = ..., content: _Optional[bytes] = ..., metadata: _Optional[_Mapping[str, str]] = ..., content_uri: _Optional[str] = ...) -> None: ...

class DocumentDelete(_message.Message):
    __slots__ = ("document_version",)
    DOCUMENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    document_version: int
    def __init__(self, document_version: _Optional[int] = ...) -> None: ...
