"""Parsing in a worker process: same blocks as in process, and a document that
runs over the time or memory limit, or kills the worker, is refused while the
next document parses normally."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from samples.hostile import large_docx, slow_pdf
from services.ingest.media_types import DOCX
from services.ingest.parser_process import ParserProcess
from services.ingest.parsing import UnparsableDocument, parse

CORPUS = Path(__file__).resolve().parents[2] / "samples" / "corpus"
SAMPLES = [
    ("text/markdown", "nw7-picker-spec.md"),
    ("text/html", "security-vpn-policy.html"),
    ("application/pdf", "expense-policy.pdf"),
    (DOCX, "warehouse-safety.docx"),
]
TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def parser() -> Iterator[ParserProcess]:
    process = ParserProcess(TIMEOUT_S, memory_limit_bytes=256 << 20)
    yield process
    process.close()


@pytest.mark.parametrize(("media_type", "name"), SAMPLES)
def test_the_worker_gives_the_blocks_parsing_in_process_gives(parser, media_type, name):
    content = (CORPUS / name).read_bytes()
    assert parser(media_type, content) == parse(media_type, content)


def test_a_parser_error_comes_back_with_its_reason_and_the_worker_stays(parser):
    pid = parser.pid
    with pytest.raises(UnparsableDocument, match="the PDF cannot be opened"):
        parser("application/pdf", b"%PDF-1.7\nbroken")
    assert parser.pid == pid


def test_a_document_over_the_time_limit_is_stopped_and_the_next_one_parses(parser):
    pid = parser.pid
    started = time.monotonic()
    with pytest.raises(UnparsableDocument, match=r"took longer than 1 s \(RAGLINE_INGEST_PARSE_TIMEOUT_S\) and was stopped"):
        parser("application/pdf", slow_pdf())
    assert time.monotonic() - started < TIMEOUT_S + 2.0
    assert parser.pid != pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert parser("text/plain", b"Still here.")[0].text == "Still here."


def test_a_document_over_the_memory_limit_is_refused(parser):
    with pytest.raises(UnparsableDocument, match="needs more memory than the parser may use"):
        parser(DOCX, large_docx(2_000_000))
    assert parser("text/plain", b"Still here.")[0].text == "Still here."


def test_a_worker_that_dies_mid_document_is_replaced(tmp_path):
    parser = ParserProcess(30.0)
    try:
        parser("text/plain", b"warm")  # the worker is up
        pid = parser.pid
        threading.Timer(0.5, os.kill, (pid, signal.SIGKILL)).start()
        with pytest.raises(UnparsableDocument, match=r"the parser process died reading the application/pdf content \(exit code -9\)"):
            parser("application/pdf", slow_pdf())
        assert parser.pid != pid
        assert parser("text/plain", b"Next.")[0].text == "Next."
    finally:
        parser.close()


@pytest.mark.parametrize("used", [True, False])
def test_close_stops_the_worker_quietly(capfd, used):
    parser = ParserProcess(5.0)
    if used:
        parser("text/plain", b"warm")
    else:
        time.sleep(1.0)  # ready, and its "ready" still unread
    pid = parser.pid
    parser.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert "Traceback" not in capfd.readouterr().err


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for its new parent to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_worker_whose_service_is_killed_stops_instead_of_parsing_on():
    service = subprocess.Popen(
        [sys.executable, "-c", SERVICE_KILLED_MID_DOCUMENT],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([".", "libs"])},
    )
    try:
        worker = int(service.stdout.readline())
        time.sleep(0.5)  # the worker is now deep in the slow PDF
        assert running(worker)
        service.kill()
        service.wait()
        deadline = time.monotonic() + 5.0
        while running(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not running(worker), "the orphaned worker went on parsing"
    finally:
        service.kill()


SERVICE_KILLED_MID_DOCUMENT = """
from samples.hostile import slow_pdf
from services.ingest.parser_process import ParserProcess

parser = ParserProcess(600.0)
parser("text/plain", b"warm")
print(parser.pid, flush=True)
parser("application/pdf", slow_pdf())
"""
