"""Turns files into document events, as an upstream system would publish them."""

from __future__ import annotations

import hashlib
import json
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.timestamp_pb2 import Timestamp

from ragline.auditing import event_header
from ragline.v1 import common_pb2, documents_pb2

MIME_TYPES = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".txt": "text/plain",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
SENSITIVITIES = {name.removeprefix("SENSITIVITY_").lower(): value for name, value in common_pb2.Sensitivity.items()}


@dataclass
class DocumentSpec:
    """What an upstream system knows about one file it publishes."""

    path: Path
    document_id: str
    title: str = ""
    source_uri: str = ""
    origin_system: str = "ragline-cli"
    author: str = ""
    sensitivity: str = "internal"
    users: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    version: int = 1
    mime_type: str = ""
    # RFC 3339; the file's modification time when empty.
    created_at: str = ""
    updated_at: str = ""


def mime_type(path: Path) -> str:
    return MIME_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def specs_from_manifest(manifest: Path) -> tuple[str, list[DocumentSpec]]:
    """(tenant, documents) from a manifest.json beside the files it lists."""
    data = json.loads(manifest.read_text(encoding="utf-8"))
    renamed = {"file": "path", "document_version": "version", "access_groups": "groups", "access_users": "users"}
    specs = []
    for entry in data["documents"]:
        fields = {renamed.get(key, key): value for key, value in entry.items()}
        fields["path"] = manifest.parent / fields["path"]
        specs.append(DocumentSpec(**fields))
    return data["tenant"], specs


def specs_from_paths(paths: list[Path], groups: list[str], sensitivity: str, version: int) -> list[DocumentSpec]:
    files = sorted(p for path in paths for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file() and p.suffix.lower() in MIME_TYPES)
    return [
        DocumentSpec(
            path=file,
            document_id=file.stem,
            title=file.stem.replace("-", " ").replace("_", " ").capitalize(),
            source_uri=file.resolve().as_uri(),
            sensitivity=sensitivity,
            groups=groups,
            version=version,
        )
        for file in files
    ]


def upsert_event(tenant: str, spec: DocumentSpec) -> documents_pb2.DocumentEvent:
    content = spec.path.read_bytes()
    modified = Timestamp()
    modified.FromSeconds(int(spec.path.stat().st_mtime))
    created, updated = Timestamp(), Timestamp()
    created.CopyFrom(modified) if not spec.created_at else created.FromJsonString(spec.created_at)
    updated.CopyFrom(modified) if not spec.updated_at else updated.FromJsonString(spec.updated_at)
    if spec.sensitivity not in SENSITIVITIES or spec.sensitivity == "unspecified":
        raise ValueError(f"{spec.path}: sensitivity {spec.sensitivity!r} is not one of public, internal, confidential, restricted")
    provenance = common_pb2.Provenance(
        origin_system=spec.origin_system,
        source_uri=spec.source_uri or spec.path.resolve().as_uri(),
        author=spec.author,
        created_at=created,
        updated_at=updated,
        sensitivity=SENSITIVITIES[spec.sensitivity],
        access=common_pb2.AccessList(users=spec.users, groups=spec.groups),
        document_version=spec.version,
        content_hash=hashlib.sha256(content).hexdigest(),
        title=spec.title or spec.path.stem,
    )
    return documents_pb2.DocumentEvent(
        header=event_header(tenant, "ragline-cli"),
        document_id=spec.document_id,
        upsert=documents_pb2.DocumentUpsert(provenance=provenance, mime_type=spec.mime_type or mime_type(spec.path), content=content),
    )


def delete_event(tenant: str, document_id: str) -> documents_pb2.DocumentEvent:
    return documents_pb2.DocumentEvent(
        header=event_header(tenant, "ragline-cli"), document_id=document_id, delete=documents_pb2.DocumentDelete()
    )
