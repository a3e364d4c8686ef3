"""`ragline keys ...` and `ragline token`: development signing keys and tokens.

The keys are also the services' own: every service signs its service tokens
and relayed principals with the local signing key, and verifies them against
the local JWKS (docs/adr/0003).
"""

from __future__ import annotations

import argparse
import os

from ragline.auth import ALGORITHMS, CLEARANCES, TokenMinter, TokenSettings, init_keys, retire_keys, rotate_keys
from ragline.config import env_str


def cmd_keys_init(args: argparse.Namespace) -> int:
    settings = TokenSettings.from_env()
    created = init_keys(settings, args.algorithm)
    print(f"{'created' if created else 'kept'} signing key {settings.signing_key_path} and JWKS {settings.jwks_path}")
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    settings = TokenSettings.from_env()
    kid = rotate_keys(settings, args.algorithm)
    print(f"signing with the new key {kid}; the old keys stay published until `ragline keys retire`")
    return 0


def cmd_keys_retire(args: argparse.Namespace) -> int:
    retired = retire_keys(TokenSettings.from_env())
    print(f"retired {', '.join(retired)}" if retired else "nothing to retire: only the signing key is published")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    minter = TokenMinter(TokenSettings.from_env())
    audience = args.audience or None
    print(
        minter.mint(
            args.user, args.tenant, tuple(args.groups), args.clearance, args.ttl, tuple(args.roles), audience, args.hs256
        )
    )
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the `keys` and `token` commands to the `ragline` parser."""
    keys = commands.add_parser("keys", help="signing keys of the services and of development tokens").add_subparsers(
        dest="keys_command", required=True
    )
    init = keys.add_parser("init", help="create a signing key and JWKS file if missing")
    init.add_argument("--algorithm", default="RS256", choices=ALGORITHMS)
    init.set_defaults(func=cmd_keys_init)
    rotate = keys.add_parser("rotate", help="publish a new signing key and sign with it; old keys stay valid")
    rotate.add_argument("--algorithm", default="RS256", choices=ALGORITHMS)
    rotate.set_defaults(func=cmd_keys_rotate)
    keys.add_parser(
        "retire", help="unpublish every key but the signing key (once the longest token lifetime has passed)"
    ).set_defaults(func=cmd_keys_retire)

    token = commands.add_parser("token", help="mint a short-lived development user token")
    token.add_argument("--tenant", default=env_str("RAGLINE_TENANT", "northwind"))
    token.add_argument("--user", default=os.environ.get("USER", "developer") or "developer")
    token.add_argument("--groups", nargs="*", default=["all-staff"])
    token.add_argument("--clearance", default="internal", choices=list(CLEARANCES))
    token.add_argument("--roles", nargs="*", default=[], help="roles, e.g. auditor")
    token.add_argument(
        "--audience", action="append", help="audience (repeatable); default RAGLINE_TOKEN_AUDIENCE, which every service accepts"
    )
    token.add_argument("--ttl", type=int, default=300, help="lifetime in seconds (capped at RAGLINE_TOKEN_MAX_LIFETIME_S)")
    token.add_argument("--hs256", action="store_true", help="sign with RAGLINE_TOKEN_HS256_SECRET (development only)")
    token.set_defaults(func=cmd_token)
