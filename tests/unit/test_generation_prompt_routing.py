"""Which prompt version a caller gets (the Redis side is in tests/integration/test_generation_redis_stores.py)."""

import pytest

from services.generation.prompt_registry import PromptRouting, assignment_bucket

CALLERS = [("acme", f"user:{n}") for n in range(4000)]


def versions(routing: PromptRouting) -> dict[tuple[str, str], str]:
    return {caller: routing.version_for("answer", *caller) for caller in CALLERS}


def test_a_pin_gives_everyone_the_same_version():
    assert set(versions(PromptRouting.pinned("v2")).values()) == {"v2"}


def test_a_split_follows_its_shares_and_gives_a_caller_the_same_version_every_time():
    routing = PromptRouting.split({"v1": 80, "v2": 20})

    first, again = versions(routing), versions(PromptRouting.from_json(routing.to_json()))

    assert first == again
    share = sum(version == "v2" for version in first.values()) / len(CALLERS)
    assert 0.17 < share < 0.23


def test_growing_a_split_only_moves_callers_to_the_version_that_grew():
    before = versions(PromptRouting.split({"v1": 90, "v2": 10}))
    after = versions(PromptRouting.split({"v2": 50, "v1": 50}))

    moved = {caller for caller in CALLERS if before[caller] != after[caller]}

    assert moved and all(after[caller] == "v2" for caller in moved)
    assert all(after[caller] == "v2" for caller in CALLERS if before[caller] == "v2")


def test_the_assignment_depends_on_tenant_and_prompt_but_not_on_anything_else():
    assert assignment_bucket("answer", "acme", "user:7") == assignment_bucket("answer", "acme", "user:7")
    buckets = {assignment_bucket("answer", "acme", "user:7"), assignment_bucket("answer", "globex", "user:7"),
               assignment_bucket("summary", "acme", "user:7")}
    assert len(buckets) == 3


@pytest.mark.parametrize(
    ("shares", "message"),
    [({"v1": 50, "v2": 40}, "add up to 100"), ({"v1": 120, "v2": -20}, "add up to 100"), ({"latest": 100}, "v<N>")],
)
def test_bad_splits_are_refused(shares, message):
    with pytest.raises(ValueError, match=message):
        PromptRouting.split(shares)


def test_a_routing_describes_itself_for_operators():
    assert PromptRouting.pinned("v3").describe() == "pinned to v3"
    assert PromptRouting.split({"v10": 25, "v9": 75}).describe() == "split v9 75%, v10 25%"
