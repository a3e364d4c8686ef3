"""`ragline prompts`: which prompt version answers whom, changed at run time through Redis.

  ragline prompts show [answer]                     routing, versions, recent changes, satisfaction per version
  ragline prompts pin answer@v2                      everyone gets v2 (also how a version is rolled back)
  ragline prompts split answer@v1=90 answer@v2=10    A/B test: a stable 10% of callers get v2

The generation service picks a change up within RAGLINE_GENERATION_PROMPT_REFRESH_S
(1 s), without a restart. Versions are checked against the prompt files of
this checkout, which must be the one the service runs from.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys

from confluent_kafka import KafkaException

from ragline.auditing import AuditTrail
from ragline.kafka import EventProducer
from ragline.rpc import PLATFORM_TENANT
from services.generation.feedback import read_satisfaction, satisfaction_tenants
from services.generation.prompt_registry import PromptRouting, PromptRoutingStore
from services.generation.prompts import available_versions, load_prompt, parse_ref
from services.generation.redis_connection import connect_redis


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    prompts = subparsers.add_parser("prompts", help="show, pin or split prompt versions at run time")
    commands = prompts.add_subparsers(dest="prompts_command", required=True)

    show = commands.add_parser("show", help="routing, versions, recent changes and satisfaction per version")
    show.add_argument("prompt_id", nargs="?", default="answer")
    show.add_argument("--tenant", help="satisfaction of this tenant only (default: every tenant with ratings)")
    show.set_defaults(func=cmd_show)

    pin = commands.add_parser("pin", help="serve one version to everyone (a rollback is a pin)")
    pin.add_argument("ref", help="<id>@v<N>, e.g. answer@v2")
    pin.add_argument("--by", default=_operator(), help="who made the change, for the change log")
    pin.set_defaults(func=cmd_pin)

    split = commands.add_parser("split", help="A/B test: shares of callers per version, by a stable hash of the caller")
    split.add_argument("shares", nargs="+", help="<id>@v<N>=<percent>, adding up to 100, e.g. answer@v1=90 answer@v2=10")
    split.add_argument("--by", default=_operator(), help="who made the change, for the change log")
    split.set_defaults(func=cmd_split)


def _operator() -> str:
    return os.environ.get("USER", "") or "unknown"


def cmd_pin(args: argparse.Namespace) -> int:
    prompt_id, version = parse_ref(args.ref)
    return _apply(prompt_id, {version: 100}, args.by)


def cmd_split(args: argparse.Namespace) -> int:
    shares: dict[str, int] = {}
    prompt_ids = set()
    for item in args.shares:
        ref, _, share = item.partition("=")
        prompt_id, version = parse_ref(ref)
        if not share.isdigit():
            print(f"error: {item!r}: give each version a whole percent, e.g. {ref}=10", file=sys.stderr)
            return 2
        prompt_ids.add(prompt_id)
        shares[version] = int(share)
    if len(prompt_ids) != 1:
        print(f"error: a split is between versions of one prompt, got {sorted(prompt_ids)}", file=sys.stderr)
        return 2
    return _apply(prompt_ids.pop(), shares, args.by)


def _apply(prompt_id: str, shares: dict[str, int], changed_by: str) -> int:
    missing = sorted(set(shares) - set(available_versions(prompt_id)))
    if missing:
        have = ", ".join(available_versions(prompt_id)) or "none"
        print(f"error: {prompt_id} has no version {', '.join(missing)} in this checkout (it has: {have})", file=sys.stderr)
        return 2
    try:
        routing = PromptRouting.split(shares)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    PromptRoutingStore(connect_redis()).set(prompt_id, routing, changed_by)
    print(f"{prompt_id}: {routing.describe()} (taken up by the generation service within its refresh interval)")
    return _audit_change(prompt_id, routing.describe(), changed_by)


def _audit_change(prompt_id: str, routing: str, changed_by: str) -> int:
    """An admin change is an audit event, on the platform's own log."""
    producer = EventProducer("ragline-cli")
    AuditTrail(producer, "ragline-cli").record(
        "admin.prompt_routing", PLATFORM_TENANT, changed_by, "ok", details={"prompt_id": prompt_id, "routing": routing}
    )
    try:
        producer.flush(10.0)
    except KafkaException as error:
        print(f"warning: the change is live but its audit record was not delivered: {error}", file=sys.stderr)
        return 1
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    client = connect_redis()
    store = PromptRoutingStore(client)
    routing = store.get(args.prompt_id)
    print(f"{args.prompt_id}: {routing.describe() if routing else 'no routing set: the service default (RAGLINE_GENERATION_PROMPT)'}")
    print("\nversions:")
    for version in available_versions(args.prompt_id):
        print(f"  {version:<5} {load_prompt(f'{args.prompt_id}@{version}').description}")
    changes = store.changes(args.prompt_id)
    if changes:
        print("\nrecent changes:")
        for change in changes:
            when = datetime.datetime.fromtimestamp(change["at"], datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
            print(f"  {when}  {change['by']:<16} {change['routing']}")
    tenants = [args.tenant] if args.tenant else satisfaction_tenants(client)
    print("\nsatisfaction (ratings sent with Feedback):")
    rows = [(tenant, version, found) for tenant in tenants for version, found in read_satisfaction(client, tenant).items()
            if version.startswith(f"{args.prompt_id}@")]
    if not rows:
        print("  no ratings yet")
    for tenant, version, found in rows:
        share = f"{found.share_helpful:.0%}" if found.share_helpful is not None else "-"
        print(f"  {tenant:<20} {version:<14} helpful {found.helpful:>6}  not helpful {found.not_helpful:>6}  {share:>5} helpful")
    return 0
