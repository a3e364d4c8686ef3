"""Zero trust across the six services as processes: every service rejects
every kind of bad token, a forged relayed principal, and a relay by anyone
but a service; keys rotate with nothing restarted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Callable

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ragline.auth import RELAY_HEADER, Principal, TokenMinter, TokenSettings, init_keys, retire_keys, rotate_keys
from ragline.cli.launcher import SERVICES
from ragline.cli.main import ask
from ragline.rpc import connect
from ragline.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    common_pb2,
    embedding_pb2,
    embedding_pb2_grpc,
    generation_pb2,
    generation_pb2_grpc,
    guardrail_pb2,
    guardrail_pb2_grpc,
    ingest_pb2,
    ingest_pb2_grpc,
    retrieval_pb2,
    retrieval_pb2_grpc,
)

pytestmark = pytest.mark.e2e

Metadata = list[tuple[str, str]]

# One authenticated call per service; what it asks does not matter, the token is checked first.
CALLS: dict[str, Callable[[grpc.Channel, str, Metadata], object]] = {
    "ingest": lambda ch, tenant, md: ingest_pb2_grpc.IngestServiceStub(ch).Ingest(ingest_pb2.IngestRequest(), metadata=md, timeout=30),
    "embedding": lambda ch, tenant, md: embedding_pb2_grpc.EmbeddingServiceStub(ch).Embed(
        embedding_pb2.EmbedRequest(texts=["probe"]), metadata=md, timeout=30
    ),
    "retrieval": lambda ch, tenant, md: retrieval_pb2_grpc.RetrievalServiceStub(ch).Search(
        retrieval_pb2.SearchRequest(query="probe", top_k=1), metadata=md, timeout=30
    ),
    "generation": lambda ch, tenant, md: generation_pb2_grpc.GenerationServiceStub(ch).Answer(
        generation_pb2.AnswerRequest(question="probe"), metadata=md, timeout=60
    ),
    "guardrail": lambda ch, tenant, md: guardrail_pb2_grpc.GuardrailServiceStub(ch).ScreenInput(
        guardrail_pb2.ScreenInputRequest(tenant=tenant, text="probe"), metadata=md, timeout=30
    ),
    "audit": lambda ch, tenant, md: audit_pb2_grpc.AuditServiceStub(ch).Query(audit_pb2.QueryRequest(tenant=tenant), metadata=md, timeout=30),
}


def settings() -> TokenSettings:
    return TokenSettings.from_env()


def code_of(service: str, tenant: str, metadata: Metadata) -> tuple[grpc.StatusCode, str]:
    with connect(service) as channel:
        try:
            CALLS[service](channel, tenant, metadata)
        except grpc.RpcError as error:
            return error.code(), error.details() or ""
    return grpc.StatusCode.OK, ""


def bearer(token: str) -> Metadata:
    return [("authorization", f"Bearer {token}")]


def signing_key():
    return serialization.load_pem_private_key(settings().signing_key_path.read_bytes(), password=None)


def user_claims(**overrides) -> dict:
    now = int(time.time())
    configured = settings()
    claims = {"iss": configured.issuer, "aud": configured.audience, "sub": "mallory", "tenant": "acme",
              "groups": ["all-staff"], "clearance": "restricted", "iat": now, "nbf": now, "exp": now + 300}
    claims.update(overrides)
    return claims


def signed(claims: dict, key=None, kid: str | None = None) -> str:
    return jwt.encode(claims, key or signing_key(), algorithm="RS256", headers={"kid": kid or TokenMinter(settings()).key_id})


def hs256_with_the_public_key() -> str:
    public_pem = signing_key().public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = {"alg": "HS256", "typ": "JWT", "kid": TokenMinter(settings()).key_id}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(user_claims()).encode())}"
    return f"{signing_input}.{b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())}"


def stranger_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def another_service(service: str) -> str:
    return next(name for name in SERVICES if name != service)


# (case, metadata for a call to the service, what the refusal must say)
REJECTED: list[tuple[str, Callable[[str], Metadata], str]] = [
    ("missing", lambda service: [], "missing bearer token"),
    ("malformed", lambda service: bearer("not.a-jwt"), "malformed bearer token"),
    ("bad signature", lambda service: bearer(signed(user_claims(), key=stranger_key())), "signature does not verify"),
    ("expired", lambda service: bearer(signed(user_claims(iat=int(time.time()) - 900, nbf=int(time.time()) - 900, exp=int(time.time()) - 600))), "expired"),
    ("not yet valid", lambda service: bearer(signed(user_claims(nbf=int(time.time()) + 600, exp=int(time.time()) + 800))), "not valid yet"),
    ("wrong issuer", lambda service: bearer(signed(user_claims(iss="https://evil.example/issuer"))), "issuer"),
    ("wrong audience", lambda service: bearer(signed(user_claims(aud="ragline.somewhere-else"))), "audience"),
    ("alg none", lambda service: bearer(jwt.encode(user_claims(), key=None, algorithm="none")), "algorithm 'none'"),
    ("HS256 with the RS256 public key", lambda service: bearer(hs256_with_the_public_key()), "HS256"),
    ("over the maximum lifetime", lambda service: bearer(signed(user_claims(exp=int(time.time()) + 86400))), "exceeds the allowed"),
    ("unknown key id", lambda service: bearer(signed(user_claims(), key=stranger_key(), kid="unknown-key")), "not in the trusted key set"),
    (
        "another service's service token",
        lambda service: bearer(TokenMinter(settings()).mint_service_token("generation", f"ragline.{another_service(service)}").token),
        "audience",
    ),
]


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("make_metadata, says", [pytest.param(m, s, id=case) for case, m, s in REJECTED])
def test_every_service_rejects_every_bad_token(platform, service, make_metadata, says):
    code, details = code_of(service, platform.tenant, make_metadata(service))
    assert code == grpc.StatusCode.UNAUTHENTICATED, details
    assert says in details
    assert "Traceback" not in details


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_accepts_a_good_token(platform, service):
    code, details = code_of(service, platform.tenant, bearer(platform.token()))
    assert code not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.UNAVAILABLE), details


def relayed(service: str, principal: Principal, minter: TokenMinter | None = None) -> Metadata:
    """What generation sends when it calls `service` for `principal`; a forger passes its own minter for the relay."""
    own = TokenMinter(settings())
    issued = own.mint_service_token("generation", f"ragline.{service}")
    relay = (minter or own).relay(principal, "service:generation", issued.jti, f"ragline.{service}")
    return [*bearer(issued.token), (RELAY_HEADER, relay)]


def forger(tmp_path) -> TokenMinter:
    forged = TokenSettings("https://ragline.local/dev-issuer", "ragline", tmp_path / "jwks.json", tmp_path / "key.pem", 900, 30)
    init_keys(forged)
    return TokenMinter(forged)


@pytest.mark.parametrize("service", SERVICES)
def test_a_relayed_principal_signed_by_an_unknown_key_is_rejected(platform, service, tmp_path):
    boss = Principal("ceo", platform.tenant, ("board",), common_pb2.SENSITIVITY_RESTRICTED)
    code, details = code_of(service, platform.tenant, relayed(service, boss, forger(tmp_path)))
    assert code == grpc.StatusCode.UNAUTHENTICATED, details
    assert "relayed principal rejected" in details


@pytest.mark.parametrize("service", SERVICES)
def test_a_principal_relayed_by_a_user_is_rejected(platform, service):
    relay = dict(relayed(service, Principal("ceo", platform.tenant, (), common_pb2.SENSITIVITY_RESTRICTED)))[RELAY_HEADER]
    code, details = code_of(service, platform.tenant, [*bearer(platform.token()), (RELAY_HEADER, relay)])
    assert code == grpc.StatusCode.PERMISSION_DENIED, details
    assert "only Ragline services may relay" in details


def test_the_callee_decides_from_the_relayed_principal(platform):
    # Guardrail lets a user screen only for their own tenant, and a service for any.
    alice = Principal("alice", platform.tenant, ("all-staff",), common_pb2.SENSITIVITY_INTERNAL)
    assert code_of("guardrail", platform.tenant, relayed("guardrail", alice))[0] == grpc.StatusCode.OK
    code, details = code_of("guardrail", "another-tenant", relayed("guardrail", alice))
    assert code == grpc.StatusCode.PERMISSION_DENIED, details
    service_alone = bearer(TokenMinter(settings()).mint_service_token("generation", "ragline.guardrail").token)
    assert code_of("guardrail", "another-tenant", service_alone)[0] == grpc.StatusCode.OK


def test_keys_rotate_and_retire_with_nothing_restarted(platform):
    old_token = platform.token()
    rotate_keys(settings())
    new_token = platform.token()
    assert jwt.get_unverified_header(new_token)["kid"] != jwt.get_unverified_header(old_token)["kid"]
    for service in SERVICES:
        for token in (old_token, new_token):
            code, details = code_of(service, platform.tenant, bearer(token))
            assert code != grpc.StatusCode.UNAUTHENTICATED, f"{service}: {details}"
    # Generation calls guardrail, embedding and retrieval with service tokens of the new key.
    assert ask("Is anything indexed for this tenant?", new_token).answer_id

    assert retire_keys(settings()) == [jwt.get_unverified_header(old_token)["kid"]]
    for service in SERVICES:
        code, details = code_of(service, platform.tenant, bearer(old_token))
        assert code == grpc.StatusCode.UNAUTHENTICATED and "not in the trusted key set" in details, f"{service}: {details}"
        assert code_of(service, platform.tenant, bearer(new_token))[0] != grpc.StatusCode.UNAUTHENTICATED
    assert ask(f"Is anything indexed? {uuid.uuid4().hex}", platform.token()).answer_id
