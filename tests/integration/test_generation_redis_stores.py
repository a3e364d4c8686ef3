"""Prompt routing, the answer cache and the cost ledger against the real Redis at REDIS_URL."""

from __future__ import annotations

import threading
import uuid
from typing import Sequence

import pytest
import redis

from ragline.auth import Principal
from ragline.v1 import common_pb2, embedding_pb2, guardrail_pb2, retrieval_pb2
from services.generation.answer_cache import AnswerCache, index_generation_key
from services.generation.answer_policy import AnswerPolicies, AnswerPolicy
from services.generation.cost_ledger import CostLedger, known_tenants, read_usage
from services.generation.extractive import ExtractiveAnswerer
from services.generation.orchestrator import AnswerOrchestrator
from services.generation.pricing import OnPremisesPrice, PriceTable, TokenPrice
from services.generation.prompt_registry import FixedPrompt, PromptRegistry, PromptRouting, PromptRoutingStore
from services.generation.prompts import load_prompt
from services.generation.redis_connection import connect_redis

pytestmark = pytest.mark.integration


@pytest.fixture
def client() -> redis.Redis:
    connection = connect_redis()
    connection.ping()
    yield connection
    connection.close()


@pytest.fixture
def unreachable(monkeypatch) -> redis.Redis:
    """A client as the service makes it, to a port nothing listens on."""
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    return connect_redis()


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


# --- prompt routing -------------------------------------------------------------------------


@pytest.fixture
def prompt_id(tmp_path) -> tuple[str, object]:
    """A prompt of its own with three versions, so the test owns its routing key."""
    name = f"p{uuid.uuid4().hex[:8]}"
    source = load_prompt("answer@v1")
    for version in ("v1", "v2", "v3"):
        text = (source.system.template, source.user.template)
        (tmp_path / f"{name}.{version}.toml").write_text(
            f'id = "{name}"\nversion = "{version}"\n[messages]\nsystem = """\n{text[0]}\n"""\nuser = """\n{text[1]}\n"""\n'
        )
    return name, tmp_path


def principals(tenant: str, count: int = 400) -> list[Principal]:
    return [Principal(f"user:{n}", tenant, ("all-staff",), 2) for n in range(count)]


def test_a_split_set_at_run_time_is_served_by_every_replica_alike_and_stays_stable(client, tenant, prompt_id):
    name, directory = prompt_id
    store = PromptRoutingStore(client)
    replicas = [PromptRegistry(f"{name}@v1", PromptRoutingStore(connect_redis()), 0.0, directory) for _ in range(2)]
    callers = principals(tenant)
    assert {replicas[0].select(p).version for p in callers} == {"v1"}  # nothing in Redis: the default

    store.set(name, PromptRouting.split({"v1": 70, "v2": 30}), "ops@acme")

    first = [replicas[0].select(p).version for p in callers]
    assert first == [replicas[1].select(p).version for p in callers]
    assert first == [replicas[0].select(p).version for p in callers]
    assert 0.2 < first.count("v2") / len(callers) < 0.4


def test_a_rollback_through_redis_takes_effect_without_a_restart(client, tenant, prompt_id):
    name, directory = prompt_id
    store = PromptRoutingStore(client)
    registry = PromptRegistry(f"{name}@v1", store, 0.0, directory)
    store.set(name, PromptRouting.pinned("v3"), "ops@acme")
    assert {registry.select(p).ref for p in principals(tenant, 50)} == {f"{name}@v3"}

    store.set(name, PromptRouting.pinned("v2"), "oncall@acme")

    assert {registry.select(p).ref for p in principals(tenant, 50)} == {f"{name}@v2"}
    changes = store.changes(name)
    assert [(c["by"], c["routing"]) for c in changes] == [("oncall@acme", "pinned to v2"), ("ops@acme", "pinned to v3")]


def test_the_routing_is_reread_only_after_the_refresh_interval(client, tenant, prompt_id):
    name, directory = prompt_id
    store = PromptRoutingStore(client)
    registry = PromptRegistry(f"{name}@v1", store, 30.0, directory)
    alice = principals(tenant, 1)[0]
    assert registry.select(alice).version == "v1"

    store.set(name, PromptRouting.pinned("v2"), "ops")

    assert registry.select(alice).version == "v1"


def test_a_routing_naming_a_version_this_service_lacks_falls_back_to_the_default(client, tenant, prompt_id):
    name, directory = prompt_id
    client.set(f"ragline:prompts:{name}:routing", PromptRouting.pinned("v9").to_json())

    registry = PromptRegistry(f"{name}@v2", PromptRoutingStore(client), 0.0, directory)

    assert registry.select(principals(tenant, 1)[0]).version == "v2"


