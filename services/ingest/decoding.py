"""Reads a consumed message as a DocumentEvent, and recognises another message type that parsed as one.

Protobuf parsing is lenient: the bytes of, say, a ChunkEvent parse as a
DocumentEvent whose `upsert` arrived with the wrong wire type (kept aside as an
unknown field), which leaves a *delete of every version* of the document. A
known field number with the wrong wire type can only come from another
message type, so such an event is refused. Unknown field numbers are
tolerated: they are how a newer producer's added fields look.
"""

from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet

from ragline.kafka import ReceivedEvent, RejectedEvent
from ragline.v1 import documents_pb2


def decode_document_event(received: ReceivedEvent) -> documents_pb2.DocumentEvent:
    event = received.decode(documents_pb2.DocumentEvent)
    misread = misread_fields(event)
    if misread:
        raise RejectedEvent(
            "decode",
            f"the bytes are not a {event.DESCRIPTOR.full_name}: its field(s) {', '.join(misread)} arrived with "
            "the wrong wire type, so this is another message type (a producer writing to the wrong topic?)",
        )
    return event


def misread_fields(message: Message, prefix: str = "") -> list[str]:
    """Paths of the known fields that arrived with another wire type than theirs, in message and below."""
    fields_by_number = message.DESCRIPTOR.fields_by_number
    found = [
        f"{prefix}{fields_by_number[unknown.field_number].name}"
        for unknown in UnknownFieldSet(message)
        if unknown.field_number in fields_by_number
    ]
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE or field.message_type.GetOptions().map_entry:
            continue
        for nested in value if field.is_repeated else [value]:
            found.extend(misread_fields(nested, f"{prefix}{field.name}."))
    return list(dict.fromkeys(found))
