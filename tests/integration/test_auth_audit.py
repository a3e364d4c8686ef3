"""Every authentication failure and rate-limit denial is an audit event on
the real `ragline.audit.v1` topic, with who (when known), method, reason and peer."""

from __future__ import annotations

import time
import uuid
from concurrent import futures
from dataclasses import replace
from typing import Iterator

import grpc
import pytest
from confluent_kafka import Consumer, TopicPartition

from ragline.auditing import AuditTrail
from ragline.auth import RELAY_HEADER, TokenMinter, TokenSettings, TokenVerifier, init_keys
from ragline.config import kafka_client_settings
from ragline.kafka import AUDIT, TOPICS, EventProducer
from ragline.ratelimit import LimitSettings, RequestLimiter
from ragline.rpc import PLATFORM_TENANT, AuthInterceptor
from ragline.v1 import audit_pb2

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(tmp_path) -> TokenSettings:
    settings = TokenSettings("https://issuer.test", "ragline", tmp_path / "jwks.json", tmp_path / "key.pem", 900, 5)
    init_keys(settings)
    return settings


@pytest.fixture
def audit_tail() -> Iterator[Consumer]:
    """A consumer of the audit topic positioned at its current end."""
    consumer = Consumer({**kafka_client_settings(), "group.id": f"test-{uuid.uuid4().hex}", "enable.auto.commit": False})
    partitions = []
    for partition in range(TOPICS[AUDIT]):
        _, end = consumer.get_watermark_offsets(TopicPartition(AUDIT, partition), timeout=10)
        partitions.append(TopicPartition(AUDIT, partition, end))
    consumer.assign(partitions)
    yield consumer
    consumer.close()


def events_of(consumer: Consumer, method: str, count: int, timeout: float = 30.0) -> list[audit_pb2.AuditEvent]:
    found: list[audit_pb2.AuditEvent] = []
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        event = audit_pb2.AuditEvent.FromString(message.value())
        if event.details.get("method") == method:
            found.append(event)
    return found


def test_denials_are_audited(settings, audit_tail):
    service = f"ragline.test.Probe{uuid.uuid4().hex[:8]}"
    method = f"{service}/Who"
    producer = EventProducer("test-auth-audit")
    limits = replace(LimitSettings.from_env(), methods=frozenset({method}), principal_per_minute=1, tenant_per_minute=0)
    interceptor = AuthInterceptor(TokenVerifier(settings), AuditTrail(producer, "probe"), RequestLimiter(limits.client(), limits))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), interceptors=[interceptor])
    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: b"ok")
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, {"Who": handler}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    token = TokenMinter(settings).mint("alice", tenant)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            who = channel.unary_unary(f"/{method}")
            codes = []
            bearer = ("authorization", f"Bearer {token}")
            for metadata in ([("authorization", "Bearer not-a-jwt")], [bearer], [bearer], [bearer, (RELAY_HEADER, "x")]):
                try:
                    who(b"", metadata=metadata, timeout=10)
                    codes.append(grpc.StatusCode.OK)
                except grpc.RpcError as error:
                    codes.append(error.code())
        producer.flush()
    finally:
        server.stop(None)
    assert codes == [
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.OK,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.PERMISSION_DENIED,
    ]

    events = {(event.action, event.details.get("reason", "")[:9]): event for event in events_of(audit_tail, method, 3)}
    denied = events["auth.denied", "malformed"]
    # Nothing about a caller with a bad token is trusted, its tenant least: the platform's log records it.
    assert (denied.header.tenant, denied.principal, denied.outcome) == (PLATFORM_TENANT, "", "denied")
    assert denied.details["reason"].startswith("malformed bearer token")
    assert denied.details["peer"].startswith("ipv")
    relayed = events["auth.denied", "only Ragl"]
    # A verified user who tried to relay a principal is on the record in their own tenant's log.
    assert (relayed.header.tenant, relayed.principal) == (tenant, "alice")
    limited = next(event for event in events.values() if event.action == "ratelimit.denied")
    assert (limited.header.tenant, limited.principal, limited.header.producer) == (tenant, "alice", "probe")
    assert limited.details["scope"] == "principal" and limited.details["limit"] == "1"
    assert 1 <= int(limited.details["retry_after_s"]) <= 60
