"""`ragline eval`: the labeled question set against the running platform, per prompt version.

  ragline eval                                   every committed version of the answer prompt
  ragline eval --prompt answer@v2 --prompt answer@v3 --out results.json --markdown results.md
  ragline eval --thresholds evals/thresholds.toml   exit 1 when a metric is below its minimum (make eval)
  ragline eval --prompts-dir /tmp/candidates --prompt answer@v9   a version not committed yet

Retrieval is measured through the retrieval service's Search, as each
question's asker. Answers come from the generation service's own
AnswerOrchestrator run in this process with the version fixed
(`FixedPrompt`), calling the running guardrail, embedding and retrieval
services with the asker's relayed identity, the same answerer the service
builds from the RAGLINE_MODEL_* variables, and no answer cache. The routing in
Redis is never touched, so an evaluation changes no caller's version, and a
candidate version is judged before any replica serves it (docs/adr/0011).

Every metric is deterministic; the definitions are in evals/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from ragline.auditing import AuditTrail
from ragline.auth import Principal, TokenMinter, TokenSettings, TokenVerifier, current_principal
from ragline.config import env_float, repo_root
from ragline.kafka import EventProducer
from ragline.rpc import CallCredentials, connect
from ragline.v1 import generation_pb2, retrieval_pb2, retrieval_pb2_grpc
from services.generation.answer_policy import AnswerPolicies
from services.generation.clients import EmbeddingClient, GuardrailClient, RetrievalClient
from services.generation.extractive import LABEL as EXTRACTIVE_LABEL
from services.generation.model_endpoints import endpoints_from_env
from services.generation.orchestrator import AnswerOrchestrator
from services.generation.prompt_registry import FixedPrompt
from services.generation.prompts import PROMPTS_DIR, PromptTemplate, available_versions, load_prompt

DEFAULT_SET = repo_root() / "evals" / "northwind" / "questions.toml"
NDCG_DEPTH = 10
WARM_UP = 3
# An answer sentence is supported when this share of its content words occurs in the passages it cites.
SUPPORT_THRESHOLD = 0.8
UNANSWERABLE_REASONS = ("not in the corpus", "no access")
CLEARANCES = ("public", "internal", "confidential", "restricted")
# Higher is better for all of them but the latencies, which are ceilings.
METRICS = (
    "recall_at_k", "ndcg_at_10", "citation_precision", "faithfulness", "refusal_accuracy",
    "answer_rate", "reference_recall", "latency_p50_ms", "latency_p95_ms",
)
CEILINGS = ("latency_p50_ms", "latency_p95_ms")

_STOP_WORDS = frozenset(
    """a about after all also an and any are as at be been before but by can could do does for from has have how i if
    in into is it its may more must my no not of on or our so than that the their them then there these they this to
    up was we were what when where which who whom why will with within you your""".split()
)
_WORD = re.compile(r"\w+")
_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
# After a sentence end or a citation marker: "... charge. [1] The NW-7 ..." is two sentences, each with its marker.
_BOUNDARY = re.compile(r"(?<=[.!?\]])\s+|\n+")


class EvalSetError(ValueError):
    """The question set or the thresholds file is malformed; the message says where."""


# --- the question set ---------------------------------------------------------


def normalized(text: str) -> str:
    return " ".join(text.casefold().split())


@dataclass(frozen=True)
class Evidence:
    document: str
    phrase: str

    def found_in(self, document_id: str, text: str) -> bool:
        return document_id == self.document and normalized(self.phrase) in normalized(text)


@dataclass(frozen=True)
class Asker:
    name: str
    groups: tuple[str, ...]
    clearance: str


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    asked_as: str
    question: str
    reference: str = ""
    evidence: tuple[Evidence, ...] = ()
    unanswerable: str = ""
    # For "no access": the document that answers it, which the asker may not read.
    document: str = ""

    @property
    def answerable(self) -> bool:
        return not self.unanswerable

    def is_relevant(self, document_id: str, text: str) -> bool:
        return any(item.found_in(document_id, text) for item in self.evidence)


@dataclass(frozen=True)
class EvalSet:
    path: Path
    manifest: Path
    askers: dict[str, Asker]
    questions: tuple[EvalQuestion, ...]

    @classmethod
    def load(cls, path: Path) -> "EvalSet":
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise EvalSetError(f"eval set {path}: {error}") from None
        askers = {
            name: Asker(name, tuple(spec.get("groups", ())), spec.get("clearance", ""))
            for name, spec in data.get("principals", {}).items()
        }
        for asker in askers.values():
            if asker.clearance not in CLEARANCES or not asker.groups:
                raise EvalSetError(f"eval set {path}: principal {asker.name!r} needs groups and a clearance of {CLEARANCES}")
        questions = tuple(_question(path, raw, askers) for raw in data.get("question", ()))
        ids = [question.id for question in questions]
        duplicates = sorted({qid for qid in ids if ids.count(qid) > 1})
        if duplicates or not questions:
            raise EvalSetError(f"eval set {path}: needs questions with unique ids (duplicated: {duplicates})")
        return cls(path.resolve(), (path.parent / data.get("corpus", "")).resolve(), askers, questions)


def _question(path: Path, raw: dict, askers: dict[str, Asker]) -> EvalQuestion:
    where = f"eval set {path}, question {raw.get('id', '?')!r}"
    try:
        question = EvalQuestion(
            id=raw["id"],
            asked_as=raw["asked_as"],
            question=raw["question"],
            reference=raw.get("reference", ""),
            evidence=tuple(Evidence(item["document"], item["phrase"]) for item in raw.get("evidence", ())),
            unanswerable=raw.get("unanswerable", ""),
            document=raw.get("document", ""),
        )
    except (KeyError, TypeError) as error:
        raise EvalSetError(f"{where}: needs id, asked_as, question, and evidence items with document and phrase ({error!r})") from None
    if question.asked_as not in askers:
        raise EvalSetError(f"{where}: asked_as {question.asked_as!r} is not one of the principals {sorted(askers)}")
    if question.answerable == (not question.evidence) or (question.answerable and not question.reference):
        raise EvalSetError(f"{where}: give either evidence and a reference, or unanswerable = one of {UNANSWERABLE_REASONS}")
    if question.unanswerable and question.unanswerable not in UNANSWERABLE_REASONS:
        raise EvalSetError(f"{where}: unanswerable must be one of {UNANSWERABLE_REASONS}")
    if (question.unanswerable == "no access") != bool(question.document):
        raise EvalSetError(f"{where}: a 'no access' question names the document the asker may not read, and only it")
    return question


# --- metrics ------------------------------------------------------------------


def content_words(text: str) -> set[str]:
    return {word for word in _WORD.findall(text.casefold()) if word not in _STOP_WORDS and (len(word) > 1 or word.isdigit())}


def recall_at(question: EvalQuestion, hits: Sequence[retrieval_pb2.SearchHit], k: int) -> float:
    """Share of the question's evidence items found in a chunk among the first k hits."""
    found = [item for item in question.evidence if any(item.found_in(hit.document_id, hit.text) for hit in hits[:k])]
    return len(found) / len(question.evidence)


