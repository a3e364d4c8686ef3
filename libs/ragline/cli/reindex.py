"""`ragline reindex`: rebuild the index with a new embedding model or version, without downtime.

The command asks; the retrieval service does the work (docs/adr/0005). It
writes the request to Redis, where the retrieval service re-reads it, and
follows the progress the service writes beside it:

    ragline:reindex:<index>:request   {"request_id", "embedding_address", "requested_by", "requested_at"}
    ragline:reindex:<index>:status    {"request_id", "state", "collection", "model", "model_version",
                                       "documents", "copied", "message", "updated_at"}

The old index answers every search until the new one is complete; then the
index alias switches to the new collection and the old one is dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid

import grpc
import redis

from ragline.config import env_str
from ragline.rpc import CallCredentials, channel
from ragline.v1 import embedding_pb2, embedding_pb2_grpc

FINAL_STATES = ("done", "failed", "cancelled")


def _request_key(index: str) -> str:
    return f"ragline:reindex:{index}:request"


def _status_key(index: str) -> str:
    return f"ragline:reindex:{index}:status"


def _redis() -> redis.Redis:
    return redis.Redis.from_url(env_str("REDIS_URL", "redis://127.0.0.1:6379/0"), socket_connect_timeout=5, socket_timeout=5)


def _probe(address: str) -> embedding_pb2.EmbedResponse:
    """What the embedding service at `address` embeds with, so that a wrong address fails here."""
    with channel(address) as embedding:
        stub = embedding_pb2_grpc.EmbeddingServiceStub(embedding)
        request = embedding_pb2.EmbedRequest(texts=["Ragline re-index probe"])
        return stub.Embed(request, metadata=CallCredentials("ragline-cli").metadata("embedding"), timeout=30)


def _status(client: redis.Redis, index: str) -> dict | None:
    raw = client.get(_status_key(index))
    return json.loads(raw) if raw else None


def _describe(status: dict) -> str:
    progress = f" {status['copied']}/{status['documents']} documents" if status.get("documents") else ""
    model = f" {status['model']} {status['model_version']}".rstrip() if status.get("model") else ""
    return f"{status['state']}{progress}{model}: {status.get('message', '')}"


def cmd_reindex(args: argparse.Namespace) -> int:
    client = _redis()
    try:
        if args.status:
            status = _status(client, args.index)
            print(_describe(status) if status else f"no re-index of {args.index} recorded")
            return 0
        if args.cancel:
            client.delete(_request_key(args.index))
            print(f"re-index of {args.index} withdrawn; a rebuild in progress stops and the current index keeps serving")
            return 0
        if not args.embedding_addr:
            print("name the embedding service of the new model: --embedding-addr host:port", file=sys.stderr)
            return 2
        try:
            probe = _probe(args.embedding_addr)
        except grpc.RpcError as error:
            print(f"cannot embed with {args.embedding_addr}: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
        request_id = uuid.uuid4().hex
        client.set(
            _request_key(args.index),
            json.dumps(
                {
                    "request_id": request_id,
                    "embedding_address": args.embedding_addr,
                    "requested_by": os.environ.get("USER", ""),
                    "requested_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                }
            ),
        )
    except redis.RedisError as error:
        print(f"cannot reach Redis at REDIS_URL: {error}", file=sys.stderr)
        return 1
    print(f"re-index {request_id} of {args.index} requested: {probe.model} {probe.model_version} at {args.embedding_addr}")
    if args.no_wait:
        return 0
    return _follow(client, args.index, request_id, args.timeout)


def _follow(client: redis.Redis, index: str, request_id: str, timeout: float) -> int:
    """Print the retrieval service's progress until the re-index ends."""
    deadline = time.monotonic() + timeout
    shown = ""
    while time.monotonic() < deadline:
        try:
            status = _status(client, index)
        except redis.RedisError as error:
            status = None
            print(f"Redis: {error}", file=sys.stderr)
        if status and status.get("request_id") == request_id:
            line = _describe(status)
            if line != shown:
                print(line, flush=True)
                shown = line
            if status["state"] in FINAL_STATES:
                return 0 if status["state"] == "done" else 1
        time.sleep(1.0)
    print(f"still in progress after {timeout:.0f}s; follow it with `ragline reindex --status`", file=sys.stderr)
    return 1


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reindex",
        help="rebuild the index with a new embedding model or version, without downtime",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--embedding-addr", help="host:port of an embedding service running the new model or version")
    parser.add_argument(
        "--index",
        default=env_str("RAGLINE_MILVUS_COLLECTION", "ragline_chunks"),
        help="the index alias (RAGLINE_MILVUS_COLLECTION of the retrieval service)",
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to follow the progress")
    parser.add_argument("--no-wait", action="store_true", help="request it and return")
    actions = parser.add_mutually_exclusive_group()
    actions.add_argument("--status", action="store_true", help="print the progress of the latest re-index")
    actions.add_argument("--cancel", action="store_true", help="withdraw the request; the current index keeps serving")
    parser.set_defaults(func=cmd_reindex)
