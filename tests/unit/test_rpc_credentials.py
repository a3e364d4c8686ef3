"""CallCredentials: a service calls another with its own short-lived token
for the callee's audience, and relays the user it serves in a signed form."""

from __future__ import annotations

import jwt
import pytest

from ragline.auth import (
    RELAY_HEADER,
    AuthenticationError,
    Caller,
    Principal,
    TokenSettings,
    TokenVerifier,
    all_service_audiences,
    current_principal,
    init_keys,
    rotate_keys,
)
from ragline.rpc import CallCredentials
from ragline.v1 import common_pb2

ALICE = Principal("alice", "acme", ("eng",), common_pb2.SENSITIVITY_CONFIDENTIAL, ("auditor",))


@pytest.fixture(autouse=True)
def keys(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("RAGLINE_DATA_DIR", str(tmp_path))
    init_keys(TokenSettings.from_env())


@pytest.fixture
def serving_alice():
    token = current_principal.set(ALICE)
    yield
    current_principal.reset(token)


def authenticate(service: str, metadata: list[tuple[str, str]]) -> Caller:
    headers = dict(metadata)
    bearer = headers["authorization"].removeprefix("Bearer ")
    return TokenVerifier(TokenSettings.from_env(service)).authenticate(bearer, headers.get(RELAY_HEADER, ""))


def claims(metadata: list[tuple[str, str]]) -> dict:
    return jwt.decode(dict(metadata)["authorization"].removeprefix("Bearer "), options={"verify_signature": False})


def test_a_call_on_its_own_behalf_carries_only_the_services_token_for_the_callee():
    metadata = CallCredentials("ingest").metadata("guardrail")
    assert [name for name, _ in metadata] == ["authorization"]
    assert claims(metadata)["aud"] == "ragline.guardrail"
    assert authenticate("guardrail", metadata) == Caller(Principal("service:ingest", "", (), 0))


def test_a_call_while_serving_a_user_relays_the_user(serving_alice):
    metadata = CallCredentials("generation").metadata("retrieval")
    assert authenticate("retrieval", metadata) == Caller(ALICE, "generation")


def test_the_token_is_good_for_its_callee_only(serving_alice):
    metadata = CallCredentials("generation").metadata("retrieval")
    with pytest.raises(AuthenticationError, match="audience"):
        authenticate("guardrail", metadata)


def test_without_the_callee_the_token_names_every_service(serving_alice):
    metadata = CallCredentials("retrieval").metadata()
    assert claims(metadata)["aud"] == list(all_service_audiences())
    assert authenticate("embedding", metadata) == Caller(ALICE, "retrieval")


def test_a_service_principal_is_never_relayed():
    token = current_principal.set(Principal("service:ingest", "", (), 0))
    try:
        metadata = CallCredentials("guardrail").metadata("audit")
    finally:
        current_principal.reset(token)
    assert RELAY_HEADER not in dict(metadata)


def test_the_service_token_is_reused_until_the_signing_key_rotates():
    credentials = CallCredentials("generation")
    first = dict(credentials.metadata("guardrail"))["authorization"]
    assert dict(credentials.metadata("guardrail"))["authorization"] == first
    new_kid = rotate_keys(TokenSettings.from_env())
    rotated = credentials.metadata("guardrail")
    assert dict(rotated)["authorization"] != first
    assert jwt.get_unverified_header(dict(rotated)["authorization"].removeprefix("Bearer "))["kid"] == new_kid
    assert authenticate("guardrail", rotated).principal.subject == "service:generation"
