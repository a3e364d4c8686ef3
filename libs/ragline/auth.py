"""Bearer-token authentication for every gRPC call, and the principal whose rights apply.

Two kinds of token reach a service (docs/adr/0003):

- user tokens, from the configured issuer (an OIDC provider, or the local
  development key): the end user's principal comes from their claims, under
  configurable claim names;
- service tokens, which Ragline services mint for each other with their own
  key, issuer and one audience per callee. A service calling on a user's
  behalf adds the user's principal in a signed relay (`x-ragline-principal`),
  bound to its service token; the callee trusts the relay only from a trusted
  service.

Keys come from JWKS documents (a file, re-read when it changes, or an HTTPS
URL, cached and re-fetched on an unknown key id), so keys rotate without a
restart. Access is decided from verified claims only, never from request fields.
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import json
import logging
import os
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ragline.config import DEFAULT_PORTS, ConfigError, data_dir, env_bool, env_int, env_str
from ragline.v1 import common_pb2

log = logging.getLogger(__name__)

ALGORITHMS = ["RS256", "ES256", "EdDSA"]
CLEARANCES = {
    "public": common_pb2.SENSITIVITY_PUBLIC,
    "internal": common_pb2.SENSITIVITY_INTERNAL,
    "confidential": common_pb2.SENSITIVITY_CONFIDENTIAL,
    "restricted": common_pb2.SENSITIVITY_RESTRICTED,
}
SERVICE_PREFIX = "service:"
RELAY_HEADER = "x-ragline-principal"
# Explicit typing (RFC 8725 3.11): a relay is never accepted as a bearer token, nor the reverse.
RELAY_TYPE = "ragline-principal+jwt"
RELAY_TTL_S = 60
DEFAULT_SERVICE_ISSUER = "urn:ragline:services"
HS256_MIN_SECRET_BYTES = 32
_JWKS_MAX_BYTES = 1 << 20
# Verified calls and signed relays kept for reuse (each well under 2 KB).
_CACHED_TOKENS = 4096
# A relay is reused while at least this much of its lifetime is left, so it never expires in flight.
_RELAY_REUSE_S = RELAY_TTL_S // 2
_KEY_TYPES = {"RSA": "RS256", "EC": "ES256", "OKP": "EdDSA"}


class AuthenticationError(Exception):
    """The token is missing or cannot be trusted (UNAUTHENTICATED); the message says why."""


class AccessDenied(Exception):
    """The token is valid but may not do this (PERMISSION_DENIED); the message says why."""

    def __init__(self, message: str, principal: "Principal"):
        super().__init__(message)
        self.principal = principal


class KeySetUnavailable(Exception):
    """The issuer's keys cannot be fetched, so no token of it can be checked now (UNAVAILABLE)."""


class _Recent:
    """A bounded, thread-safe map that forgets the least recently used entry first."""

    def __init__(self, size: int):
        self._size = size
        self._entries: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)


@dataclass(frozen=True)
class Principal:
    subject: str
    tenant: str
    groups: tuple[str, ...]
    # Highest Sensitivity value this principal may read; 0 reads nothing.
    clearance: int
    roles: tuple[str, ...] = ()

    @property
    def is_service(self) -> bool:
        return self.subject.startswith(SERVICE_PREFIX)


@dataclass(frozen=True)
class Caller:
    """Who made a call: the principal whose rights apply, and the Ragline
    service that relayed it ("" when the principal called directly)."""

    principal: Principal
    service: str = ""


@dataclass(frozen=True)
class ClaimNames:
    """Where a user token keeps the principal's attributes: a claim name, or a
    dotted path into nested claims (Keycloak's `realm_access.roles`). A name
    containing `://` (a namespaced claim) is always taken literally."""

    tenant: str = "tenant"
    groups: str = "groups"
    clearance: str = "clearance"
    roles: str = "roles"

    @classmethod
    def from_env(cls) -> "ClaimNames":
        return cls(
            tenant=env_str("RAGLINE_CLAIM_TENANT", "tenant"),
            groups=env_str("RAGLINE_CLAIM_GROUPS", "groups"),
            clearance=env_str("RAGLINE_CLAIM_CLEARANCE", "clearance"),
            roles=env_str("RAGLINE_CLAIM_ROLES", "roles"),
        )


