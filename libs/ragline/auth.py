"""Bearer-token authentication for every gRPC call, and the caller's principal.

Tokens are JWTs signed with asymmetric keys published in a JWKS file; the file
is re-read when it changes, so keys rotate without a restart. Access is decided
from the verified claims only, never from request fields.
"""

from __future__ import annotations

import contextvars
import json
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ragline.config import data_dir, env_int, env_str
from ragline.v1 import common_pb2

ALGORITHMS = ["RS256", "ES256", "EdDSA"]
CLEARANCES = {
    "public": common_pb2.SENSITIVITY_PUBLIC,
    "internal": common_pb2.SENSITIVITY_INTERNAL,
    "confidential": common_pb2.SENSITIVITY_CONFIDENTIAL,
    "restricted": common_pb2.SENSITIVITY_RESTRICTED,
}


class AuthenticationError(Exception):
    """The token is missing or cannot be trusted; the message says why."""


@dataclass(frozen=True)
class Principal:
    subject: str
    tenant: str
    groups: tuple[str, ...]
    # Highest Sensitivity value this principal may read; 0 reads nothing.
    clearance: int

    @property
    def is_service(self) -> bool:
        return self.subject.startswith("service:")


@dataclass(frozen=True)
class TokenSettings:
    issuer: str
    audience: str
    jwks_path: Path
    signing_key_path: Path
    max_lifetime_s: int
    leeway_s: int

    @classmethod
    def from_env(cls) -> "TokenSettings":
        keys = data_dir() / "keys"
        return cls(
            issuer=env_str("RAGLINE_TOKEN_ISSUER", "https://ragline.local/dev-issuer"),
            audience=env_str("RAGLINE_TOKEN_AUDIENCE", "ragline"),
            jwks_path=Path(env_str("RAGLINE_JWKS_PATH", str(keys / "jwks.json"))),
            signing_key_path=Path(env_str("RAGLINE_SIGNING_KEY_PATH", str(keys / "signing-key.pem"))),
            max_lifetime_s=env_int("RAGLINE_TOKEN_MAX_LIFETIME_S", 900, minimum=1),
            leeway_s=env_int("RAGLINE_TOKEN_LEEWAY_S", 30, minimum=0, maximum=300),
        )


class TokenVerifier:
    def __init__(self, settings: TokenSettings):
        self._settings = settings
        self._lock = threading.Lock()
        self._loaded_mtime: float | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        if not settings.jwks_path.exists():
            raise AuthenticationError(
                f"no JWKS file at {settings.jwks_path}: create one with `ragline keys init` or set RAGLINE_JWKS_PATH"
            )

    def _current_keys(self) -> dict[str, jwt.PyJWK]:
        mtime = self._settings.jwks_path.stat().st_mtime
        with self._lock:
            if mtime != self._loaded_mtime:
                jwks = jwt.PyJWKSet.from_json(self._settings.jwks_path.read_text())
                self._keys = {key.key_id: key for key in jwks.keys if key.key_id}
                self._loaded_mtime = mtime
            return self._keys

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise AuthenticationError(f"malformed bearer token: {error}") from None
        if header.get("alg") not in ALGORITHMS:
            raise AuthenticationError(f"token algorithm {header.get('alg')!r} is not accepted (use one of {', '.join(ALGORITHMS)})")
        key = self._current_keys().get(header.get("kid", ""))
        if key is None:
            raise AuthenticationError(f"token key id {header.get('kid')!r} is not in the trusted key set")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[header["alg"]],
                audience=self._settings.audience,
                issuer=self._settings.issuer,
                leeway=self._settings.leeway_s,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("token has expired: get a new one") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError(f"token audience is not {self._settings.audience!r}: request a token for this service") from None
        except jwt.InvalidIssuerError:
            raise AuthenticationError(f"token issuer is not the trusted issuer {self._settings.issuer!r}") from None
        except jwt.ImmatureSignatureError:
            raise AuthenticationError("token is not valid yet (nbf/iat in the future): check the issuer's clock") from None
        except jwt.PyJWTError as error:
            raise AuthenticationError(f"token rejected: {error}") from None
        if claims["exp"] - claims["iat"] > self._settings.max_lifetime_s:
            raise AuthenticationError(
                f"token lifetime exceeds the allowed {self._settings.max_lifetime_s}s: issue short-lived tokens"
            )
        return Principal(
            subject=str(claims["sub"]),
            tenant=str(claims.get("tenant", "")),
            groups=tuple(str(group) for group in claims.get("groups", [])),
            clearance=CLEARANCES.get(str(claims.get("clearance", "")).lower(), 0),
        )


class TokenMinter:
    """Signs short-lived tokens with the local key: for development, the CLI,
    and service-to-service calls."""

    def __init__(self, settings: TokenSettings):
        self._settings = settings
        pem = settings.signing_key_path.read_bytes()
        self._key = serialization.load_pem_private_key(pem, password=None)
        self._kid = json.loads(settings.jwks_path.read_text())["keys"][-1]["kid"]

    def mint(
        self, subject: str, tenant: str, groups: tuple[str, ...] = (), clearance: str = "internal", ttl_s: int = 300
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": self._settings.issuer,
            "aud": self._settings.audience,
            "sub": subject,
            "tenant": tenant,
            "groups": list(groups),
            "clearance": clearance,
            "iat": now,
            "nbf": now,
            "exp": now + min(ttl_s, self._settings.max_lifetime_s),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self._kid})


def init_keys(settings: TokenSettings) -> bool:
    """Create a development signing key and its JWKS file; False if they exist."""
    if settings.signing_key_path.exists() and settings.jwks_path.exists():
        return False
    settings.signing_key_path.parent.mkdir(parents=True, exist_ok=True)
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    settings.signing_key_path.write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    settings.signing_key_path.chmod(0o600)
    public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key()))
    public_jwk.update({"kid": uuid.uuid4().hex[:16], "use": "sig", "alg": "RS256"})
    settings.jwks_path.write_text(json.dumps({"keys": [public_jwk]}, indent=2))
    return True


# The verified principal of the request being served, and its raw token so
# that calls made on the caller's behalf carry the caller's identity.
current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("current_principal", default=None)
current_token: contextvars.ContextVar[str] = contextvars.ContextVar("current_token", default="")
