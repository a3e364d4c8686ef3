"""`ragline audit tail|verify|export`: read, check and export a tenant's audit log as an auditor."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timezone
from typing import Callable

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from ragline.auth import TokenMinter, TokenSettings
from ragline.config import env_str
from ragline.rpc import connect
from ragline.v1 import audit_pb2, audit_pb2_grpc


def _metadata(args: argparse.Namespace) -> list[tuple[str, str]]:
    """An auditor's token: RAGLINE_TOKEN (from your identity provider), else a development token from the local key."""
    token = os.environ.get("RAGLINE_TOKEN") or TokenMinter(TokenSettings.from_env()).mint(
        args.user, args.tenant, roles=(args.role,), ttl_s=300
    )
    return [("authorization", f"Bearer {token}")]


def _timestamp(text: str) -> Timestamp:
    """An ISO 8601 date or time; without a zone it is UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time, e.g. 2026-11-23T15:00:00Z") from None
    stamp = Timestamp()
    stamp.FromDatetime(moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc))
    return stamp


def _reporting_errors(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except grpc.RpcError as error:
            print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1

    return run


@_reporting_errors
def cmd_tail(args: argparse.Namespace) -> int:
    metadata = _metadata(args)
    with connect("audit") as channel:
        stub = audit_pb2_grpc.AuditServiceStub(channel)

        def page(after: int) -> list[audit_pb2.AuditRecord]:
            request = audit_pb2.QueryRequest(tenant=args.tenant, after_sequence=after, page_size=1000)
            return list(stub.Query(request, metadata=metadata, timeout=10).records)

        # Page to the end first: the log is read oldest first, the tail is what is wanted.
        latest: list[audit_pb2.AuditRecord] = []
        after = 0
        while records := page(after):
            latest = (latest + records)[-args.lines :]
            after = records[-1].sequence
        while True:
            for record in latest:
                event = record.event
                print(
                    f"#{record.sequence} {event.occurred_at.ToJsonString()} {event.action} {event.principal} "
                    f"{event.outcome} {','.join(event.document_ids)} trace={event.trace_id}"
                )
            if not args.follow:
                return 0
            time.sleep(1.0)
            latest = page(after)
            if latest:
                after = latest[-1].sequence


@_reporting_errors
def cmd_verify(args: argparse.Namespace) -> int:
    with connect("audit") as channel:
        stub = audit_pb2_grpc.AuditServiceStub(channel)
        result = stub.Verify(
            audit_pb2.VerifyRequest(tenant=args.tenant), metadata=_metadata(args), timeout=args.timeout
        )
    if result.intact:
        print(f"{args.tenant}: intact, {result.records} records, head {result.head_hash}")
        return 0
    print(
        f"{args.tenant}: BROKEN at record {result.first_broken_sequence} "
        f"({result.records} records verified before it): {result.problem}"
    )
    return 1


@_reporting_errors
def cmd_export(args: argparse.Namespace) -> int:
    request = audit_pb2.ExportRequest(tenant=args.tenant)
    if args.since:
        request.since.CopyFrom(args.since)
    if args.until:
        request.until.CopyFrom(args.until)
    output = open(args.output, "wb") if args.output else sys.stdout.buffer
    lines = 0
    try:
        with connect("audit") as channel:
            stub = audit_pb2_grpc.AuditServiceStub(channel)
            for message in stub.Export(request, metadata=_metadata(args), timeout=args.timeout):
                output.write(message.jsonl)
                lines += message.jsonl.count(b"\n")
    finally:
        if args.output:
            output.close()
    print(f"exported {lines} records of {args.tenant} to {args.output or 'stdout'}", file=sys.stderr)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    audit = subparsers.add_parser(
        "audit", help="read, verify and export the audit log (needs the auditor role)"
    ).add_subparsers(dest="audit_command", required=True)

    def command(name: str, help_text: str, func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        parser = audit.add_parser(name, help=help_text)
        parser.add_argument("--tenant", default=env_str("RAGLINE_TENANT", "northwind"))
        parser.add_argument(
            "--user", default=os.environ.get("USER", "auditor") or "auditor", help="development token subject"
        )
        parser.add_argument("--role", default="auditor", help="role put in a development token")
        parser.set_defaults(func=func)
        return parser

    tail = command("tail", "print the latest audit records", cmd_tail)
    tail.add_argument("-n", "--lines", type=int, default=20)
    tail.add_argument("-f", "--follow", action="store_true")

    verify = command("verify", "recompute the hash chain; exit 1 and name the first broken record", cmd_verify)
    verify.add_argument("--timeout", type=float, default=300.0)

    export = command("export", "write the records as JSON Lines (for a SIEM)", cmd_export)
    export.add_argument("--since", type=_timestamp, help="records that occurred at or after (ISO 8601, UTC if no zone)")
    export.add_argument("--until", type=_timestamp, help="records that occurred before")
    export.add_argument("-o", "--output", help="file to write (default: standard output)")
    export.add_argument("--timeout", type=float, default=3600.0)
