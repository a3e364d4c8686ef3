from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTION_UNSPECIFIED: _ClassVar[Action]
    ACTION_ALLOW: _ClassVar[Action]
    ACTION_REDACT: _ClassVar[Action]
    ACTION_FLAG: _ClassVar[Action]
    ACTION_BLOCK: _ClassVar[Action]
ACTION_UNSPECIFIED: Action
ACTION_ALLOW: Action
ACTION_REDACT: Action
ACTION_FLAG: Action
ACTION_BLOCK: Action

class Verdict(_message.Message):
    __slots__ = ("check", "action", "score", "reason", "policy_version")
    CHECK_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    check: str
    action: Action
    score: float
    reason: str
    policy_version: str
    def __init__(self, check: _Optional[str] = ..., action: _Optional[_Union[Action, str]] = ..., score: _Optional[float] = ..., reason: _Optional[str] = ..., policy_version: _Optional[str] = ...) -> None: ...

class ScreenDocumentRequest(_message.Message):
    __slots__ = ("tenant", "document_id", "text")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    document_id: str
    text: str
    def __init__(self, tenant: _Optional[str] = ..., document_id: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class ScreenDocumentResponse(_message.Message):
    __slots__ = ("text", "verdicts", "suspected_injection")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    VERDICTS_FIELD_NUMBER: _ClassVar[int]
    SUSPECTED_INJECTION_FIELD_NUMBER: _ClassVar[int]
    text: str
    verdicts: _containers.RepeatedCompositeFieldContainer[Verdict]
    suspected_injection: bool
    def __init__(self, text: _Optional[str] = ..., verdicts: _Optional[_Iterable[_Union[Verdict, _Mapping]]] = ..., suspected_injection: _Optional[bool] = ...) -> None: ...

class ScreenInputRequest(_message.Message):
    __slots__ = ("tenant", "text")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    text: str
    def __init__(self, tenant: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class ScreenInputResponse(_message.Message):
    __slots__ = ("allowed", "text", "verdicts")
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    VERDICTS_FIELD_NUMBER: _ClassVar[int]
    allowed: bool
    text: str
    verdicts: _containers.RepeatedCompositeFieldContainer[Verdict]
    def __init__(self, allowed: _Optional[bool] = ..., text: _Optional[str] = ..., verdicts: _Optional[_Iterable[_Union[Verdict, _Mapping]]] = ...) -> None: ...

class ScreenOutputRequest(_message.Message):
    __slots__ = ("tenant", "text", "context")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    text: str
    context: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tenant: _Optional[str] = ..., text: _Optional[str] = ..., context: _Optional[_Iterable[str]] = ...) -> None: ...

class ScreenOutputResponse(_message.Message):
    __slots__ = ("allowed", "text", "verdicts")
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    VERDICTS_FIELD_NUMBER: _ClassVar[int]
    allowed: bool
    text: str
    verdicts: _containers.RepeatedCompositeFieldContainer[Verdict]
    def __init__(self, allowed: _Optional[bool] = ..., text: _Optional[str] = ..., verdicts: _Optional[_Iterable[_Union[Verdict, _Mapping]]] = ...) -> None: ...
