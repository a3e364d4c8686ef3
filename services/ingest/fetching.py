"""Reads the content a document event refers to by `content_uri`.

`file://` references are read only below one configured folder, checked after
symlinks and `..` are resolved, so a publisher cannot make ingest read
/etc/shadow or a key file; with no folder configured, none are read.
`http(s)://` references are streamed with a time limit and aborted as soon as
they pass the size limit, so a slow or endless server cannot hold the consumer
or its memory. Every failure names the reference and what to change.
"""

from __future__ import annotations

import base64
import errno
import http.client
import os
import stat
import time
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlsplit, urlunsplit
from urllib.request import (
    HTTPDefaultErrorHandler,
    HTTPErrorProcessor,
    HTTPHandler,
    HTTPRedirectHandler,
    HTTPSHandler,
    OpenerDirector,
    ProxyHandler,
    Request,
    UnknownHandler,
)

from ragline.config import ConfigError

_READ_SIZE = 64 * 1024


class UnreadableReference(Exception):
    """The content behind a content_uri cannot be read; the message says why."""


def shown(uri: str) -> str:
    """The URI as it may appear in logs and dead letters: without user and password, and not too long."""
    return _without_credentials(uri)[:300]


def _without_credentials(uri: str) -> str:
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _opener() -> OpenerDirector:
    """http and https only, redirects included: no file://, ftp:// or data: behind a redirect."""
    opener = OpenerDirector()
    for handler in (
        ProxyHandler(),
        UnknownHandler(),
        HTTPHandler(),
        HTTPSHandler(),
        HTTPDefaultErrorHandler(),
        HTTPRedirectHandler(),
        HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


class ContentFetcher:
    def __init__(self, file_root: Path | None, max_bytes: int, timeout_s: float):
        if file_root is not None and not file_root.is_dir():
            raise ConfigError(f"RAGLINE_INGEST_FILE_ROOT={file_root} is not a folder")
        self._file_root = file_root.resolve() if file_root is not None else None
        self._max_bytes = max_bytes
        self._timeout_s = timeout_s
        self._opener = _opener()

    def fetch(self, uri: str) -> bytes:
        """The bytes behind `uri` (already validated: file, http or https); raises UnreadableReference."""
        parts = urlsplit(uri)
        if parts.scheme.lower() == "file":
            return self._read_file(uri, unquote(parts.path))
        return self._download(uri)

    def _read_file(self, uri: str, path_text: str) -> bytes:
        if self._file_root is None:
            raise UnreadableReference(
                f"{shown(uri)} is a file reference, and this ingest reads no files: "
                "set RAGLINE_INGEST_FILE_ROOT to the folder it may read, or send the content inline"
            )
        path = Path(path_text)
        if not path.is_absolute():
            raise UnreadableReference(f"{shown(uri)} does not name an absolute path: use file:///path/to/file")
        # Resolved before the check, so neither a symlink nor ".." can lead out of the root.
        resolved = path.resolve()
        if not resolved.is_relative_to(self._file_root):
            raise UnreadableReference(
                f"{shown(uri)} resolves to {resolved}, outside the folder ingest may read "
                f"({self._file_root}, RAGLINE_INGEST_FILE_ROOT)"
            )
        try:
            # O_NOFOLLOW: the path was resolved, so a symlink here was swapped in since.
            # O_NONBLOCK: opening a FIFO must not wait for a writer.
            descriptor = os.open(resolved, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            raise UnreadableReference(f"{shown(uri)}: there is no file at {resolved}") from None
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise UnreadableReference(f"{shown(uri)}: {resolved} was replaced by a symlink while being read") from None
            raise UnreadableReference(f"{shown(uri)} cannot be opened: {error.strerror}") from None
        try:
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode):
                raise UnreadableReference(f"{shown(uri)}: {resolved} is not a regular file")
            if status.st_size > self._max_bytes:
                raise self._too_large(uri, f"{status.st_size} bytes")
            with open(descriptor, "rb", closefd=False) as file:
                content = file.read(self._max_bytes + 1)
        finally:
            os.close(descriptor)
        # The file may have grown since fstat.
        if len(content) > self._max_bytes:
            raise self._too_large(uri, f"more than {self._max_bytes} bytes")
        return content

    def _download(self, uri: str) -> bytes:
        request = Request(_without_credentials(uri), headers={"User-Agent": "ragline-ingest"})
        parts = urlsplit(uri)
        if parts.username is not None:
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            # Unredirected: the credentials are for this host, not for wherever it redirects to.
            request.add_unredirected_header("Authorization", "Basic " + base64.b64encode(credentials).decode())
        deadline = time.monotonic() + self._timeout_s
        try:
            with self._opener.open(request, timeout=self._timeout_s) as response:
                length = response.headers.get("Content-Length", "")
                if length.isdigit() and int(length) > self._max_bytes:
                    raise self._too_large(uri, f"{length} bytes (Content-Length)")
                body = bytearray()
                # read1 returns what has arrived, so a server that trickles bytes cannot
                # stretch one read past the deadline checked after it.
                while piece := response.read1(_READ_SIZE):
                    body += piece
                    if len(body) > self._max_bytes:
                        raise self._too_large(uri, f"more than {self._max_bytes} bytes")
                    if time.monotonic() > deadline:
                        raise self._timed_out(uri)
                return bytes(body)
        except HTTPError as error:
            raise UnreadableReference(f"GET {shown(uri)} answered {error.code} {error.reason}") from None
        except URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise self._timed_out(uri) from None
            raise UnreadableReference(f"GET {shown(uri)} failed: {error.reason}") from None
        except TimeoutError:
            raise self._timed_out(uri) from None
        except (OSError, http.client.HTTPException) as error:
            raise UnreadableReference(f"GET {shown(uri)} failed: {type(error).__name__}: {error}") from None

    def _too_large(self, uri: str, size: str) -> UnreadableReference:
        return UnreadableReference(
            f"{shown(uri)} holds {size}, above the limit of {self._max_bytes} "
            "(RAGLINE_INGEST_MAX_DOCUMENT_BYTES): split the document or raise the limit"
        )

    def _timed_out(self, uri: str) -> UnreadableReference:
        return UnreadableReference(
            f"GET {shown(uri)} did not complete within {self._timeout_s:g} s (RAGLINE_INGEST_FETCH_TIMEOUT_S)"
        )
