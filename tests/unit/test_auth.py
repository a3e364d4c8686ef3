"""Token verification: only short-lived tokens signed by a trusted key, for
this issuer and audience, yield a principal; services relay a user's
principal only in a signed form bound to their own token."""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import time
from dataclasses import replace

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ragline.auth import (
    RELAY_TYPE,
    AccessDenied,
    AuthenticationError,
    Caller,
    ClaimNames,
    Principal,
    TokenMinter,
    TokenSettings,
    TokenVerifier,
    init_keys,
    read_claim,
    retire_keys,
    rotate_keys,
)
from ragline.cli import tokens
from ragline.config import ConfigError
from ragline.v1 import common_pb2

HS256_SECRET = "a development secret of at least 32 bytes"


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


def service_settings(settings: TokenSettings, service: str) -> TokenSettings:
    """What `service` verifies with: its own audience, user tokens for the platform audience too."""
    return replace(settings, audience=f"ragline.{service}", user_audiences=(settings.audience,))


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
    token = TokenMinter(settings).mint("alice", "acme", ("eng", "all-staff"), "confidential", roles=("auditor",))
    principal = TokenVerifier(settings).verify(token)
    assert (principal.subject, principal.tenant, principal.groups) == ("alice", "acme", ("eng", "all-staff"))
    assert principal.clearance == common_pb2.SENSITIVITY_CONFIDENTIAL
    assert principal.roles == ("auditor",)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"exp": int(time.time()) - 60}, "expired"),
        ({"aud": "someone-else"}, "audience"),
        ({"iss": "https://evil.test"}, "issuer"),
        ({"iat": int(time.time()), "exp": int(time.time()) + 86400}, "lifetime"),
        ({"nbf": int(time.time()) + 600}, "not valid yet"),
        ({"sub": "service:generation"}, "reserved for Ragline services"),
    ],
)
def test_tokens_with_wrong_claims_are_rejected(settings, overrides, message):
    with pytest.raises(AuthenticationError, match=message):
        TokenVerifier(settings).verify(sign(settings, claims(settings, **overrides)))


def test_unsigned_token_is_rejected(settings):
    token = jwt.encode(claims(settings), key=None, algorithm="none")
    with pytest.raises(AuthenticationError, match="algorithm 'none'"):
        TokenVerifier(settings).verify(token)


def test_malformed_token_is_rejected(settings):
    with pytest.raises(AuthenticationError, match="malformed bearer token"):
        TokenVerifier(settings).verify("not-a-jwt")


def test_a_token_signed_by_another_key_under_a_trusted_key_id_is_rejected(settings):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = json.loads(settings.jwks_path.read_text())["keys"][0]["kid"]
    token = jwt.encode(claims(settings), other, algorithm="RS256", headers={"kid": kid})
    with pytest.raises(AuthenticationError, match="signature does not verify"):
        TokenVerifier(settings).verify(token)


def hs256_with_public_key(settings: TokenSettings, payload: dict) -> str:
    """Algorithm confusion: an HS256 token whose secret is the (public) verification key."""
    private_key = serialization.load_pem_private_key(settings.signing_key_path.read_bytes(), password=None)
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kid = json.loads(settings.jwks_path.read_text())["keys"][0]["kid"]

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'kid': kid}).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())}"


def test_hmac_token_keyed_with_the_public_key_is_rejected(settings):
    with pytest.raises(AuthenticationError, match="HS256"):
        TokenVerifier(settings).verify(hs256_with_public_key(settings, claims(settings)))


def test_hmac_token_keyed_with_the_public_key_is_rejected_even_when_hs256_is_enabled(settings):
    verifier = TokenVerifier(replace(settings, hs256_secret=HS256_SECRET))
    with pytest.raises(AuthenticationError, match="signature does not verify"):
        verifier.verify(hs256_with_public_key(settings, claims(settings)))


def test_an_ec_key_id_does_not_verify_a_token_claiming_another_algorithm(settings):
    rotate_keys(settings, "ES256")
    ec_kid = json.loads(settings.jwks_path.read_text())["keys"][-1]["kid"]
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims(settings), rsa_key, algorithm="RS256", headers={"kid": ec_kid})
    with pytest.raises(AuthenticationError, match="does not match key"):
        TokenVerifier(settings).verify(token)


def test_hs256_development_tokens_are_accepted_only_when_enabled(settings):
    enabled = replace(settings, hs256_secret=HS256_SECRET)
    token = TokenMinter(enabled).mint("alice", "acme", hs256=True)
    assert TokenVerifier(enabled).verify(token).subject == "alice"
    with pytest.raises(AuthenticationError, match="HS256"):
        TokenVerifier(settings).verify(token)


def test_unknown_key_id_is_rejected(settings):
    with pytest.raises(AuthenticationError, match="not in the trusted key set"):
        TokenVerifier(settings).verify(sign(settings, claims(settings), kid="forged"))