def ndcg_at(question: EvalQuestion, hits: Sequence[retrieval_pb2.SearchHit], depth: int = NDCG_DEPTH) -> float:
    """nDCG with each evidence item credited once, at the first hit that contains it.

    The ideal ranking puts one evidence item at each of the first ranks; a chunk
    that holds two items can reach beyond it, so the value is capped at 1.
    """
    credited: set[Evidence] = set()
    dcg = 0.0
    for rank, hit in enumerate(hits[:depth]):
        new = {item for item in question.evidence if item not in credited and item.found_in(hit.document_id, hit.text)}
        credited |= new
        dcg += len(new) / math.log2(rank + 2)
    ideal = sum(1 / math.log2(rank + 2) for rank in range(min(len(question.evidence), depth)))
    return min(1.0, dcg / ideal)


def answer_sentences(text: str) -> list[str]:
    """The claims of an answer: its sentences, without the extractive answerer's label."""
    if text.startswith(EXTRACTIVE_LABEL):
        text = text[len(EXTRACTIVE_LABEL):]
    sentences: list[str] = []
    for piece in _BOUNDARY.split(text):
        if content_words(_MARKER.sub(" ", piece)):
            sentences.append(piece)
        elif sentences and _MARKER.search(piece):
            # Markers written after the full stop belong to the sentence before them.
            sentences[-1] += " " + piece
    return sentences


