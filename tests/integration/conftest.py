from __future__ import annotations

import uuid
from typing import Iterator

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ragline.config import kafka_client_settings

_exporter = InMemorySpanExporter()


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    """Spans finished in this process (the SDK's own in-memory exporter)."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_exporter))
    trace.set_tracer_provider(provider)
    return _exporter


@pytest.fixture
def topic() -> Iterator[str]:
    """A fresh topic on the real broker, deleted afterwards."""
    name = f"ragline.test-{uuid.uuid4().hex[:10]}.v1"
    admin = AdminClient(kafka_client_settings())
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(30)
    yield name
    admin.delete_topics([name])[name].result(30)