def test_symmetric_keys_in_a_jwks_are_never_used(settings):
    published = json.loads(settings.jwks_path.read_text())
    published["keys"].append({"kty": "oct", "kid": "shared", "k": base64.urlsafe_b64encode(HS256_SECRET.encode()).decode()})
    settings.jwks_path.write_text(json.dumps(published))
    token = jwt.encode(claims(settings), HS256_SECRET, algorithm="HS256", headers={"kid": "shared"})
    with pytest.raises(AuthenticationError, match="HS256"):
        TokenVerifier(settings).verify(token)


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA"])
def test_ec_and_edwards_signing_keys_work_too(settings, algorithm):
    kid = rotate_keys(settings, algorithm)
    token = TokenMinter(settings).mint("alice", "acme")
    assert jwt.get_unverified_header(token) == {"alg": algorithm, "kid": kid, "typ": "JWT"}
    assert TokenVerifier(settings).verify(token).subject == "alice"


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


def test_rotation_signs_with_the_new_key_and_retirement_unpublishes_the_old_one(settings):
    verifier = TokenVerifier(settings)
    minter = TokenMinter(settings)
    old_token = minter.mint("alice", "acme")
    old_kid = minter.key_id

    new_kid = rotate_keys(settings)
    new_token = minter.mint("alice", "acme")
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid != old_kid
    assert verifier.verify(old_token).subject == verifier.verify(new_token).subject == "alice"

    assert retire_keys(settings) == [old_kid]
    assert verifier.verify(new_token).subject == "alice"
    with pytest.raises(AuthenticationError, match="not in the trusted key set"):
        verifier.verify(old_token)


def test_missing_claims_grant_no_clearance(settings):
    token = sign(settings, {k: v for k, v in claims(settings).items() if k not in ("clearance", "tenant")})
    principal = TokenVerifier(settings).verify(token)
    assert principal.clearance == 0 and principal.tenant == ""


def test_claims_are_read_by_name_by_dotted_path_and_by_namespaced_name():
    token_claims = {
        "realm_access": {"roles": ["auditor"]},
        "https://ragline.example/tenant": "acme",
        "groups": "eng",
        "tid": "0f1e",
    }
    assert read_claim(token_claims, "realm_access.roles") == ["auditor"]
    assert read_claim(token_claims, "https://ragline.example/tenant") == "acme"
    assert read_claim(token_claims, "tid") == "0f1e"
    assert read_claim(token_claims, "realm_access.groups") is None
    assert read_claim(token_claims, "groups.name") is None


@pytest.mark.parametrize(
    "names, payload",
    [
        # Keycloak: roles nested under realm_access, tenant from a mapper.
        (ClaimNames(roles="realm_access.roles"), {"tenant": "acme", "groups": ["/eng"], "realm_access": {"roles": ["auditor"]}}),
        # Entra ID: the directory id as tenant, group object ids, app roles in "roles".
        (ClaimNames(tenant="tid"), {"tid": "acme", "groups": ["/eng"], "roles": ["auditor"]}),
        # A single group as a string, a namespaced tenant claim (Auth0-style).
        (ClaimNames(tenant="https://ragline.example/tenant"), {"https://ragline.example/tenant": "acme", "groups": "/eng", "roles": "auditor"}),
    ],
)
def test_identity_providers_claims_map_to_the_principal(settings, names, payload):
    configured = replace(settings, claims=names)
    token = sign(configured, {**{k: v for k, v in claims(settings).items() if k not in ("tenant", "groups")}, **payload})
    principal = TokenVerifier(configured).verify(token)
    assert (principal.tenant, principal.groups, principal.roles) == ("acme", ("/eng",), ("auditor",))


def test_the_minter_writes_the_configured_claim_names(settings):
    configured = replace(settings, claims=ClaimNames(tenant="tid", roles="realm_access.roles"))
    token = TokenMinter(configured).mint("alice", "acme", ("eng",), roles=("auditor",))
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["tid"] == "acme" and payload["realm_access"] == {"roles": ["auditor"]}
    assert TokenVerifier(configured).verify(token).roles == ("auditor",)


def test_a_service_token_is_accepted_only_by_the_service_it_names(settings):
    token = TokenMinter(settings).mint_service_token("generation", "ragline.retrieval").token
    assert TokenVerifier(service_settings(settings, "retrieval")).verify(token).subject == "service:generation"
    with pytest.raises(AuthenticationError, match="audience"):
        TokenVerifier(service_settings(settings, "guardrail")).verify(token)


def test_a_user_token_for_the_platform_audience_is_accepted_by_every_service(settings):
    token = TokenMinter(settings).mint("alice", "acme")
    for service in ("generation", "retrieval", "audit"):
        assert TokenVerifier(service_settings(settings, service)).verify(token).subject == "alice"