def supported(sentence: str, citations: Sequence[generation_pb2.Citation]) -> bool:
    """Whether SUPPORT_THRESHOLD of the sentence's content words occur in the passages it cites.

    A sentence without a marker is held against every passage the answer cites.
    """
    numbers = {int(n) for group in _MARKER.findall(sentence) for n in group.split(",")}
    cited = [citation for citation in citations if citation.index in numbers] if numbers else list(citations)
    words = content_words(_MARKER.sub(" ", sentence))
    passage_words = set().union(*(content_words(citation.snippet) for citation in cited)) if cited else set()
    return len(words & passage_words) / len(words) >= SUPPORT_THRESHOLD


def reference_recall(reference: str, text: str) -> float:
    """Share of the reference answer's content words that the answer contains."""
    wanted = content_words(reference)
    return len(wanted & content_words(text)) / len(wanted)


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


@dataclass
class QuestionResult:
    id: str
    answerable: bool
    recall_at_k: float | None = None
    ndcg_at_10: float | None = None
    refused: bool = False
    refusal_reason: str = ""
    text: str = ""
    cited: list[dict] = field(default_factory=list)
    sentences: int = 0
    supported_sentences: int = 0
    reference_recall: float | None = None
    latency_ms: float = 0.0


def score_answer(question: EvalQuestion, answer: generation_pb2.AnswerResponse, result: QuestionResult) -> None:
    result.refused = answer.refused
    result.refusal_reason = answer.refusal_reason
    result.text = answer.text
    result.cited = [
        {"index": c.index, "document_id": c.document_id, "chunk_id": c.chunk_id, "relevant": question.is_relevant(c.document_id, c.snippet)}
        for c in answer.citations
    ]
    if answer.refused:
        result.reference_recall = 0.0 if question.answerable else None
        return
    sentences = answer_sentences(answer.text)
    result.sentences = len(sentences)
    result.supported_sentences = sum(supported(sentence, answer.citations) for sentence in sentences)
    if question.answerable:
        result.reference_recall = reference_recall(question.reference, answer.text)


def summarize(results: Sequence[QuestionResult]) -> dict[str, float | None]:
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    answered = [r for r in results if not r.refused]
    citations = [c for r in answered for c in r.cited]
    latencies = [r.latency_ms for r in results]
    return {
        "recall_at_k": _mean(r.recall_at_k for r in answerable),
        "ndcg_at_10": _mean(r.ndcg_at_10 for r in answerable),
        "citation_precision": sum(c["relevant"] for c in citations) / len(citations) if citations else None,
        "faithfulness": _mean(r.supported_sentences / r.sentences for r in answered if r.sentences),
        "refusal_accuracy": _mean(float(r.refused) for r in unanswerable),
        "answer_rate": _mean(float(not r.refused) for r in answerable),
        "reference_recall": _mean(r.reference_recall for r in answerable),
        "latency_p50_ms": percentile(latencies, 0.50),
        "latency_p95_ms": percentile(latencies, 0.95),
    }


# --- running against the platform ---------------------------------------------


class Readers:
    """Tokens and principals of the set's askers in one tenant (development keys, like `ragline token`)."""

    def __init__(self, tenant: str, askers: dict[str, Asker]):
        settings = TokenSettings.from_env()
        self._minter = TokenMinter(settings)
        self._verifier = TokenVerifier(settings)
        self._tenant = tenant
        self._askers = askers

    def token(self, name: str) -> str:
        asker = self._askers[name]
        return self._minter.mint(f"ragline-eval-{name}", self._tenant, asker.groups, asker.clearance)

    def principal(self, name: str) -> Principal:
        # Through the verifier, so the principal is exactly the one a service would see.
        return self._verifier.verify(self.token(name))

    def every_reader(self, groups: Iterable[str]) -> str:
        return self._minter.mint("ragline-eval-indexed", self._tenant, tuple(sorted(set(groups))), "restricted")


def search_all(eval_set: EvalSet, readers: Readers, depth: int) -> dict[str, list[retrieval_pb2.SearchHit]]:
    hits = {}
    with connect("retrieval") as channel:
        stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
        for question in eval_set.questions:
            request = retrieval_pb2.SearchRequest(query=question.question, top_k=depth)
            metadata = [("authorization", f"Bearer {readers.token(question.asked_as)}")]
            hits[question.id] = list(stub.Search(request, metadata=metadata, timeout=30).hits)
    return hits


