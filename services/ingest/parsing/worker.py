"""The parser worker process's side of ParserProcess: parse what arrives on a pipe.

It imports the parsers and nothing else of the service, so it starts quickly
and stays small.
"""

from __future__ import annotations

import os
import resource
import signal
import threading
import time
from multiprocessing.connection import Connection

from services.ingest.parsing import UnparsableDocument, parse

_ORPHAN_CHECK_S = 1.0


def serve(connection: Connection, memory_limit_bytes: int | None, parent_pid: int) -> None:
    """The worker: parse what arrives on the pipe until it closes."""
    # Ctrl-C reaches the whole process group; stopping the worker is the parent's decision.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if memory_limit_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))
    threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True).start()
    try:
        connection.send("ready")
        while True:
            media_type, content = connection.recv()
            connection.send(_outcome(media_type, content))
    except (EOFError, OSError):
        return  # the service closed the pipe (or is gone): nothing left to do


def _outcome(media_type: str, content: bytes) -> tuple[bool, object]:
    """(True, blocks), or (False, why the content cannot be parsed)."""
    try:
        return True, parse(media_type, content)
    except MemoryError:
        return False, f"parsing the {media_type} content needs more memory than the parser may use (RAGLINE_INGEST_PARSE_MEMORY_MB)"
    except UnparsableDocument as error:
        return False, str(error)


def _exit_when_orphaned(parent_pid: int) -> None:
    """A worker whose service died (kill -9) must not go on parsing a hostile document for minutes."""
    while os.getppid() == parent_pid:
        time.sleep(_ORPHAN_CHECK_S)
    os._exit(1)