def read_claim(claims: Mapping[str, Any], name: str) -> Any:
    if name in claims or "://" in name:
        return claims.get(name)
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _write_claim(claims: dict[str, Any], name: str, value: Any) -> None:
    parts = [name] if "://" in name else name.split(".")
    for part in parts[:-1]:
        claims = claims.setdefault(part, {})
    claims[parts[-1]] = value


def _string(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, (list, tuple)):
        return tuple(str(item) for item in value if isinstance(item, (str, int)))
    return ()


def _clearance(value: Any) -> int:
    return CLEARANCES.get(str(value).lower(), 0) if isinstance(value, str) else 0


def _clearance_name(level: int) -> str:
    return next((name for name, value in CLEARANCES.items() if value == level), "")


def service_audience(service: str) -> str:
    """The audience of a Ragline service: every token it accepts must name it."""
    return env_str(f"RAGLINE_{service.upper()}_AUDIENCE", f"ragline.{service}")


def all_service_audiences() -> tuple[str, ...]:
    return tuple(service_audience(service) for service in DEFAULT_PORTS)


@dataclass(frozen=True)
class TokenSettings:
    issuer: str
    # The audience every token must name: a service's own (`ragline.<service>`),
    # or, outside a service, the platform audience of user tokens.
    audience: str
    jwks_path: Path
    signing_key_path: Path
    max_lifetime_s: int
    leeway_s: int
    # Further audiences accepted on user tokens only: the platform API's, for
    # issuers that give one audience to the whole platform (Entra ID, Okta).
    user_audiences: tuple[str, ...] = ()
    # User tokens' keys come from this HTTPS URL when set, else from jwks_path.
    jwks_url: str = ""
    jwks_refresh_s: int = 300
    jwks_min_refetch_s: int = 30
    service_issuer: str = DEFAULT_SERVICE_ISSUER
    # Services whose relayed principal is trusted.
    trusted_services: tuple[str, ...] = tuple(DEFAULT_PORTS)
    service_token_ttl_s: int = 300
    claims: ClaimNames = field(default_factory=ClaimNames)
    # Non-empty only when HS256 user tokens are enabled for development.
    hs256_secret: str = ""

    @classmethod
    def from_env(cls, service: str | None = None) -> "TokenSettings":
        """Settings of `service` (its audience), or, without one, of tools that
        mint user tokens for the platform audience."""
        keys = data_dir() / "keys"
        platform_audience = env_str("RAGLINE_TOKEN_AUDIENCE", "ragline")
        settings = cls(
            issuer=env_str("RAGLINE_TOKEN_ISSUER", "https://ragline.local/dev-issuer"),
            audience=service_audience(service) if service else platform_audience,
            jwks_path=Path(env_str("RAGLINE_JWKS_PATH", str(keys / "jwks.json"))),
            signing_key_path=Path(env_str("RAGLINE_SIGNING_KEY_PATH", str(keys / "signing-key.pem"))),
            max_lifetime_s=env_int("RAGLINE_TOKEN_MAX_LIFETIME_S", 900, minimum=1),
            leeway_s=env_int("RAGLINE_TOKEN_LEEWAY_S", 30, minimum=0, maximum=300),
            user_audiences=(platform_audience,),
            jwks_url=_jwks_url(),
            jwks_refresh_s=env_int("RAGLINE_JWKS_REFRESH_S", 300, minimum=1),
            jwks_min_refetch_s=env_int("RAGLINE_JWKS_MIN_REFETCH_S", 30, minimum=0),
            service_issuer=env_str("RAGLINE_SERVICE_TOKEN_ISSUER", DEFAULT_SERVICE_ISSUER),
            trusted_services=tuple(
                name.strip() for name in env_str("RAGLINE_TRUSTED_SERVICES", ",".join(DEFAULT_PORTS)).split(",") if name.strip()
            ),
            service_token_ttl_s=env_int("RAGLINE_SERVICE_TOKEN_TTL_S", 300, minimum=10),
            claims=ClaimNames.from_env(),
            hs256_secret=_hs256_secret(),
        )
        if settings.service_issuer == settings.issuer:
            raise ConfigError(
                "RAGLINE_SERVICE_TOKEN_ISSUER equals RAGLINE_TOKEN_ISSUER: service tokens need their own issuer, "
                "or a user token could pass for a service"
            )
        if settings.service_token_ttl_s > settings.max_lifetime_s:
            raise ConfigError(
                f"RAGLINE_SERVICE_TOKEN_TTL_S={settings.service_token_ttl_s} exceeds "
                f"RAGLINE_TOKEN_MAX_LIFETIME_S={settings.max_lifetime_s}: services would mint tokens nobody accepts"
            )
        return settings


