import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from ragline.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Rating(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RATING_UNSPECIFIED: _ClassVar[Rating]
    RATING_HELPFUL: _ClassVar[Rating]
    RATING_NOT_HELPFUL: _ClassVar[Rating]
RATING_UNSPECIFIED: Rating
RATING_HELPFUL: Rating
RATING_NOT_HELPFUL: Rating

class AnswerRequest(_message.Message):
    __slots__ = ("question", "top_k")
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    question: str
    top_k: int
    def __init__(self, question: _Optional[str] = ..., top_k: _Optional[int] = ...) -> None: ...

class AnswerStreamRequest(_message.Message):
    __slots__ = ("question", "top_k")
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    question: str
    top_k: int
    def __init__(self, question: _Optional[str] = ..., top_k: _Optional[int] = ...) -> None: ...

class Citation(_message.Message):
    __slots__ = ("index", "chunk_id", "document_id", "title", "source_uri", "document_version", "updated_at", "snippet")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_URI_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    SNIPPET_FIELD_NUMBER: _ClassVar[int]
    index: int
    chunk_id: str
    document_id: str
    title: str
    source_uri: str
    document_version: int
    updated_at: _timestamp_pb2.Timestamp
    snippet: str
    def __init__(self, index: _Optional[int] = ..., chunk_id: _Optional[str] = ..., document_id: _Optional[str] = ..., title: _Optional[str] = ..., source_uri: _Optional[str] = ..., document_version: _Optional[int] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., snippet: _Optional[str] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("prompt_tokens", "completion_tokens")
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    prompt_tokens: int
    completion_tokens: int
    def __init__(self, prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ...) -> None: ...

class AnswerResponse(_message.Message):
    __slots__ = ("answer_id", "text", "citations", "refused", "refusal_reason", "model", "prompt_version", "usage", "trace_id")
    ANSWER_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CITATIONS_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_REASON_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROMPT_VERSION_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    answer_id: str
    text: str
    citations: _containers.RepeatedCompositeFieldContainer[Citation]
    refused: bool
    refusal_reason: str
    model: str
    prompt_version: str
    usage: Usage
    trace_id: str
    def __init__(self, answer_id: _Optional[str] = ..., text: _Optional[str] = ..., citations: _Optional[_Iterable[_Union[Citation, _Mapping]]] = ..., refused: _Optional[bool] = ..., refusal_reason: _Optional[str] = ..., model: _Optional[str] = ..., prompt_version: _Optional[str] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., trace_id: _Optional[str] = ...) -> None: ...

class AnswerStreamResponse(_message.Message):
    __slots__ = ("delta", "final")
    DELTA_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    delta: str
    final: AnswerResponse
    def __init__(self, delta: _Optional[str] = ..., final: _Optional[_Union[AnswerResponse, _Mapping]] = ...) -> None: ...

class FeedbackRequest(_message.Message):
    __slots__ = ("answer_id", "rating", "comment")
    ANSWER_ID_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    answer_id: str
    rating: Rating
    comment: str
    def __init__(self, answer_id: _Optional[str] = ..., rating: _Optional[_Union[Rating, str]] = ..., comment: _Optional[str] = ...) -> None: ...

class FeedbackResponse(_message.Message):
    __slots__ = ("feedback_id",)
    FEEDBACK_ID_FIELD_NUMBER: _ClassVar[int]
    feedback_id: str
    def __init__(self, feedback_id: _Optional[str] = ...) -> None: ...

class FeedbackEvent(_message.Message):
    __slots__ = ("header", "feedback_id", "answer_id", "principal", "rating", "comment", "prompt_version", "model", "answered_at")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_ID_FIELD_NUMBER: _ClassVar[int]
    ANSWER_ID_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    PROMPT_VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_AT_FIELD_NUMBER: _ClassVar[int]
    header: _common_pb2.EventHeader
    feedback_id: str
    answer_id: str
    principal: str
    rating: Rating
    comment: str
    prompt_version: str
    model: str
    answered_at: _timestamp_pb2.Timestamp
    def __init__(self, header: _Optional[_Union[_common_pb2.EventHeader, _Mapping]] = ..., feedback_id: _Optional[str] = ..., answer_id: _Optional[str] = ..., principal: _Optional[str] = ..., rating: _Optional[_Union[Rating, str]] = ..., comment: _Optional[str] = ..., prompt_version: _Optional[str] = ..., model: _Optional[str] = ..., answered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