def orchestrator_for(prompt: PromptTemplate, audit: AuditTrail) -> AnswerOrchestrator:
    """The generation service's flow for one fixed prompt version, without cache, cost ledger or feedback book."""
    from services.generation.__main__ import build_answerer  # the service's own choice of answerer

    credentials = CallCredentials("generation")
    timeout_s = env_float("RAGLINE_GENERATION_CALL_TIMEOUT_S", 10.0, minimum=0.1)
    return AnswerOrchestrator(
        guardrail=GuardrailClient(connect("guardrail"), credentials, timeout_s),
        embedder=EmbeddingClient(connect("embedding"), credentials, timeout_s),
        search=RetrievalClient(connect("retrieval"), credentials, timeout_s),
        answerer=build_answerer(endpoints_from_env()),
        audit=audit,
        prompts=FixedPrompt(prompt),
        policies=AnswerPolicies.from_env(),
    )


def evaluate_version(
    eval_set: EvalSet, prompt: PromptTemplate, readers: Readers, hits: dict[str, list[retrieval_pb2.SearchHit]], top_k: int, audit: AuditTrail
) -> list[QuestionResult]:
    orchestrator = orchestrator_for(prompt, audit)
    # Untimed: the first calls pay for connections and the services' lazy start-up.
    for question in eval_set.questions[:WARM_UP]:
        _ask(orchestrator, readers, question, top_k)
    results = []
    for question in eval_set.questions:
        result = QuestionResult(question.id, question.answerable)
        if question.answerable:
            result.recall_at_k = recall_at(question, hits[question.id], top_k)
            result.ndcg_at_10 = ndcg_at(question, hits[question.id])
        answer, result.latency_ms = _ask(orchestrator, readers, question, top_k)
        score_answer(question, answer, result)
        results.append(result)
    return results


def _ask(orchestrator: AnswerOrchestrator, readers: Readers, question: EvalQuestion, top_k: int) -> tuple[generation_pb2.AnswerResponse, float]:
    """The answer, and how long it took in milliseconds, with the asker relayed as the service would."""
    principal = readers.principal(question.asked_as)
    relayed = current_principal.set(principal)
    try:
        started = time.perf_counter()
        answer = orchestrator.answer(principal, question.question, top_k)
        return answer, (time.perf_counter() - started) * 1000
    finally:
        current_principal.reset(relayed)


def missing_documents(eval_set: EvalSet, tenant: str, readers: Readers, publish: bool, timeout: float) -> list[str]:
    """Publish the set's corpus under `tenant` when asked; the documents not searchable (after `timeout`)."""
    from ragline.cli import corpus
    from ragline.cli.demo import wait_searchable
    from ragline.cli.main import publish_documents  # imports this module: loaded only when used

    _, specs = corpus.specs_from_manifest(eval_set.manifest)
    if publish:
        publish_documents(tenant, specs)
    token = readers.every_reader(group for spec in specs for group in spec.groups)
    return wait_searchable(tenant, specs, token, timeout)


# --- reporting and the gate ---------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    minimum: dict[str, float]
    maximum: dict[str, float]
    # Minimums of named versions that replace the general ones: a version
    # published before a minimum was raised keeps the floor it was measured at.
    versions: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> "Thresholds":
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise EvalSetError(f"thresholds {path}: {error}") from None
        minimum, maximum = dict(data.get("minimum", {})), dict(data.get("maximum", {}))
        versions = {ref: dict(section.get("minimum", {})) for ref, section in data.get("version", {}).items()}
        misplaced = [name for name in minimum if name not in METRICS or name in CEILINGS]
        misplaced += [name for name in maximum if name not in CEILINGS]
        misplaced += [f"version.{ref}.{name}" for ref, floors in versions.items() for name in floors if name not in minimum]
        if misplaced:
            raise EvalSetError(f"thresholds {path}: {misplaced} are not metrics of their section; "
                               f"[minimum] takes {[m for m in METRICS if m not in CEILINGS]}, [maximum] takes {list(CEILINGS)}, "
                               "[version.\"<id>@v<N>\".minimum] takes the metrics of [minimum]")
        return cls(minimum, maximum, versions)

    def failures(self, version: str, metrics: dict[str, float | None]) -> list[str]:
        found = []
        for name, bound in {**self.minimum, **self.versions.get(version, {})}.items():
            value = metrics.get(name)
            if value is None or value < bound:
                shown = "no value" if value is None else f"{value:.3f}"
                short = "" if value is None else f" by {bound - value:.3f}"
                found.append(f"{version}: {name} {shown} is below the minimum {bound:.3f}{short}")
        for name, bound in self.maximum.items():
            value = metrics[name]
            if value is not None and value > bound:
                found.append(f"{version}: {name} {value:.1f} is above the maximum {bound:.1f} by {value - bound:.1f}")
        return found