def _jwks_url() -> str:
    url = env_str("RAGLINE_JWKS_URL", "")
    if not url:
        return ""
    parts = urllib.parse.urlsplit(url)
    # Keys fetched over plain HTTP could be swapped on the way: HTTPS, except on loopback.
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")):
        raise ConfigError(f"RAGLINE_JWKS_URL={url!r} must be an https:// URL")
    return url


def _hs256_secret() -> str:
    allowed = env_bool("RAGLINE_TOKEN_ALLOW_HS256", False)
    secret = os.environ.get("RAGLINE_TOKEN_HS256_SECRET", "")
    if not allowed:
        if secret:
            raise ConfigError(
                "RAGLINE_TOKEN_HS256_SECRET is set but HS256 is off: set RAGLINE_TOKEN_ALLOW_HS256=true "
                "(development only) or remove the secret"
            )
        return ""
    if len(secret.encode()) < HS256_MIN_SECRET_BYTES:
        raise ConfigError(
            f"RAGLINE_TOKEN_ALLOW_HS256 is on but RAGLINE_TOKEN_HS256_SECRET has fewer than {HS256_MIN_SECRET_BYTES} bytes"
        )
    log.warning("HS256 user tokens are accepted: a development setting, never for production")
    return secret


def _usable_keys(document: Any) -> dict[str, jwt.PyJWK]:
    """The signing keys of a JWKS document, by key id. Symmetric and
    encryption keys are left out: a JWKS publishes public signing keys only."""
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document.get("keys", []) if isinstance(document, Mapping) else []:
        if not isinstance(entry, Mapping) or entry.get("kty") not in _KEY_TYPES or entry.get("use", "sig") != "sig":
            continue
        if not entry.get("kid"):
            continue
        try:
            key = jwt.PyJWK(dict(entry))
        except jwt.PyJWTError:
            continue
        if key.algorithm_name in ALGORITHMS:
            keys[str(entry["kid"])] = key
    return keys


class JwksFile:
    """A JWKS file, re-read when it is replaced or changed."""

    def __init__(self, path: Path):
        if not path.exists():
            raise AuthenticationError(
                f"no JWKS file at {path}: create one with `ragline keys init` or set RAGLINE_JWKS_PATH"
            )
        self.source = str(path)
        self._path = path
        self._lock = threading.Lock()
        self._version: tuple[int, int, int] | None = None
        self._keys: dict[str, jwt.PyJWK] = {}

    def get(self, kid: str) -> jwt.PyJWK | None:
        try:
            stat = self._path.stat()
        except OSError as error:
            raise KeySetUnavailable(f"cannot read the JWKS file {self._path}: {error.strerror}") from None
        version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if version != self._version:
                try:
                    self._keys = _usable_keys(json.loads(self._path.read_text()))
                    self._version = version
                except (OSError, ValueError) as error:
                    # Keep the keys read before: a half-written file must not lock everyone out.
                    log.warning("JWKS file unreadable", extra={"fields": {"path": str(self._path), "error": str(error)}})
            return self._keys.get(kid)


