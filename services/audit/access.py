"""Who may read the audit log: a verified principal with the auditor role, for its own tenant only."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from ragline.auth import Principal
from ragline.config import env_str


class AccessDenied(Exception):
    """The caller may not read this audit log; the message says what to change."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class AuditorAccess:
    # The role a token's roles claim must contain (ragline.auth reads that claim, named by RAGLINE_CLAIM_ROLES).
    role: str = "auditor"

    @classmethod
    def from_env(cls) -> "AuditorAccess":
        return cls(env_str("RAGLINE_AUDIT_ROLE", "auditor"))

    def check(self, principal: Principal | None, tenant: str) -> Principal:
        """The principal, when it may read `tenant`'s audit log; AccessDenied otherwise."""
        if principal is None:
            raise AccessDenied(
                grpc.StatusCode.UNAUTHENTICATED, "no verified caller: send 'authorization: Bearer <jwt>'"
            )
        # A Principal without roles (an older ragline.auth) holds no role: the log stays closed.
        roles = tuple(getattr(principal, "roles", ()))
        if self.role not in roles:
            held = ", ".join(repr(role) for role in roles) or "none"
            raise AccessDenied(
                grpc.StatusCode.PERMISSION_DENIED,
                f"reading the audit log needs the {self.role!r} role; your token's roles are: {held}. "
                "Ask your identity provider's administrator to assign it",
            )
        if principal.tenant != tenant:
            raise AccessDenied(
                grpc.StatusCode.PERMISSION_DENIED,
                f"your token is for tenant {principal.tenant!r}: an auditor reads that tenant's audit log only, "
                f"not {tenant!r}",
            )
        return principal
