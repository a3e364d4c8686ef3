"""`ragline prompts` and `ragline cost` against the real Redis at REDIS_URL."""

from __future__ import annotations

import argparse
import time
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition

from ragline.auth import Principal
from ragline.cli import cost, prompts
from ragline.config import kafka_client_settings
from ragline.kafka import AUDIT
from ragline.v1 import audit_pb2
from services.generation.cost_ledger import CostLedger
from services.generation.feedback import AnswerBook
from services.generation.pricing import PriceTable
from services.generation.prompt_registry import PromptRegistry, PromptRoutingStore, routing_key
from services.generation.redis_connection import connect_redis

pytestmark = pytest.mark.integration


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="ragline")
    commands = parser.add_subparsers(dest="command", required=True)
    prompts.add_parser(commands)
    cost.add_parser(commands)
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture
def client():
    connection = connect_redis()
    original = connection.get(routing_key("answer"))
    yield connection
    # The shipped prompt's routing is shared with anything else on this Redis: leave it as found.
    if original is None:
        connection.delete(routing_key("answer"))
    else:
        connection.set(routing_key("answer"), original)
    connection.close()


def test_pin_split_and_rollback_reach_a_running_registry(client, capsys):
    registry = PromptRegistry("answer@v1", PromptRoutingStore(client), refresh_s=0.0)
    callers = [Principal(f"user:{n}", "acme", (), 2) for n in range(200)]

    assert run("prompts", "split", "answer@v1=50", "answer@v2=50", "--by", "ops") == 0
    assert {registry.select(p).version for p in callers} == {"v1", "v2"}
    assert run("prompts", "pin", "answer@v1", "--by", "oncall") == 0
    assert {registry.select(p).version for p in callers} == {"v1"}

    assert run("prompts", "show") == 0
    shown = capsys.readouterr().out
    assert "answer: pinned to v1" in shown
    assert "oncall" in shown and "split v1 50%, v2 50%" in shown
    assert "v2    As answer@v1, with an explicit NO_ANSWER" in shown


def test_bad_changes_are_refused_and_leave_the_routing_alone(client, capsys):
    run("prompts", "pin", "answer@v1", "--by", "ops")

    assert run("prompts", "pin", "answer@v99") == 2
    assert run("prompts", "split", "answer@v1=60", "answer@v2=60") == 2
    assert run("prompts", "split", "answer@v1=50", "other@v2=50") == 2

    errors = capsys.readouterr().err
    assert "no version v99" in errors and "add up to 100" in errors and "one prompt" in errors
    assert PromptRoutingStore(client).get("answer").describe() == "pinned to v1"


def test_show_reports_satisfaction_per_prompt_version(client, capsys):
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    book = AnswerBook(client, window_s=600)
    for n, (version, rating) in enumerate([("answer@v1", "helpful"), ("answer@v1", "not_helpful"), ("answer@v2", "helpful")]):
        alice = Principal(f"user:{n}", tenant, (), 2)
        answer_id = uuid.uuid4().hex
        book.remember(alice, answer_id, version, "extractive")
        book.rate(alice, answer_id, rating)

    run("prompts", "show", "--tenant", tenant)

    lines = [line.split() for line in capsys.readouterr().out.splitlines() if line.strip().startswith(tenant)]
    assert lines == [
        [tenant, "answer@v1", "helpful", "1", "not", "helpful", "1", "50%", "helpful"],
        [tenant, "answer@v2", "helpful", "1", "not", "helpful", "0", "100%", "helpful"],
    ]


def test_cost_shows_the_totals_and_projects_a_traffic(client, capsys):
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    ledger = CostLedger(client, PriceTable.from_env(), {"cloud": "gpt-4.1-mini"})
    for subject in ("user:a", "user:a", "user:b"):
        ledger.charge(tenant, subject, "cloud", "gpt-4.1-mini", 2000, 500)

    assert run("cost", "--tenant", tenant) == 0
    shown = capsys.readouterr().out
    # (2000 * 0.40 + 500 * 1.60) / 1e6 = 0.0016 a call
    assert f"tenant {tenant}:        3 calls" in shown
    assert "0.0048 USD" in shown and "cloud/gpt-4.1-mini" in shown
    assert shown.index("user:a") < shown.index("user:b")

    assert run("cost", "project", "--requests-per-day", "50000", "--tenant", tenant, "--peak-factor", "2") == 0
    projected = capsys.readouterr().out
    assert "2,000 prompt + 500 completion tokens each (averages of 3 recorded calls)" in projected
    # 50,000 a day on gpt-4.1-mini: 50,000 * 730/24 * 0.0016
    assert f"{50_000 * 730 / 24 * 0.0016:,.2f} USD/month" in projected
    assert "on-premises" in projected and "server" in projected and "costs as much as" in projected


def test_a_routing_change_is_an_audit_event(client, capsys):
    consumer = Consumer({**kafka_client_settings(), "group.id": uuid.uuid4().hex, "enable.auto.commit": False})
    partitions = consumer.list_topics(AUDIT, timeout=10).topics[AUDIT].partitions
    consumer.assign(
        [TopicPartition(AUDIT, p, consumer.get_watermark_offsets(TopicPartition(AUDIT, p), timeout=10)[1]) for p in partitions]
    )
    operator = f"oncall-{uuid.uuid4().hex[:6]}"
    assert run("prompts", "pin", "answer@v1", "--by", operator) == 0

    deadline = time.monotonic() + 20
    found = None
    while found is None and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            event = audit_pb2.AuditEvent.FromString(message.value())
            if event.principal == operator:
                found = event
    consumer.close()
    assert found is not None, "no audit record of the routing change"
    assert found.action == "admin.prompt_routing" and found.header.tenant == "_platform"
    assert found.details["prompt_id"] == "answer" and "v1" in found.details["routing"]
