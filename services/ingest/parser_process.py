"""Runs the parsers in a separate process, under a hard time and memory limit.

A parser that crawls through a hostile document (a PDF whose thousand pages
share one enormous content stream, a decompression bomb) cannot be stopped
from inside the consumer's thread; a process can be killed. One worker process
is started with the service and reused for every document, so a document
costs one round trip over a pipe, not a process start. When a document runs
over the time limit or kills the worker, the worker is replaced and the
document is refused as unparsable: it becomes a dead letter, and the consumer
goes on.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from multiprocessing.connection import Connection

from ragline.kafka import TransientError
from services.ingest.parsing import Block, UnparsableDocument
from services.ingest.parsing.worker import serve

# Importing the parsers takes about a second; a worker that is not ready far
# later is broken, which is the deployment's problem, not a document's.
STARTUP_TIMEOUT_S = 60.0


class ParserUnavailable(TransientError):
    """The worker process does not start: the deployment's problem, so the batch is retried, not dead-lettered."""


class ParserProcess:
    """`parse(media_type, content)` in a worker process; raises UnparsableDocument
    for content that cannot be parsed, takes too long, or kills the worker."""

    def __init__(self, timeout_s: float, memory_limit_bytes: int | None = None):
        self._timeout_s = timeout_s
        self._memory_limit_bytes = memory_limit_bytes
        self._context = multiprocessing.get_context("spawn")
        # One caller at a time: the pipe carries one request and one answer.
        self._lock = threading.Lock()
        self._process: multiprocessing.process.BaseProcess | None = None
        self._connection: Connection | None = None
        self._ready = False
        self._start()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def __call__(self, media_type: str, content: bytes) -> list[Block]:
        with self._lock:
            connection = self._ready_connection()
            try:
                connection.send((media_type, content))
                if not connection.poll(self._timeout_s):
                    self._replace(grace_s=0.0)
                    raise UnparsableDocument(
                        f"parsing the {media_type} content took longer than {self._timeout_s:g} s "
                        "(RAGLINE_INGEST_PARSE_TIMEOUT_S) and was stopped"
                    )
                succeeded, value = connection.recv()
            except (EOFError, OSError):
                # The worker is exiting: a moment lets its real exit code (a signal, a crash) be read.
                exit_code = self._replace(grace_s=1.0)
                raise UnparsableDocument(
                    f"the parser process died reading the {media_type} content (exit code {exit_code})"
                ) from None
        if succeeded:
            return value
        raise UnparsableDocument(value)

    def close(self) -> None:
        with self._lock:
            self._stop(grace_s=2.0)

    def _start(self) -> None:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=serve, args=(child, self._memory_limit_bytes, os.getpid()), name="ingest-parser", daemon=True
        )
        process.start()
        child.close()
        self._process, self._connection, self._ready = process, parent, False

    def _ready_connection(self) -> Connection:
        assert self._connection is not None and self._process is not None
        if not self._ready:
            try:
                ready = self._connection.poll(STARTUP_TIMEOUT_S) and self._connection.recv() == "ready"
            except (EOFError, OSError):
                ready = False
            if not ready:
                exit_code = self._replace(grace_s=1.0)
                raise ParserUnavailable(f"the parser process did not start (exit code {exit_code})")
            self._ready = True
        return self._connection

    def _replace(self, grace_s: float) -> int | None:
        """Stop the worker (see _stop) and start a new one; return the old one's exit code."""
        exit_code = self._stop(grace_s)
        self._start()
        return exit_code

    def _stop(self, grace_s: float) -> int | None:
        """Close the pipe, which ends an idle worker; kill it if it has not ended within `grace_s`."""
        if self._process is None or self._connection is None:
            return None
        self._connection.close()
        self._process.join(grace_s)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        exit_code = self._process.exitcode
        self._process.close()
        self._process = self._connection = None
        return exit_code
