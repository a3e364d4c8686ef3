"""http(s):// references read from a real HTTP server on loopback: streamed,
aborted past the size limit or the time limit, never redirected off http(s)."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from services.ingest.fetching import ContentFetcher, UnreadableReference

pytestmark = pytest.mark.integration

LIMIT = 4096
TIMEOUT_S = 1.0
DOCUMENT = b"# Parking\n\nVisitor parking is in lot C.\n"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - the http.server interface
        route = getattr(self, "route_" + self.path.strip("/").replace("-", "_"), None)
        if route is None:
            self.send_error(404)
            return
        route()

    def route_guide(self) -> None:
        self._send(DOCUMENT)

    def route_moved(self) -> None:
        self._redirect("/guide")

    def route_to_file(self) -> None:
        self._redirect("file:///etc/passwd")

    def route_large(self) -> None:
        self._send(b"x" * (LIMIT + 1))

    def route_endless(self) -> None:
        # No Content-Length: the size is only known by reading. Bounded, so the server stops by itself.
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        for _ in range(1000):
            try:
                self.wfile.write(b"y" * 1024)
            except OSError:
                return

    def route_drip(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "100")
        self.end_headers()
        for _ in range(100):
            try:
                self.wfile.write(b"z")
                self.wfile.flush()
            except OSError:
                return
            time.sleep(0.2)

    def route_silent(self) -> None:
        time.sleep(TIMEOUT_S * 3)

    def route_secret(self) -> None:
        if self.headers.get("Authorization") == "Basic cmVhZGVyOnMzY3JldA==":  # reader:s3cret
            self._send(DOCUMENT)
        else:
            self.send_error(401)

    def route_secret_elsewhere(self) -> None:
        self._redirect("/secret")

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/markdown")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the http.server interface
        pass


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def fetch(uri: str) -> bytes:
    return ContentFetcher(None, LIMIT, TIMEOUT_S).fetch(uri)


def refusal(uri: str) -> str:
    with pytest.raises(UnreadableReference) as refused:
        fetch(uri)
    return str(refused.value)


def test_a_document_is_fetched_and_a_redirect_on_http_followed(base):
    assert fetch(f"{base}/guide") == DOCUMENT
    assert fetch(f"{base}/moved") == DOCUMENT


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/nowhere", "answered 404 Not Found"),
        ("/large", f"/large holds {LIMIT + 1} bytes (Content-Length), above the limit of {LIMIT} (RAGLINE_INGEST_MAX_DOCUMENT_BYTES)"),
        ("/endless", f"/endless holds more than {LIMIT} bytes, above the limit of {LIMIT}"),
        ("/to-file", "Redirection to url 'file:///etc/passwd' is not allowed"),
    ],
)
def test_what_cannot_be_fetched_whole_within_the_limit_is_refused(base, path, expected):
    reason = refusal(base + path)
    assert reason.startswith(f"GET {base}{path}") or reason.startswith(f"{base}{path}")
    assert expected in reason


@pytest.mark.parametrize("path", ["/drip", "/silent"])
def test_a_slow_server_is_abandoned_at_the_time_limit(base, path):
    started = time.monotonic()
    assert f"did not complete within {TIMEOUT_S:g} s (RAGLINE_INGEST_FETCH_TIMEOUT_S)" in refusal(base + path)
    # A read waits at most the timeout, and the whole fetch is checked against it after each read.
    assert time.monotonic() - started < 2 * TIMEOUT_S + 1.0


def test_an_unreachable_server_is_refused_with_the_cause():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert "Connection refused" in refusal(f"http://127.0.0.1:{port}/guide")


def test_credentials_in_the_uri_are_sent_to_that_server_only_and_never_shown(base):
    port = base.rsplit(":", 1)[1]
    assert fetch(f"http://reader:s3cret@127.0.0.1:{port}/secret") == DOCUMENT
    # A redirect does not take the credentials along.
    reason = refusal(f"http://reader:s3cret@127.0.0.1:{port}/secret-elsewhere")
    assert "401 Unauthorized" in reason and "s3cret" not in reason and "reader" not in reason
    assert "s3cret" not in refusal(f"http://reader:s3cret@127.0.0.1:{port}/nowhere")
