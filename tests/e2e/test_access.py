"""Access across the six services as processes: documents of two tenants, several
groups, a named user and four sensitivities, published through Kafka; principals
who may read some of them. Nothing a principal may not read appears in an answer,
a citation, a search hit or a cached answer, also when the question asks for the
document by name, and also for a token that lacks the groups claim."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from ragline.cli import corpus
from ragline.cli.demo import wait_searchable
from ragline.cli.main import ask, publish_documents
from ragline.rpc import connect
from ragline.v1 import generation_pb2, generation_pb2_grpc, retrieval_pb2, retrieval_pb2_grpc

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Document:
    key: str
    tenant: str  # "a" or "b"
    title: str
    # A word no other document contains: finding it anywhere means this document leaked.
    marker: str
    sensitivity: str
    groups: tuple[str, ...] = ()
    users: tuple[str, ...] = ()

    def text(self) -> str:
        word = self.marker.capitalize()
        return (
            f"# {self.title}\n\n"
            f"The {word} programme is described in this document. "
            f"{word} deliveries leave the north warehouse every Tuesday at nine. "
            f"Questions about {word} go to the {word} coordinator.\n"
        )


DOCUMENTS = [
    Document("handbook", "a", "Staff handbook Kestrel", "kestrel", "public", groups=("all-staff",)),
    Document("pricing", "a", "Finance pricing notes Plover", "plover", "internal", groups=("finance",)),
    Document("payroll", "a", "Payroll plan Osprey", "osprey", "confidential", groups=("finance",)),
    Document("merger", "a", "Board merger file Falcon", "falcon", "restricted", groups=("board",)),
    Document("review", "a", "Performance review Heron", "heron", "internal", users=("dana",)),
    Document("roadmap", "b", "Roadmap Condor", "condor", "internal", groups=("all-staff", "finance", "board")),
]
BY_KEY = {document.key: document for document in DOCUMENTS}


@dataclass(frozen=True)
class Reader:
    name: str
    subject: str
    tenant: str
    groups: tuple[str, ...] | None  # None: the token has no groups claim at all
    clearance: str
    may_read: frozenset[str]


READERS = [
    Reader("board member", "erin", "a", ("all-staff", "finance", "board"), "restricted",
           frozenset({"handbook", "pricing", "payroll", "merger"})),
    Reader("analyst cleared for internal", "frank", "a", ("all-staff", "finance"), "internal", frozenset({"handbook", "pricing"})),
    Reader("user named on the access list", "dana", "a", ("all-staff",), "internal", frozenset({"handbook", "review"})),
    Reader("token without a groups claim", "dana", "a", None, "internal", frozenset({"review"})),
    Reader("other tenant with every group", "erin", "b", ("all-staff", "finance", "board"), "restricted", frozenset({"roadmap"})),
]


@dataclass
class Access:
    tenants: dict[str, str]
    ids: dict[str, str]  # document key -> document id
    tokens: dict[str, str]  # reader name -> token

    def key_of(self, document_id: str) -> str:
        return next(key for key, value in self.ids.items() if value == document_id)


def without_groups_claim(token: str) -> str:
    """The same token re-signed by the issuer's key, minus its groups claim."""
    from ragline.auth import TokenSettings

    settings = TokenSettings.from_env()
    claims = jwt.decode(token, options={"verify_signature": False})
    claims.pop(settings.claims.groups)
    header = jwt.get_unverified_header(token)
    key = serialization.load_pem_private_key(settings.signing_key_path.read_bytes(), password=None)
    return jwt.encode(claims, key, algorithm=header["alg"], headers={"kid": header["kid"]})


@pytest.fixture(scope="module")
def access(platform, tmp_path_factory) -> Access:
    run = uuid.uuid4().hex[:8]
    tenants = {"a": f"access-a-{run}", "b": f"access-b-{run}"}
    folder: Path = tmp_path_factory.mktemp("access-docs")
    specs: dict[str, corpus.DocumentSpec] = {}
    for document in DOCUMENTS:
        path = folder / f"{document.key}.md"
        path.write_text(document.text(), encoding="utf-8")
        specs[document.key] = corpus.DocumentSpec(
            path=path, document_id=f"{document.key}-{run}", title=document.title, sensitivity=document.sensitivity,
            groups=list(document.groups), users=list(document.users), source_uri=f"https://intranet.example/{document.key}",
        )
    for tenant_key, tenant in tenants.items():
        publish_documents(tenant, [specs[d.key] for d in DOCUMENTS if d.tenant == tenant_key])

    tokens = {}
    for reader in READERS:
        token = platform.token(reader.subject, reader.groups or (), reader.clearance, tenant=tenants[reader.tenant])
        tokens[reader.name] = without_groups_claim(token) if reader.groups is None else token
    # Each document becomes searchable for a reader who may read it: the positive control of every test below.
    for document in DOCUMENTS:
        reader = next(r for r in READERS if document.key in r.may_read)
        missing = wait_searchable(tenants[document.tenant], [specs[document.key]], tokens[reader.name], timeout=180)
        assert not missing, f"{document.key} not searchable for {reader.name}"
    return Access(tenants, {key: spec.document_id for key, spec in specs.items()}, tokens)


def search(token: str, query: str, document_ids: list[str] | None = None) -> list[retrieval_pb2.SearchHit]:
    with connect("retrieval") as channel:
        request = retrieval_pb2.SearchRequest(query=query, top_k=50, document_ids=document_ids or [])
        stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
        return list(stub.Search(request, metadata=[("authorization", f"Bearer {token}")], timeout=30).hits)


