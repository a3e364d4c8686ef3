"""Token verification: only short-lived tokens signed by a trusted key, for
this issuer and audience, yield a principal."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from dataclasses import replace

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from ragline.auth import AuthenticationError, TokenMinter, TokenSettings, TokenVerifier, init_keys
from ragline.v1 import common_pb2


@pytest.fixture
def settings(tmp_path) -> TokenSettings:
    settings = TokenSettings(
        issuer="https://issuer.test",
        audience="ragline",
        jwks_path=tmp_path / "jwks.json",
        signing_key_path=tmp_path / "key.pem",
        max_lifetime_s=900,
        leeway_s=5,
    )
    init_keys(settings)
    return settings


def claims(settings: TokenSettings, **overrides) -> dict:
    now = int(time.time())
    base = {"iss": settings.issuer, "aud": settings.audience, "sub": "alice", "tenant": "acme", "groups": ["eng"],
            "clearance": "confidential", "iat": now, "exp": now + 300}
    base.update(overrides)
    return base


def sign(settings: TokenSettings, payload: dict, **header) -> str:
    key = serialization.load_pem_private_key(settings.signing_key_path.read_bytes(), password=None)
    kid = json.loads(settings.jwks_path.read_text())["keys"][0]["kid"]
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid, **header})


def test_a_minted_token_yields_the_principal_from_its_claims(settings):
    token = TokenMinter(settings).mint("alice", "acme", ("eng", "all-staff"), "confidential")
    principal = TokenVerifier(settings).verify(token)
    assert (principal.subject, principal.tenant, principal.groups) == ("alice", "acme", ("eng", "all-staff"))
    assert principal.clearance == common_pb2.SENSITIVITY_CONFIDENTIAL


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"exp": int(time.time()) - 60}, "expired"),
        ({"aud": "someone-else"}, "audience"),
        ({"iss": "https://evil.test"}, "issuer"),
        ({"iat": int(time.time()), "exp": int(time.time()) + 86400}, "lifetime"),
    ],
)
def test_tokens_with_wrong_claims_are_rejected(settings, overrides, message):
    with pytest.raises(AuthenticationError, match=message):
        TokenVerifier(settings).verify(sign(settings, claims(settings, **overrides)))


def test_unsigned_token_is_rejected(settings):
    token = jwt.encode(claims(settings), key=None, algorithm="none")
    with pytest.raises(AuthenticationError, match="algorithm 'none'"):
        TokenVerifier(settings).verify(token)


def test_hmac_token_keyed_with_the_public_key_is_rejected(settings):
    # Algorithm confusion: an HS256 token whose secret is the (public) verification key.
    private_key = serialization.load_pem_private_key(settings.signing_key_path.read_bytes(), password=None)
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kid = json.loads(settings.jwks_path.read_text())["keys"][0]["kid"]

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'kid': kid}).encode())}.{b64(json.dumps(claims(settings)).encode())}"
    token = f"{signing_input}.{b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())}"
    with pytest.raises(AuthenticationError, match="HS256"):
        TokenVerifier(settings).verify(token)


def test_unknown_key_id_is_rejected(settings):
    with pytest.raises(AuthenticationError, match="not in the trusted key set"):
        TokenVerifier(settings).verify(sign(settings, claims(settings), kid="forged"))


def test_a_rotated_key_set_is_picked_up_without_restart(settings, tmp_path):
    verifier = TokenVerifier(settings)
    old_token = TokenMinter(settings).mint("alice", "acme")
    verifier.verify(old_token)

    rotated = replace(settings, signing_key_path=tmp_path / "new-key.pem", jwks_path=tmp_path / "new-jwks.json")
    init_keys(rotated)
    settings.jwks_path.write_text(rotated.jwks_path.read_text())
    os.utime(settings.jwks_path, (time.time() + 5, time.time() + 5))

    new_token = TokenMinter(rotated).mint("alice", "acme")
    assert verifier.verify(new_token).subject == "alice"
    with pytest.raises(AuthenticationError, match="not in the trusted key set"):
        verifier.verify(old_token)


def test_missing_claims_grant_no_clearance(settings):
    token = sign(settings, {k: v for k, v in claims(settings).items() if k not in ("clearance", "tenant")})
    principal = TokenVerifier(settings).verify(token)
    assert principal.clearance == 0 and principal.tenant == ""
