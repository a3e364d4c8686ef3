"""The access filter, evaluated by milvus-lite's own filter engine over rows in memory."""

from __future__ import annotations

import pyarrow as pa
import pytest
from milvus_lite import CollectionSchema, DataType, FieldSchema
from milvus_lite.search.filter import compile_filter, evaluate_mask

from ragline.auth import Principal
from ragline.v1 import common_pb2
from services.retrieval.access import AccessFilter, UnquotableValue, quote, quote_list, readers
from services.retrieval.rows import MAX_ACCESS_ENTRIES, MAX_ACCESS_ENTRY_BYTES, MAX_BYTES

PUBLIC, INTERNAL, CONFIDENTIAL, RESTRICTED = (
    common_pb2.SENSITIVITY_PUBLIC,
    common_pb2.SENSITIVITY_INTERNAL,
    common_pb2.SENSITIVITY_CONFIDENTIAL,
    common_pb2.SENSITIVITY_RESTRICTED,
)

SCHEMA = CollectionSchema(
    fields=[
        FieldSchema(name="chunk_id", dtype=DataType.VARCHAR, is_primary=True),
        FieldSchema(name="tenant", dtype=DataType.VARCHAR),
        FieldSchema(name="document_id", dtype=DataType.VARCHAR),
        FieldSchema(name="sensitivity", dtype=DataType.INT32),
        FieldSchema(name="access_users", dtype=DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=16),
        FieldSchema(name="access_groups", dtype=DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=16),
        FieldSchema(name="readers", dtype=DataType.VARCHAR),
        FieldSchema(name="vector", dtype=DataType.FLOAT_VECTOR, dim=2),
    ]
)


def row(chunk_id, tenant="acme", document_id="doc", sensitivity=INTERNAL, users=(), groups=()):
    return {
        "chunk_id": chunk_id,
        "tenant": tenant,
        "document_id": document_id,
        "sensitivity": sensitivity,
        "access_users": list(users),
        "access_groups": list(groups),
        "readers": readers(list(users), list(groups)),
    }


def readable(expression: str, rows: list[dict]) -> set[str]:
    """The chunk ids among `rows` that `expression` admits."""
    mask = evaluate_mask(compile_filter(expression, SCHEMA), pa.Table.from_pylist(rows))
    return {r["chunk_id"] for r, admitted in zip(rows, mask) if admitted}


def principal(subject="alice", tenant="acme", groups=("eng",), clearance=INTERNAL) -> Principal:
    return Principal(subject=subject, tenant=tenant, groups=tuple(groups), clearance=clearance)


ROWS = [
    row("by-user", users=["alice"]),
    row("by-group", groups=["eng"]),
    row("other-user", users=["bob"]),
    row("other-group", groups=["sales"]),
    row("no-access-list"),
    row("too-sensitive", sensitivity=CONFIDENTIAL, users=["alice"]),
    row("public", sensitivity=PUBLIC, groups=["eng"]),
    row("other-tenant", tenant="globex", users=["alice"], groups=["eng"]),
]


def test_reads_own_tenant_by_user_or_group_at_or_below_clearance():
    expression = AccessFilter.of(principal()).expression()
    assert readable(expression, ROWS) == {"by-user", "by-group", "public"}


def test_higher_clearance_reads_more_but_never_another_tenant():
    expression = AccessFilter.of(principal(clearance=RESTRICTED)).expression()
    assert readable(expression, ROWS) == {"by-user", "by-group", "public", "too-sensitive"}


def test_principal_without_groups_reads_by_user_only():
    expression = AccessFilter.of(principal(groups=())).expression()
    assert readable(expression, ROWS) == {"by-user"}


@pytest.mark.parametrize(
    "who",
    [
        None,
        principal(tenant=""),
        principal(subject=""),
        principal(clearance=0),
        principal(tenant="acme\n"),
        principal(subject="alice\x00"),
    ],
    ids=["no principal", "no tenant", "no subject", "no clearance", "control in tenant", "control in subject"],
)
def test_fails_closed(who):
    assert AccessFilter.of(who) is None


def test_empty_and_unquotable_groups_are_dropped_which_only_narrows():
    rows = [row("blank-group", groups=[""]), row("eng", groups=["eng"])]
    access = AccessFilter.of(principal(groups=("", "eng", "bad\x07")))
    assert access.groups == ("eng",)
    assert readable(access.expression(), rows) == {"eng"}