def test_when_redis_is_unreachable_the_last_routing_read_stays_in_force(client, unreachable, tenant, prompt_id):
    name, directory = prompt_id
    PromptRoutingStore(client).set(name, PromptRouting.pinned("v3"), "ops")
    registry = PromptRegistry(f"{name}@v1", PromptRoutingStore(client), 0.0, directory)
    alice = principals(tenant, 1)[0]
    assert registry.select(alice).version == "v3"

    registry._store = PromptRoutingStore(unreachable)

    assert registry.select(alice).version == "v3"


# --- answer cache -----------------------------------------------------------------------------


def hit(chunk_id: str, document_id: str, text: str) -> retrieval_pb2.SearchHit:
    return retrieval_pb2.SearchHit(
        chunk_id=chunk_id, document_id=document_id, text=text,
        provenance=common_pb2.Provenance(title=f"Title of {document_id}", source_uri=f"https://wiki/{document_id}",
                                         document_version=1),
    )


SALARY_BANDS = hit("c-hr", "d-salaries", "Salary bands for engineers are reviewed every April.")
PUBLIC_POLICY = hit("c-pub", "d-handbook", "Salary reviews happen once a year for all staff.")


class AllowAll:
    def screen_input(self, tenant, text):
        return guardrail_pb2.ScreenInputResponse(allowed=True, text=text)

    def screen_output(self, tenant, text, context):
        return guardrail_pb2.ScreenOutputResponse(allowed=True, text=text)


class AccessAwareIndex:
    """What each caller may read, as retrieval's filter would return it; counts the searches."""

    def __init__(self, readable: dict[str, list[retrieval_pb2.SearchHit]]):
        self.readable = readable
        self.searches: list[str] = []
        self.caller = ""

    def embed(self, text: str) -> embedding_pb2.EmbedResponse:
        return embedding_pb2.EmbedResponse(vectors=[embedding_pb2.Vector(values=[1.0])], model="m")

    def search(self, query_vector: Sequence[float], top_k: int) -> retrieval_pb2.SearchResponse:
        self.searches.append(self.caller)
        return retrieval_pb2.SearchResponse(hits=self.readable[self.caller], embedding_model="m")


class AuditLog:
    def __init__(self):
        self.records: list[dict] = []

    def record(self, action, tenant, principal, outcome, *, document_ids=(), chunk_ids=(), details=None):
        self.records.append(dict(outcome=outcome, chunk_ids=list(chunk_ids), details=dict(details or {})))


@pytest.fixture
def cached_flow(client, tenant):
    index = AccessAwareIndex({"user:hr": [SALARY_BANDS, PUBLIC_POLICY], "user:eng": [PUBLIC_POLICY]})
    audit = AuditLog()
    flow = AnswerOrchestrator(
        AllowAll(), index, index, ExtractiveAnswerer(), audit, FixedPrompt(load_prompt("answer@v2")),
        AnswerPolicies(AnswerPolicy()), cache=AnswerCache(client, ttl_s=60),
    )

    def ask(subject: str, question: str = "When are salary bands reviewed?", groups=("staff",), stream=False):
        index.caller = subject
        principal = Principal(subject, tenant, groups, 2)
        if stream:
            events = list(flow.stream(principal, question, 0))
            return [e.delta for e in events[:-1]], events[-1].final
        return flow.answer(principal, question, 0)

    return ask, index, audit


def test_the_same_question_in_the_same_scope_is_answered_from_the_cache(cached_flow):
    ask, index, audit = cached_flow

    first = ask("user:hr")
    again = ask("user:hr", "  when are SALARY bands reviewed ")
    deltas, streamed = ask("user:hr", stream=True)

    assert index.searches == ["user:hr"]
    assert again.text == streamed.text == "".join(deltas) == first.text
    assert [c.chunk_id for c in again.citations] == [c.chunk_id for c in first.citations] == ["c-hr"]
    assert len({first.answer_id, again.answer_id, streamed.answer_id}) == 3
    assert [r["details"]["cache"] for r in audit.records] == ["miss", "hit", "hit"]
    assert audit.records[1]["details"]["cached_answer_id"] == first.answer_id
    # The audit record of a cached answer still lists everything retrieved for it.
    assert audit.records[1]["chunk_ids"] == ["c-hr", "c-pub"]