def ask_streamed(question: str, token: str) -> generation_pb2.AnswerResponse:
    with connect("generation") as channel:
        stub = generation_pb2_grpc.GenerationServiceStub(channel)
        request = generation_pb2.AnswerStreamRequest(question=question, top_k=20)
        messages = list(stub.AnswerStream(request, metadata=[("authorization", f"Bearer {token}")], timeout=60))
    deltas = "".join(m.delta for m in messages if m.WhichOneof("event") == "delta")
    final = messages[-1].final
    return generation_pb2.AnswerResponse(
        text=deltas + "\n" + final.text, citations=final.citations, refused=final.refused, refusal_reason=final.refusal_reason
    )


def forbidden(reader: Reader) -> list[Document]:
    return [d for d in DOCUMENTS if d.key not in reader.may_read]


def assert_nothing_forbidden_in_answer(answer: generation_pb2.AnswerResponse, reader: Reader, access: Access) -> None:
    cited = {access.key_of(c.document_id) for c in answer.citations}
    assert cited <= reader.may_read, f"{reader.name} was cited {cited - reader.may_read}"
    shown = " ".join([answer.text, answer.refusal_reason, *(f"{c.title} {c.snippet} {c.source_uri}" for c in answer.citations)]).lower()
    for document in forbidden(reader):
        assert document.marker not in shown, f"{reader.name} saw {document.key}: {shown}"


def assert_nothing_forbidden_in_hits(hits: list[retrieval_pb2.SearchHit], reader: Reader, access: Access) -> None:
    found = {access.key_of(hit.document_id) for hit in hits}
    assert found <= reader.may_read, f"{reader.name} found {found - reader.may_read}"
    shown = " ".join(f"{hit.text} {hit.provenance.title}" for hit in hits).lower()
    for document in forbidden(reader):
        assert document.marker not in shown, f"{reader.name} saw {document.key} in a hit"


def questions_naming(document: Document) -> list[str]:
    word = document.marker.capitalize()
    return [f"What does the document '{document.title}' say?", f"When do {word} deliveries leave the warehouse?"]


@pytest.mark.parametrize("reader", READERS, ids=[r.name for r in READERS])
def test_search_returns_only_what_the_reader_may_read_even_when_asked_by_name_or_id(access, reader):
    token = access.tokens[reader.name]
    everything = search(token, "programme deliveries warehouse coordinator")
    assert {access.key_of(hit.document_id) for hit in everything} == reader.may_read
    for document in DOCUMENTS:
        by_title = search(token, document.title)
        narrowed = search(token, document.title, [access.ids[document.key]])
        assert_nothing_forbidden_in_hits(by_title + narrowed, reader, access)
        assert bool(narrowed) == (document.key in reader.may_read), document.key


@pytest.mark.parametrize("reader", READERS, ids=[r.name for r in READERS])
def test_answers_and_citations_hold_only_what_the_reader_may_read_even_when_asked_by_name(access, reader):
    token = access.tokens[reader.name]
    for document in DOCUMENTS:
        for question in questions_naming(document):
            answer = ask(question, token, top_k=20)
            assert_nothing_forbidden_in_answer(answer, reader, access)
            if document.key in reader.may_read and "deliveries" in question:
                # The positive control: what the reader may read is answered from that document.
                assert access.ids[document.key] in {c.document_id for c in answer.citations}, (reader.name, question, answer)
        assert_nothing_forbidden_in_answer(ask_streamed(questions_naming(document)[1], token), reader, access)


@pytest.mark.parametrize(
    "privileged, unprivileged",
    [
        ("board member", "analyst cleared for internal"),
        ("board member", "other tenant with every group"),
        ("user named on the access list", "analyst cleared for internal"),
        ("user named on the access list", "token without a groups claim"),
    ],
)
@pytest.mark.parametrize("document_key", ["merger", "payroll", "review", "handbook"])
def test_a_cached_answer_never_reaches_a_reader_who_may_not_read_its_passages(access, privileged, unprivileged, document_key):
    first = next(r for r in READERS if r.name == privileged)
    second = next(r for r in READERS if r.name == unprivileged)
    document = BY_KEY[document_key]
    # Cases share the cache of a scope; each reader still gets only its own scope's answer.
    question = questions_naming(document)[1]

    answers = [ask(question, access.tokens[first.name], top_k=20) for _ in range(2)]
    later = ask(question, access.tokens[second.name], top_k=20)

    if document_key in first.may_read:
        # The privileged answer cites the document, and is now in the cache of the privileged scope.
        assert access.ids[document_key] in {c.document_id for c in answers[0].citations}
        assert answers[1].text == answers[0].text
    assert_nothing_forbidden_in_answer(later, second, access)
    if document_key not in second.may_read:
        assert later.text != answers[0].text or not answers[0].text


def test_a_lower_clearance_of_the_same_person_is_not_served_the_higher_ones_cached_answer(platform, access):
    question = questions_naming(BY_KEY["payroll"])[1]
    tenant = access.tenants["a"]
    cleared = platform.token("gina", ("finance",), "confidential", tenant=tenant)
    lowered = platform.token("gina", ("finance",), "internal", tenant=tenant)

    high = ask(question, cleared, top_k=20)
    low = ask(question, lowered, top_k=20)

    assert access.ids["payroll"] in {c.document_id for c in high.citations}
    assert "osprey" not in (low.text + " ".join(c.snippet for c in low.citations)).lower()
    assert access.ids["payroll"] not in {c.document_id for c in low.citations}


def test_a_token_without_tenant_or_clearance_reads_nothing(platform, access):
    for token in (
        platform.token("erin", ("all-staff", "finance", "board"), "", tenant=access.tenants["a"]),
        platform.token("erin", ("all-staff", "finance", "board"), "restricted", tenant=""),
    ):
        try:
            hits = search(token, "programme deliveries warehouse coordinator")
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.PERMISSION_DENIED, error.details()
            continue
        assert hits == []