class JwksUrl:
    """An issuer's JWKS URL: cached, refreshed every `refresh_s`, re-fetched
    at once for an unknown key id (the issuer rotated), but at most once per
    `min_refetch_s` so that tokens with made-up key ids cannot flood the issuer."""

    def __init__(self, url: str, refresh_s: int, min_refetch_s: int, timeout_s: float = 5.0):
        self.source = url
        self._refresh_s = refresh_s
        self._min_refetch_s = min_refetch_s
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._error = ""

    def get(self, kid: str) -> jwt.PyJWK | None:
        now = time.monotonic()
        with self._lock:
            due = now - self._fetched_at >= self._refresh_s or kid not in self._keys
            fetch = due and now - self._attempted_at >= self._min_refetch_s
            if fetch:
                self._attempted_at = now
        if fetch:
            self._fetch()
        with self._lock:
            if not self._keys and self._error:
                raise KeySetUnavailable(f"cannot fetch the token issuer's keys from {self.source}: {self._error}")
            return self._keys.get(kid)

    def _fetch(self) -> None:
        request = urllib.request.Request(self.source, headers={"Accept": "application/json", "User-Agent": "ragline"})
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310 - scheme checked in settings
                keys = _usable_keys(json.loads(response.read(_JWKS_MAX_BYTES)))
        except (OSError, ValueError) as error:
            with self._lock:
                self._error = str(error)
            log.warning("JWKS fetch failed", extra={"fields": {"url": self.source, "error": str(error)}})
            return
        with self._lock:
            self._keys = keys
            self._fetched_at = time.monotonic()
            self._error = ""


@dataclass(frozen=True)
class _Signer:
    """The key that verified one token (`keys` None: the HS256 development secret), and the token's expiry."""

    keys: JwksFile | JwksUrl | None
    kid: str
    key: Any
    expires: float


@dataclass(frozen=True)
class _Verified:
    caller: Caller
    valid_until: float
    signers: tuple[_Signer, ...]

    def keys_still_trusted(self) -> bool:
        # A re-read key set holds new key objects: a rotated or retired key fails this at once.
        return all(signer.keys is None or signer.keys.get(signer.kid) is signer.key for signer in self.signers)