def test_narrowing_to_documents_never_widens():
    rows = [
        row("mine-a", document_id="a", users=["alice"]),
        row("mine-b", document_id="b", users=["alice"]),
        row("not-mine-c", document_id="c", users=["bob"]),
        row("other-tenant-a", tenant="globex", document_id="a", users=["alice"]),
    ]
    access = AccessFilter.of(principal())
    assert readable(access.expression(["a"]), rows) == {"mine-a"}
    assert readable(access.expression(["c"]), rows) == set()
    assert readable(access.expression(["a", "b", "c"]), rows) == {"mine-a", "mine-b"}
    assert readable(access.expression(), rows) == {"mine-a", "mine-b"}


def test_quotes_and_backslashes_in_values_match_exactly_and_inject_nothing():
    tenant = 'acme" or tenant != "'
    subject = 'al\\ice"'
    group = 'eng"]) or array_contains_any(access_groups, ["sales'
    rows = [
        row("exact", tenant=tenant, users=[subject]),
        row("exact-group", tenant=tenant, groups=[group]),
        row("other-tenant", tenant="globex", users=[subject], groups=["sales", group]),
        row("sales", tenant=tenant, groups=["sales"]),
        row("plain-acme", tenant="acme", users=[subject]),
    ]
    access = AccessFilter.of(principal(subject=subject, tenant=tenant, groups=[group]))
    assert readable(access.expression(), rows) == {"exact", "exact-group"}
    document = 'doc"] or document_id != ["'
    rows = [
        row("quoted-doc", tenant=tenant, document_id=document, users=[subject]),
        row("other-doc", tenant=tenant, users=[subject]),
    ]
    assert readable(access.expression([document]), rows) == {"quoted-doc"}


def test_non_ascii_values_are_kept_as_they_are():
    rows = [row("unicode", tenant="ümlaut-日本", users=["zoë 🙂"]), row("ascii", tenant="umlaut", users=["zoe"])]
    access = AccessFilter.of(principal(subject="zoë 🙂", tenant="ümlaut-日本", groups=()))
    assert readable(access.expression(), rows) == {"unicode"}


def test_like_wildcards_spaces_and_kinds_in_names_match_exactly():
    rows = [
        row("percent", groups=["%"]),
        row("underscore-name", groups=["a_b"]),
        row("look-alike", groups=["axb"]),
        row("spaced", groups=["eng ops"]),
        row("eng", groups=["eng"]),
        row("group-named-alice", groups=["alice"]),
    ]
    access = AccessFilter.of(principal(groups=("a_b", "eng ops")))
    assert readable(access.expression(), rows) == {"underscore-name", "spaced"}
    # The subject "alice" is a user token; a group of that name grants her nothing.
    assert readable(AccessFilter.of(principal(groups=())).expression(), rows) == set()
    assert readable(AccessFilter.of(principal(groups=("%",))).expression(), rows) == {"percent"}


def test_tokens_admit_exactly_the_rows_the_access_arrays_admit():
    names = ["alice", "bob", "eng", "sales", "a_b", "%", "zoë 🙂", 'q"uote']
    rows = [
        row(f"{tenant}-{sensitivity}-{n}", tenant=tenant, sensitivity=sensitivity, users=names[n % 3 :: 3], groups=names[n % 4 :: 4])
        for tenant in ("acme", "globex")
        for sensitivity in (PUBLIC, INTERNAL, CONFIDENTIAL, RESTRICTED)
        for n in range(12)
    ]
    for subject in ("alice", "bob", "eng"):
        for groups in ((), ("eng",), ("sales", "a_b"), ("%", 'q"uote', "zoë 🙂")):
            for clearance in (PUBLIC, CONFIDENTIAL, RESTRICTED):
                access = AccessFilter.of(principal(subject=subject, groups=groups, clearance=clearance))
                by_tokens = readable(access.expression(), rows)
                assert by_tokens == readable(access.expression(by_tokens=False), rows)
                assert by_tokens == readable(access.expression(["doc"], by_tokens=False), rows)


def test_the_longest_access_lists_fit_the_readers_field():
    longest = ["x" * MAX_ACCESS_ENTRY_BYTES + str(n) for n in range(MAX_ACCESS_ENTRIES)]
    assert len(readers(longest, longest).encode()) <= MAX_BYTES["readers"]


def test_quote_refuses_control_characters_instead_of_guessing():
    for value in ("a\nb", "tab\t", "nul\x00", "del\x7f"):
        with pytest.raises(UnquotableValue):
            quote(value)
    with pytest.raises(UnquotableValue):
        AccessFilter.of(principal()).expression(["fine", "bad\r"])


def test_quote_list_is_a_list_literal():
    assert quote_list(['a"b', "c\\d"]) == '["a\\"b", "c\\\\d"]'