def markdown_table(report: dict) -> str:
    header = "| prompt version | " + " | ".join(METRICS) + " |"
    lines = [header, "|" + " --- |" * (len(METRICS) + 1)]
    for version, found in report["versions"].items():
        cells = [_cell(name, found["metrics"][name]) for name in METRICS]
        lines.append(f"| {version} | " + " | ".join(cells) + " |")
    counts = report["questions"]
    lines.append("")
    lines.append(
        f"{counts['answerable']} answerable and {counts['unanswerable']} unanswerable questions "
        f"({report['eval_set']}), tenant {report['tenant']}, k={report['top_k']}, answerer {report['answerer']}."
    )
    return "\n".join(lines) + "\n"


def _cell(name: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if name in CEILINGS else f"{value:.3f}"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="run the labeled question set per prompt version; gate on thresholds")
    parser.add_argument("--set", default=str(DEFAULT_SET), help="the question set (TOML)")
    parser.add_argument("--prompt", action="append", help="a version to evaluate, e.g. answer@v2 (repeat; default: every version of answer)")
    parser.add_argument("--prompts-dir", default=str(PROMPTS_DIR), help="where the prompt files are")
    parser.add_argument("--tenant", help="the tenant holding the corpus (default: the manifest's)")
    parser.add_argument("--publish", action="store_true", help="publish the set's corpus first and wait until it is searchable")
    parser.add_argument("--top-k", type=int, default=5, help="passages per answer, and k of recall@k")
    parser.add_argument("--out", help="write the results as JSON")
    parser.add_argument("--markdown", help="write the table as markdown")
    parser.add_argument("--thresholds", help="exit 1 when a metric of any version is past its threshold (evals/thresholds.toml)")
    parser.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    try:
        eval_set = EvalSet.load(Path(args.set))
        thresholds = Thresholds.load(Path(args.thresholds)) if args.thresholds else None
        prompts_dir = Path(args.prompts_dir)
        refs = args.prompt or [f"answer@{version}" for version in available_versions("answer", prompts_dir)]
        prompts = [load_prompt(ref, prompts_dir) for ref in refs]
    except (EvalSetError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not 1 <= args.top_k <= NDCG_DEPTH:
        print(f"error: --top-k {args.top_k}: use 1 to {NDCG_DEPTH}", file=sys.stderr)
        return 2
    from ragline.cli import corpus

    tenant = args.tenant or corpus.specs_from_manifest(eval_set.manifest)[0]
    readers = Readers(tenant, eval_set.askers)
    missing = missing_documents(eval_set, tenant, readers, args.publish, timeout=180 if args.publish else 5)
    if missing:
        print(f"error: not searchable in tenant {tenant!r}: {', '.join(missing)}; publish the corpus (--publish)", file=sys.stderr)
        return 2
    hits = search_all(eval_set, readers, NDCG_DEPTH)
    producer = EventProducer("ragline-eval")
    audit = AuditTrail(producer, "ragline-eval")
    versions = {}
    try:
        for prompt in prompts:
            results = evaluate_version(eval_set, prompt, readers, hits, args.top_k, audit)
            versions[prompt.ref] = {"metrics": summarize(results), "results": [vars(r) for r in results]}
            print(f"{prompt.ref}: {len(results)} questions", file=sys.stderr)
    finally:
        producer.flush()
    report = {
        "eval_set": str(eval_set.path.relative_to(repo_root()) if eval_set.path.is_relative_to(repo_root()) else eval_set.path),
        "tenant": tenant,
        "top_k": args.top_k,
        "answerer": "extractive" if not endpoints_from_env() else "chat model",
        "support_threshold": SUPPORT_THRESHOLD,
        "questions": {
            "answerable": sum(q.answerable for q in eval_set.questions),
            "unanswerable": sum(not q.answerable for q in eval_set.questions),
        },
        "versions": versions,
    }
    table = markdown_table(report)
    print(table)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.markdown:
        Path(args.markdown).write_text(table, encoding="utf-8")
    if thresholds is None:
        return 0
    failures = [failure for version, found in versions.items() for failure in thresholds.failures(version, found["metrics"])]
    for failure in failures:
        print(f"FAILED {failure}")
    if not failures:
        print(f"passed: every metric of {', '.join(versions)} is within {args.thresholds}")
    return 1 if failures else 0