def test_a_platform_audience_does_not_make_a_service_token_valid_everywhere(settings):
    token = TokenMinter(settings).mint_service_token("generation", "ragline").token
    with pytest.raises(AuthenticationError, match="audience"):
        TokenVerifier(service_settings(settings, "retrieval")).verify(token)


ALICE = Principal("alice", "acme", ("eng",), common_pb2.SENSITIVITY_CONFIDENTIAL, ("auditor",))


def relayed_call(settings: TokenSettings, service: str = "generation", audience: str = "ragline.retrieval") -> tuple[str, str]:
    minter = TokenMinter(settings)
    issued = minter.mint_service_token(service, audience)
    return issued.token, minter.relay(ALICE, f"service:{service}", issued.jti, audience)


def test_a_trusted_service_relays_the_users_principal(settings):
    verifier = TokenVerifier(service_settings(settings, "retrieval"))
    assert verifier.authenticate(*relayed_call(settings)) == Caller(ALICE, "generation")


def test_without_a_relay_a_service_acts_as_itself(settings):
    verifier = TokenVerifier(service_settings(settings, "retrieval"))
    token, _ = relayed_call(settings)
    caller = verifier.authenticate(token)
    assert caller.principal.is_service and caller.principal.tenant == "" and caller.service == ""


def test_a_user_cannot_relay_a_principal(settings):
    verifier = TokenVerifier(service_settings(settings, "retrieval"))
    _, relay = relayed_call(settings)
    with pytest.raises(AccessDenied, match="only Ragline services may relay"):
        verifier.authenticate(TokenMinter(settings).mint("mallory", "acme"), relay)


def test_an_untrusted_service_cannot_relay_a_principal(settings):
    verifier = TokenVerifier(replace(service_settings(settings, "retrieval"), trusted_services=("generation",)))
    with pytest.raises(AccessDenied, match="not trusted to relay"):
        verifier.authenticate(*relayed_call(settings, service="connector"))


def test_a_relay_signed_by_an_unknown_key_is_rejected(settings, tmp_path):
    verifier = TokenVerifier(service_settings(settings, "retrieval"))
    token, _ = relayed_call(settings)
    service_jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    forger = replace(settings, signing_key_path=tmp_path / "forger.pem", jwks_path=tmp_path / "forger.json")
    init_keys(forger)
    forged = TokenMinter(forger).relay(replace(ALICE, clearance=common_pb2.SENSITIVITY_RESTRICTED), "service:generation", service_jti, "ragline.retrieval")
    with pytest.raises(AuthenticationError, match="relayed principal rejected: token key id"):
        verifier.authenticate(token, forged)


def test_a_relay_bound_to_another_service_token_is_rejected(settings):
    verifier = TokenVerifier(service_settings(settings, "retrieval"))
    token, _ = relayed_call(settings)
    _, other_relay = relayed_call(settings)
    with pytest.raises(AuthenticationError, match="bound to another service token"):
        verifier.authenticate(token, other_relay)


def test_a_relay_for_another_callee_is_rejected(settings):
    verifier = TokenVerifier(service_settings(settings, "retrieval"))
    minter = TokenMinter(settings)
    issued = minter.mint_service_token("generation", "ragline.retrieval")
    relay = minter.relay(ALICE, "service:generation", issued.jti, "ragline.guardrail")
    with pytest.raises(AuthenticationError, match="relayed principal rejected: token audience"):
        verifier.authenticate(issued.token, relay)


def test_a_relay_is_reused_only_for_the_same_user_service_token_and_callee(settings):
    minter = TokenMinter(settings)
    issued = minter.mint_service_token("generation", "ragline.retrieval")
    relay = minter.relay(ALICE, "service:generation", issued.jti, "ragline.retrieval")
    assert minter.relay(ALICE, "service:generation", issued.jti, "ragline.retrieval") == relay

    cleared = replace(ALICE, clearance=common_pb2.SENSITIVITY_RESTRICTED)
    others = {
        minter.relay(cleared, "service:generation", issued.jti, "ragline.retrieval"),
        minter.relay(ALICE, "service:generation", minter.mint_service_token("generation", "ragline.retrieval").jti, "ragline.retrieval"),
        minter.relay(ALICE, "service:generation", issued.jti, "ragline.guardrail"),
    }
    assert relay not in others and len(others) == 3
    verifier = TokenVerifier(service_settings(settings, "retrieval"))
    relayed = minter.relay(cleared, "service:generation", issued.jti, "ragline.retrieval")
    assert verifier.authenticate(issued.token, relayed).principal == cleared