class TokenVerifier:
    def __init__(self, settings: TokenSettings):
        self._settings = settings
        self._service_keys = JwksFile(settings.jwks_path)
        self._user_keys: JwksFile | JwksUrl = (
            JwksUrl(settings.jwks_url, settings.jwks_refresh_s, settings.jwks_min_refetch_s)
            if settings.jwks_url
            else self._service_keys
        )
        self._verified = _Recent(_CACHED_TOKENS)

    def verify(self, token: str) -> Principal:
        """The principal of a bearer token (a user's, or a service's own)."""
        claims, is_service = self._bearer_claims(token, [])
        return self._service_principal(claims) if is_service else self._user_principal(claims)

    def authenticate(self, token: str, relay: str = "") -> Caller:
        """Who makes a call: the bearer token's principal, or, when a trusted
        service relays a user's principal bound to its token, that user.

        Tokens seen before and verified are not verified again (a service
        receives the same service token and relay on many calls): the answer is
        remembered until the first of them expires, and forgotten as soon as a
        key that signed them leaves its key set."""
        known: _Verified | None = self._verified.get((token, relay))
        if known is not None and time.time() <= known.valid_until and known.keys_still_trusted():
            return known.caller
        signers: list[_Signer] = []
        claims, is_service = self._bearer_claims(token, signers)
        if not relay:
            caller = Caller(self._service_principal(claims) if is_service else self._user_principal(claims))
        else:
            if not is_service:
                raise AccessDenied(
                    f"only Ragline services may relay a principal ({RELAY_HEADER}): call with your own token alone",
                    self._user_principal(claims),
                )
            service = str(claims["sub"])[len(SERVICE_PREFIX):]
            if service not in self._settings.trusted_services:
                raise AccessDenied(
                    f"service {service!r} is not trusted to relay principals: add it to RAGLINE_TRUSTED_SERVICES",
                    self._service_principal(claims),
                )
            caller = Caller(self._relayed_principal(relay, claims, signers), service)
        expires = min(signer.expires for signer in signers)
        self._verified.put((token, relay), _Verified(caller, expires + self._settings.leeway_s, tuple(signers)))
        return caller

    def _bearer_claims(self, token: str, signers: list[_Signer]) -> tuple[dict[str, Any], bool]:
        header, claims = self._unverified(token, "bearer token")
        if header.get("typ") == RELAY_TYPE:
            raise AuthenticationError(f"a relayed principal is not a bearer token: send it in {RELAY_HEADER}")
        issuer = claims.get("iss")
        if issuer == self._settings.service_issuer:
            verified = self._decode(token, header, self._service_keys, issuer, self._settings.audience, ["jti"], signers)
            if not str(verified["sub"]).startswith(SERVICE_PREFIX):
                raise AuthenticationError(f"a service token's subject must be '{SERVICE_PREFIX}<name>'")
            return verified, True
        if issuer != self._settings.issuer:
            raise AuthenticationError(
                f"token issuer {issuer!r} is not the trusted issuer {self._settings.issuer!r}: get a token from it"
            )
        audiences = [self._settings.audience, *(a for a in self._settings.user_audiences if a != self._settings.audience)]
        verified = self._decode(token, header, self._user_keys, issuer, audiences, [], signers, allow_hs256=True)
        if str(verified["sub"]).startswith(SERVICE_PREFIX):
            raise AuthenticationError(
                f"user tokens may not have a '{SERVICE_PREFIX}' subject: that prefix is reserved for Ragline services"
            )
        return verified, False

    def _relayed_principal(self, relay: str, service_claims: Mapping[str, Any], signers: list[_Signer]) -> Principal:
        try:
            header, _ = self._unverified(relay, "relayed principal")
            if header.get("typ") != RELAY_TYPE:
                raise AuthenticationError(f"its type is {header.get('typ')!r}, not {RELAY_TYPE!r}")
            claims = self._decode(
                relay,
                header,
                self._service_keys,
                self._settings.service_issuer,
                self._settings.audience,
                ["act", "service_jti"],
                signers,
            )
        except AuthenticationError as error:
            raise AuthenticationError(f"relayed principal rejected: {error}") from None
        actor = claims["act"].get("sub") if isinstance(claims["act"], Mapping) else None
        if actor != service_claims["sub"] or claims["service_jti"] != service_claims["jti"]:
            raise AuthenticationError("relayed principal rejected: it is bound to another service token")
        if str(claims["sub"]).startswith(SERVICE_PREFIX):
            raise AuthenticationError("relayed principal rejected: only a user's principal may be relayed")
        return Principal(
            subject=str(claims["sub"]),
            tenant=_string(claims.get("tenant")),
            groups=_strings(claims.get("groups")),
            clearance=_clearance(claims.get("clearance")),
            roles=_strings(claims.get("roles")),
        )

    @staticmethod
    def _unverified(token: str, what: str) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as error:
            raise AuthenticationError(f"malformed {what} ({error}): expected a signed JWT") from None
        return header, claims

    def _decode(
        self,
        token: str,
        header: Mapping[str, Any],
        keys: JwksFile | JwksUrl,
        issuer: str,
        audience: str | list[str],
        required: list[str],
        signers: list[_Signer],
        allow_hs256: bool = False,
    ) -> dict[str, Any]:
        """The verified claims; appends the key that signed them to `signers`."""
        algorithm = header.get("alg")
        signer_keys: JwksFile | JwksUrl | None = None
        kid = ""
        if algorithm == "HS256" and allow_hs256 and self._settings.hs256_secret:
            key: Any = self._settings.hs256_secret
        elif algorithm not in ALGORITHMS:
            hint = " (HS256 only for development, with RAGLINE_TOKEN_ALLOW_HS256)" if algorithm == "HS256" else ""
            raise AuthenticationError(
                f"token algorithm {algorithm!r} is not accepted: use one of {', '.join(ALGORITHMS)}{hint}"
            )
        else:
            kid = str(header.get("kid") or "")
            jwk = keys.get(kid) if kid else None
            if jwk is None:
                raise AuthenticationError(f"token key id {header.get('kid')!r} is not in the trusted key set ({keys.source})")
            if jwk.algorithm_name != algorithm:
                raise AuthenticationError(f"token algorithm {algorithm} does not match key {kid!r} ({jwk.algorithm_name})")
            signer_keys, key = keys, jwk
        try:
            claims = jwt.decode(
                token,
                key.key if isinstance(key, jwt.PyJWK) else key,
                algorithms=[algorithm],
                audience=audience,
                issuer=issuer,
                leeway=self._settings.leeway_s,
                options={"require": ["exp", "iat", "sub", "iss", "aud", *required]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("token has expired: get a new one") from None
        except jwt.InvalidAudienceError:
            expected = audience if isinstance(audience, str) else " or ".join(repr(a) for a in audience)
            raise AuthenticationError(f"token audience is not {expected!r}: request a token for this service") from None
        except jwt.InvalidIssuerError:
            raise AuthenticationError(f"token issuer is not the trusted issuer {issuer!r}") from None
        except jwt.ImmatureSignatureError:
            raise AuthenticationError("token is not valid yet (nbf/iat in the future): check the issuer's clock") from None
        except jwt.InvalidSignatureError:
            raise AuthenticationError("token signature does not verify: it was altered or signed by another key") from None
        except jwt.MissingRequiredClaimError as error:
            raise AuthenticationError(f"token lacks the required claim {error.claim!r}") from None
        except jwt.PyJWTError as error:
            raise AuthenticationError(f"token rejected: {error}") from None
        lifetime = int(claims["exp"]) - int(claims["iat"])
        if lifetime > self._settings.max_lifetime_s:
            raise AuthenticationError(
                f"token lifetime of {lifetime}s exceeds the allowed {self._settings.max_lifetime_s}s: issue short-lived tokens"
            )
        signers.append(_Signer(signer_keys, kid, key, float(claims["exp"])))
        return claims

    def _user_principal(self, claims: Mapping[str, Any]) -> Principal:
        names = self._settings.claims
        return Principal(
            subject=str(claims["sub"]),
            tenant=_string(read_claim(claims, names.tenant)),
            groups=_strings(read_claim(claims, names.groups)),
            clearance=_clearance(read_claim(claims, names.clearance)),
            roles=_strings(read_claim(claims, names.roles)),
        )

    @staticmethod
    def _service_principal(claims: Mapping[str, Any]) -> Principal:
        return Principal(subject=str(claims["sub"]), tenant="", groups=(), clearance=0)


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: float
    key_id: str


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _public_jwk(private_key: Any) -> dict[str, Any]:
    """The public JWK of a signing key, with its RFC 7638 thumbprint as key id."""
    algorithm = _algorithm_of(private_key)
    converter = {"RS256": jwt.algorithms.RSAAlgorithm, "ES256": jwt.algorithms.ECAlgorithm, "EdDSA": jwt.algorithms.OKPAlgorithm}
    jwk = converter[algorithm].to_jwk(private_key.public_key(), as_dict=True)
    jwk.update({"kid": _thumbprint(jwk), "use": "sig", "alg": algorithm})
    return jwk


def _thumbprint(jwk: Mapping[str, Any]) -> str:
    members = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}[jwk["kty"]]
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def _algorithm_of(private_key: Any) -> str:
    if isinstance(private_key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(private_key.curve, ec.SECP256R1):
        return "ES256"
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    raise ConfigError(f"unsupported signing key type {type(private_key).__name__}: use RSA, EC P-256 or Ed25519")


class _SigningKey:
    """The local signing key and its key id in the JWKS, re-read when the key
    file changes, so a rotated key signs from then on without a restart."""

    def __init__(self, key_path: Path, jwks_path: Path):
        self._key_path = key_path
        self._jwks_path = jwks_path
        self._lock = threading.Lock()
        self._version: tuple[int, int, int] | None = None
        self._current: tuple[Any, str, str] = (None, "", "")

    def current(self) -> tuple[Any, str, str]:
        """(private key, algorithm, key id)."""
        stat = self._key_path.stat()
        version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if version != self._version:
                private_key = serialization.load_pem_private_key(self._key_path.read_bytes(), password=None)
                thumbprint = _thumbprint(_public_jwk(private_key))
                published = json.loads(self._jwks_path.read_text()).get("keys", [])
                kid = next((key["kid"] for key in published if key.get("kty") in _KEY_TYPES and _thumbprint(key) == thumbprint), None)
                if kid is None:
                    raise AuthenticationError(
                        f"the signing key {self._key_path} is not published in {self._jwks_path}: "
                        "run `ragline keys rotate` or restore the key set"
                    )
                self._current = (private_key, _algorithm_of(private_key), kid)
                self._version = version
            return self._current


class TokenMinter:
    """Signs short-lived tokens with the local key: service tokens and relays
    for service-to-service calls, and user tokens for development and the CLI."""

    def __init__(self, settings: TokenSettings):
        self._settings = settings
        self._signing_key = _SigningKey(settings.signing_key_path, settings.jwks_path)
        self._signing_key.current()
        self._relays = _Recent(_CACHED_TOKENS)

    @property
    def key_id(self) -> str:
        return self._signing_key.current()[2]

    def mint(
        self,
        subject: str,
        tenant: str,
        groups: tuple[str, ...] = (),
        clearance: str = "internal",
        ttl_s: int = 300,
        roles: tuple[str, ...] = (),
        audience: str | Sequence[str] | None = None,
        hs256: bool = False,
    ) -> str:
        """A user token under the configured claim names; a `service:<name>`
        subject gets a service token instead (service issuer, no user claims)."""
        audience = self._settings.audience if audience is None else audience
        if subject.startswith(SERVICE_PREFIX):
            return self.mint_service_token(subject[len(SERVICE_PREFIX):], audience, ttl_s).token
        claims = self._base_claims(self._settings.issuer, subject, audience, ttl_s)
        names = self._settings.claims
        _write_claim(claims, names.tenant, tenant)
        _write_claim(claims, names.groups, list(groups))
        _write_claim(claims, names.clearance, clearance)
        _write_claim(claims, names.roles, list(roles))
        if hs256:
            if not self._settings.hs256_secret:
                raise ConfigError("HS256 tokens need RAGLINE_TOKEN_ALLOW_HS256=true and RAGLINE_TOKEN_HS256_SECRET")
            return jwt.encode(claims, self._settings.hs256_secret, algorithm="HS256")
        return self._sign(claims, {})

    def mint_service_token(self, service: str, audience: str | Sequence[str], ttl_s: int | None = None) -> IssuedToken:
        ttl = self._settings.service_token_ttl_s if ttl_s is None else ttl_s
        claims = self._base_claims(self._settings.service_issuer, f"{SERVICE_PREFIX}{service}", audience, ttl)
        return IssuedToken(self._sign(claims, {}), claims["jti"], float(claims["exp"]), self.key_id)

    def relay(self, principal: Principal, actor: str, service_jti: str, audience: str | Sequence[str]) -> str:
        """The user's principal, signed for one callee and bound to the service token `service_jti`.

        The same relay serves the user's further calls with that service token
        while half its lifetime is left: signing is the costly part of a call."""
        key = (principal, actor, service_jti, audience if isinstance(audience, str) else tuple(audience))
        reusable: tuple[str, float] | None = self._relays.get(key)
        if reusable is not None and reusable[1] - time.time() >= _RELAY_REUSE_S:
            return reusable[0]
        claims = self._base_claims(self._settings.service_issuer, principal.subject, audience, RELAY_TTL_S)
        claims.update(
            {
                "tenant": principal.tenant,
                "groups": list(principal.groups),
                "clearance": _clearance_name(principal.clearance),
                "roles": list(principal.roles),
                "act": {"sub": actor},
                "service_jti": service_jti,
            }
        )
        relay = self._sign(claims, {"typ": RELAY_TYPE})
        self._relays.put(key, (relay, float(claims["exp"])))
        return relay

    def _base_claims(self, issuer: str, subject: str, audience: str | Sequence[str], ttl_s: int) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": issuer,
            "aud": audience if isinstance(audience, str) else list(audience),
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + min(ttl_s, self._settings.max_lifetime_s),
            "jti": uuid.uuid4().hex,
        }

    def _sign(self, claims: dict[str, Any], headers: dict[str, str]) -> str:
        private_key, algorithm, kid = self._signing_key.current()
        return jwt.encode(claims, private_key, algorithm=algorithm, headers={"kid": kid, **headers})


def _generate_key(algorithm: str) -> Any:
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ConfigError(f"unknown key algorithm {algorithm!r}: use one of {', '.join(ALGORITHMS)}")


def _write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace a file in one step: readers see the old or the new content, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    temporary.write_bytes(data)
    temporary.chmod(mode)
    os.replace(temporary, path)


def _published_keys(settings: TokenSettings) -> list[dict[str, Any]]:
    if not settings.jwks_path.exists():
        return []
    return list(json.loads(settings.jwks_path.read_text()).get("keys", []))


def _install_signing_key(settings: TokenSettings, private_key: Any, published: list[dict[str, Any]]) -> str:
    jwk = _public_jwk(private_key)
    # The key set first: by the time anyone signs with the new key, it is published.
    _write_atomically(settings.jwks_path, json.dumps({"keys": [*published, jwk]}, indent=2).encode())
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write_atomically(settings.signing_key_path, pem, 0o600)
    return jwk["kid"]


def init_keys(settings: TokenSettings, algorithm: str = "RS256") -> bool:
    """Create a development signing key and its JWKS file; False if they exist."""
    if settings.signing_key_path.exists() and settings.jwks_path.exists():
        return False
    _install_signing_key(settings, _generate_key(algorithm), [])
    return True


def rotate_keys(settings: TokenSettings, algorithm: str = "RS256") -> str:
    """Publish a new signing key beside the current ones and sign with it from
    now on; return its key id. Tokens of the old keys stay valid until
    `retire_keys` removes them."""
    return _install_signing_key(settings, _generate_key(algorithm), _published_keys(settings))


def retire_keys(settings: TokenSettings) -> list[str]:
    """Remove every published key but the current signing key; return the
    removed key ids. Run it once the longest token lifetime has passed since
    the rotation."""
    current = TokenMinter(settings).key_id
    published = _published_keys(settings)
    _write_atomically(
        settings.jwks_path, json.dumps({"keys": [key for key in published if key.get("kid") == current]}, indent=2).encode()
    )
    return [str(key.get("kid")) for key in published if key.get("kid") != current]


# The principal whose rights apply to the request being served.
current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("current_principal", default=None)