def test_a_cached_answer_is_never_served_to_another_access_scope(cached_flow):
    ask, index, _ = cached_flow

    hr_answer = ask("user:hr")
    eng_answer = ask("user:eng")
    other_groups = ask("user:hr", groups=("staff", "contractors"))

    assert index.searches == ["user:hr", "user:eng", "user:hr"]
    assert "c-hr" in {c.chunk_id for c in hr_answer.citations}
    assert "c-hr" not in {c.chunk_id for c in eng_answer.citations}
    assert "April" not in eng_answer.text
    assert other_groups.answer_id != hr_answer.answer_id


def test_an_index_change_of_the_tenant_invalidates_its_cached_answers(cached_flow, client, tenant):
    ask, index, _ = cached_flow
    ask("user:hr")
    ask("user:hr")
    assert index.searches == ["user:hr"]

    # What retrieval does after every index change of the tenant.
    client.incr(index_generation_key(tenant))
    index.readable["user:hr"] = [PUBLIC_POLICY]
    after = ask("user:hr")

    assert index.searches == ["user:hr", "user:hr"]
    assert "c-hr" not in {c.chunk_id for c in after.citations}


def test_with_redis_down_answers_go_on_uncached(unreachable, tenant):
    index = AccessAwareIndex({"user:hr": [SALARY_BANDS]})
    index.caller = "user:hr"
    audit = AuditLog()
    flow = AnswerOrchestrator(
        AllowAll(), index, index, ExtractiveAnswerer(), audit, FixedPrompt(load_prompt("answer@v2")),
        AnswerPolicies(AnswerPolicy()), cache=AnswerCache(unreachable, ttl_s=60),
    )

    answers = [flow.answer(Principal("user:hr", tenant, (), 2), "When are salary bands reviewed?", 0) for _ in range(2)]

    assert all("April" in answer.text for answer in answers)
    assert index.searches == ["user:hr", "user:hr"]
    assert [r["details"]["cache"] for r in audit.records] == ["unavailable", "unavailable"]


def test_a_refusal_for_lack_of_passages_is_cached_until_the_index_changes(cached_flow, client, tenant):
    ask, index, _ = cached_flow
    index.readable["user:new"] = []

    assert ask("user:new").refused and ask("user:new").refused
    assert index.searches == ["user:new"]
    client.incr(index_generation_key(tenant))
    ask("user:new")
    assert index.searches == ["user:new", "user:new"]


# --- cost ledger ------------------------------------------------------------------------------


def test_concurrent_charges_add_up_exactly_per_tenant_principal_and_endpoint(client, tenant):
    prices = PriceTable("test-1", "USD", {"cloud-model": TokenPrice(1.0, 3.0)}, {"gpu": OnPremisesPrice(3.6, 100)})
    ledger = CostLedger(client, prices, {"cloud": "cloud-model", "onprem": "gpu", "mystery": "unknown"})
    assert ledger.unpriced_endpoints() == ["mystery"]

    def charge_many(subject: str, endpoint: str, model: str) -> None:
        for _ in range(50):
            ledger.charge(tenant, subject, endpoint, model, 1000, 100)

    threads = [threading.Thread(target=charge_many, args=args) for args in
               [("user:a", "cloud", "cm"), ("user:a", "cloud", "cm"), ("user:b", "onprem", "llama"), ("user:b", "mystery", "x")]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    usage = read_usage(client, tenant)
    # cloud: (1000 * 1 + 100 * 3) / 1e6 = 0.0013 a call; gpu: 100 tokens at 0.00001 = 0.001 a call.
    assert (usage.total.calls, usage.total.unpriced_calls) == (200, 50)
    assert usage.total.prompt_tokens == 200_000 and usage.total.completion_tokens == 20_000
    assert usage.total.cost == pytest.approx(100 * 0.0013 + 50 * 0.001)
    assert usage.endpoints["cloud/cm"].calls == 100 and usage.endpoints["onprem/llama"].cost == pytest.approx(0.05)
    assert [name for name, _ in usage.principals] == ["user:a", "user:b"]
    assert dict(usage.principals)["user:a"].cost == pytest.approx(0.13)
    assert tenant in known_tenants(client)


def test_a_charge_names_its_price_table_and_survives_redis_being_down(unreachable, tenant):
    prices = PriceTable("test-2", "EUR", {"m": TokenPrice(2.0, 2.0)}, {})

    charge = CostLedger(unreachable, prices, {"e": "m"}).charge(tenant, "user:a", "e", "m", 500, 500)

    assert charge.cost == pytest.approx(0.002)
    assert charge.details() == {"endpoint": "e", "cost": "0.002000", "currency": "EUR", "price_table": "test-2"}