def test_a_call_verified_before_is_refused_once_its_key_is_retired(settings):
    verifier = TokenVerifier(service_settings(settings, "retrieval"))
    token, relay = relayed_call(settings)
    assert verifier.authenticate(token, relay) == Caller(ALICE, "generation")

    rotate_keys(settings)
    assert verifier.authenticate(token, relay) == Caller(ALICE, "generation")
    retire_keys(settings)
    with pytest.raises(AuthenticationError, match="not in the trusted key set"):
        verifier.authenticate(token, relay)


def test_a_call_verified_before_is_refused_once_its_token_expires(settings):
    settings = replace(settings, leeway_s=0)
    verifier = TokenVerifier(settings)
    token = TokenMinter(settings).mint("alice", "acme", ttl_s=1)
    assert verifier.authenticate(token).principal.subject == "alice"
    time.sleep(2.1)
    with pytest.raises(AuthenticationError, match="expired"):
        verifier.authenticate(token)


def test_an_altered_copy_of_a_verified_token_is_verified_afresh_and_rejected(settings):
    verifier = TokenVerifier(settings)
    token = TokenMinter(settings).mint("alice", "acme")
    verifier.authenticate(token)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["clearance"] = "restricted"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(AuthenticationError, match="signature does not verify"):
        verifier.authenticate(f"{header}.{forged_payload}.{signature}")


def test_a_relay_is_not_a_bearer_token_nor_a_bearer_token_a_relay(settings):
    verifier = TokenVerifier(service_settings(settings, "retrieval"))
    token, relay = relayed_call(settings)
    with pytest.raises(AuthenticationError, match="not a bearer token"):
        verifier.authenticate(relay)
    with pytest.raises(AuthenticationError, match=re.escape(f"not '{RELAY_TYPE}'")):
        verifier.authenticate(token, token)


def env_for(monkeypatch, tmp_path, **variables: str) -> None:
    monkeypatch.setenv("RAGLINE_DATA_DIR", str(tmp_path))
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def test_settings_give_each_service_its_own_audience_and_accept_the_platform_audience(monkeypatch, tmp_path):
    env_for(monkeypatch, tmp_path, RAGLINE_RETRIEVAL_AUDIENCE="api://ragline-retrieval")
    assert TokenSettings.from_env("retrieval").audience == "api://ragline-retrieval"
    assert TokenSettings.from_env("guardrail").audience == "ragline.guardrail"
    assert TokenSettings.from_env("guardrail").user_audiences == ("ragline",)
    assert TokenSettings.from_env().audience == "ragline"


@pytest.mark.parametrize(
    "variables, message",
    [
        ({"RAGLINE_TOKEN_HS256_SECRET": HS256_SECRET}, "HS256 is off"),
        ({"RAGLINE_TOKEN_ALLOW_HS256": "true", "RAGLINE_TOKEN_HS256_SECRET": "short"}, "fewer than 32 bytes"),
        ({"RAGLINE_JWKS_URL": "http://idp.example/keys"}, "must be an https"),
        ({"RAGLINE_SERVICE_TOKEN_ISSUER": "https://ragline.local/dev-issuer"}, "need their own issuer"),
        ({"RAGLINE_SERVICE_TOKEN_TTL_S": "1000"}, "exceeds RAGLINE_TOKEN_MAX_LIFETIME_S"),
    ],
)
def test_unsafe_settings_stop_the_service_at_start(monkeypatch, tmp_path, variables, message):
    env_for(monkeypatch, tmp_path, **variables)
    with pytest.raises(ConfigError, match=message):
        TokenSettings.from_env("generation")


def run_cli(*argv: str) -> None:
    parser = argparse.ArgumentParser()
    tokens.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    assert args.func(args) == 0


def test_the_cli_creates_rotates_and_retires_keys_and_mints_tokens_with_roles_and_audiences(monkeypatch, tmp_path, capsys):
    env_for(monkeypatch, tmp_path)
    run_cli("keys", "init", "--algorithm", "ES256")
    run_cli("token", "--user", "ann", "--tenant", "acme", "--roles", "auditor", "--audience", "ragline.audit")
    first = capsys.readouterr().out.strip().splitlines()[-1]
    run_cli("keys", "rotate")
    run_cli("keys", "retire")
    run_cli("token", "--user", "ann", "--tenant", "acme")
    second = capsys.readouterr().out.strip().splitlines()[-1]

    audit = TokenVerifier(TokenSettings.from_env("audit"))
    with pytest.raises(AuthenticationError, match="not in the trusted key set"):
        audit.verify(first)
    assert jwt.get_unverified_header(second)["alg"] == "RS256"
    assert audit.verify(second).subject == "ann"
    assert jwt.decode(first, options={"verify_signature": False})["aud"] == ["ragline.audit"]


def test_an_es256_key_signs_service_tokens(settings):
    rotate_keys(settings, "ES256")
    token = TokenMinter(settings).mint_service_token("ingest", "ragline").token
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    assert TokenVerifier(settings).verify(token).subject == "service:ingest"
