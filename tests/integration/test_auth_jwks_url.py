"""User tokens checked against an issuer's JWKS URL, served over real HTTP on
loopback as an OIDC provider serves it: cached, re-fetched when the issuer
rotates, never fetched more than the limits allow."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from ragline.auth import (
    AuthenticationError,
    KeySetUnavailable,
    TokenMinter,
    TokenSettings,
    TokenVerifier,
    init_keys,
    retire_keys,
    rotate_keys,
)

pytestmark = pytest.mark.integration

ISSUER = "https://idp.test/realms/acme"


class IdentityProvider:
    """Serves the JWKS file of its own signing key, and counts the fetches."""

    def __init__(self, keys: Path):
        self.settings = TokenSettings(ISSUER, "ragline", keys / "jwks.json", keys / "key.pem", 900, 5)
        init_keys(self.settings)
        self.fetches = 0
        self.up = True
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server interface
                if not provider.up:
                    self.send_error(503)
                    return
                provider.fetches += 1
                body = provider.settings.jwks_path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/protocol/openid-connect/certs"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def token(self, subject: str = "alice") -> str:
        return TokenMinter(self.settings).mint(subject, "acme", ("eng",))

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def idp(tmp_path) -> Iterator[IdentityProvider]:
    (tmp_path / "idp").mkdir()
    provider = IdentityProvider(tmp_path / "idp")
    yield provider
    provider.stop()


def verifier_for(idp: IdentityProvider, tmp_path: Path, refresh_s: int = 300, min_refetch_s: int = 0) -> TokenVerifier:
    services = TokenSettings(ISSUER, "ragline.retrieval", tmp_path / "jwks.json", tmp_path / "key.pem", 900, 5)
    init_keys(services)
    return TokenVerifier(
        replace(services, user_audiences=("ragline",), jwks_url=idp.url, jwks_refresh_s=refresh_s, jwks_min_refetch_s=min_refetch_s)
    )


def test_keys_are_cached_and_refetched_when_the_issuer_rotates(idp, tmp_path):
    verifier = verifier_for(idp, tmp_path)
    assert verifier.verify(idp.token()).subject == "alice"
    assert verifier.verify(idp.token("bob")).subject == "bob"
    assert idp.fetches == 1

    rotate_keys(idp.settings)
    assert verifier.verify(idp.token()).subject == "alice"
    assert idp.fetches == 2


def test_unknown_key_ids_refetch_at_most_once_per_interval(idp, tmp_path):
    verifier = verifier_for(idp, tmp_path, min_refetch_s=30)
    verifier.verify(idp.token())
    rotate_keys(idp.settings)
    for _ in range(10):
        with pytest.raises(AuthenticationError, match="not in the trusted key set"):
            verifier.verify(idp.token())
    assert idp.fetches == 1


def test_the_key_set_is_refreshed_so_a_retired_key_stops_working(idp, tmp_path):
    verifier = verifier_for(idp, tmp_path, refresh_s=1)
    old_token = idp.token()
    verifier.verify(old_token)
    rotate_keys(idp.settings)
    retire_keys(idp.settings)
    time.sleep(1.1)
    with pytest.raises(AuthenticationError, match="not in the trusted key set"):
        verifier.verify(old_token)
    assert idp.fetches == 2


def test_an_issuer_outage_keeps_the_cached_keys_and_a_first_fetch_failure_is_unavailable(idp, tmp_path):
    verifier = verifier_for(idp, tmp_path, refresh_s=1)
    verifier.verify(idp.token())
    idp.up = False
    time.sleep(1.1)
    assert verifier.verify(idp.token()).subject == "alice"

    fresh = verifier_for(idp, tmp_path / "fresh")
    with pytest.raises(KeySetUnavailable, match="cannot fetch the token issuer's keys"):
        fresh.verify(idp.token())
