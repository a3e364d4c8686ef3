"""The `ragline` command line: publish documents, ask questions, read the audit
log and dead letters, mint development tokens, run the services locally."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import grpc
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from ragline.auth import TokenMinter, TokenSettings
from ragline.cli import audit, corpus, cost, deadletters, prompts, reindex, tokens
from ragline.cli import eval as eval_command
from ragline.cli.launcher import SERVICES, ServiceLauncher
from ragline.cli.otlp import metrics_file_beside, read_spans, render_tree, start_receiver
from ragline.config import data_dir, env_str, repo_root, target
from ragline.kafka import DOCUMENTS, EventProducer, ensure_topics
from ragline.rpc import channel, connect
from ragline.telemetry import current_trace_id, setup_tracing
from ragline.v1 import generation_pb2, generation_pb2_grpc

tracer = trace.get_tracer("ragline.cli")


def _token(args: argparse.Namespace) -> str:
    if os.environ.get("RAGLINE_TOKEN"):
        return os.environ["RAGLINE_TOKEN"]
    minter = TokenMinter(TokenSettings.from_env())
    return minter.mint(args.user, args.tenant, tuple(args.groups), args.clearance, ttl_s=300)


def _identity_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenant", default=env_str("RAGLINE_TENANT", "northwind"))
    parser.add_argument("--user", default=os.environ.get("USER", "developer") or "developer")
    parser.add_argument("--groups", nargs="*", default=["all-staff"])
    parser.add_argument("--clearance", default="internal", choices=["public", "internal", "confidential", "restricted"])


def cmd_topics(args: argparse.Namespace) -> int:
    created = ensure_topics()
    print("created topics: " + (", ".join(created) if created else "none (all exist)"))
    return 0


def publish_documents(tenant: str, specs: list[corpus.DocumentSpec]) -> list[tuple[str, str]]:
    """Publish one upsert per document, each the root of its own trace; return (document id, trace id)."""
    producer = EventProducer("ragline-cli")
    published = []
    for spec in specs:
        with tracer.start_as_current_span("publish document", kind=SpanKind.PRODUCER) as span:
            span.set_attribute("ragline.document.id", spec.document_id)
            event = corpus.upsert_event(tenant, spec)
            producer.publish_and_wait(DOCUMENTS, f"{tenant}/{spec.document_id}", event)
            published.append((spec.document_id, current_trace_id()))
    return published


def cmd_publish(args: argparse.Namespace) -> int:
    if args.manifest:
        tenant, specs = corpus.specs_from_manifest(Path(args.manifest))
    else:
        tenant = args.tenant
        specs = corpus.specs_from_paths([Path(p) for p in args.paths], args.groups, args.sensitivity, args.version)
    if not specs:
        print("no publishable files (.md .txt .html .pdf .docx) found", file=sys.stderr)
        return 1
    for document_id, trace_id in publish_documents(tenant, specs):
        print(f"published {tenant}/{document_id} trace_id={trace_id}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    producer = EventProducer("ragline-cli")
    with tracer.start_as_current_span("publish document delete", kind=SpanKind.PRODUCER):
        producer.publish_and_wait(DOCUMENTS, f"{args.tenant}/{args.document_id}", corpus.delete_event(args.tenant, args.document_id))
        print(f"deleted {args.tenant}/{args.document_id} trace_id={current_trace_id()}")
    return 0


def ask(question: str, token: str, top_k: int = 5, stream: bool = False) -> generation_pb2.AnswerResponse:
    metadata = [("authorization", f"Bearer {token}")]
    with tracer.start_as_current_span("ask", kind=SpanKind.CLIENT), connect("generation") as channel:
        stub = generation_pb2_grpc.GenerationServiceStub(channel)
        if not stream:
            return stub.Answer(generation_pb2.AnswerRequest(question=question, top_k=top_k), metadata=metadata, timeout=60)
        for message in stub.AnswerStream(generation_pb2.AnswerStreamRequest(question=question, top_k=top_k), metadata=metadata, timeout=60):
            if message.HasField("final"):
                print()
                return message.final
            print(message.delta, end="", flush=True)
    raise RuntimeError("the answer stream ended without a final message")


def print_answer(answer: generation_pb2.AnswerResponse, streamed: bool = False) -> None:
    if not streamed:
        print(answer.text)
    if answer.refused:
        print(f"(refused: {answer.refusal_reason})")
    if answer.citations:
        print("\nSources:")
        for citation in answer.citations:
            print(f"  [{citation.index}] {citation.title} (v{citation.document_version}) {citation.source_uri}")
    prompt = answer.prompt_version or "none"
    print(f"\nmodel={answer.model} prompt={prompt} answer_id={answer.answer_id} trace_id={answer.trace_id}")


def cmd_ask(args: argparse.Namespace) -> int:
    try:
        answer = ask(args.question, _token(args), args.top_k, args.stream)
    except grpc.RpcError as error:
        print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    print_answer(answer, streamed=args.stream)
    return 0


def cmd_services(args: argparse.Namespace) -> int:
    launcher = ServiceLauncher(data_dir() / "run")
    names = [args.name] if args.name else list(SERVICES)
    if args.action in ("stop", "restart"):
        for name in reversed(names):
            launcher.stop(name)
    if args.action in ("start", "restart"):
        for name in names:
            launcher.start(name)
        for name in names:
            launcher.wait_ready(name)
    for name in names:
        pid = launcher.pid(name)
        print(f"{name:<11} {'running pid ' + str(pid) if pid else 'stopped':<20} {target(name)}  log {launcher.log_file(name)}")
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    """Exit 0 when the service at the address reports SERVING (container healthchecks)."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with channel(args.address) as health_channel:
        try:
            stub = health_pb2_grpc.HealthStub(health_channel)
            status = stub.Check(health_pb2.HealthCheckRequest(), timeout=args.timeout).status
        except grpc.RpcError as error:
            print(f"{args.address}: {error.code().name}", file=sys.stderr)
            return 1
    print(f"{args.address}: {health_pb2.HealthCheckResponse.ServingStatus.Name(status)}")
    return 0 if status == health_pb2.HealthCheckResponse.SERVING else 1


def cmd_traces_serve(args: argparse.Namespace) -> int:
    server = start_receiver(Path(args.file), args.port)
    metrics = metrics_file_beside(Path(args.file))
    print(f"OTLP receiver on 127.0.0.1:{args.port}, spans to {args.file}, metrics to {metrics}", flush=True)
    server.wait_for_termination()
    return 0


def cmd_traces_show(args: argparse.Namespace) -> int:
    spans = read_spans(Path(args.file), args.trace_id)
    if not spans:
        print(f"no spans of trace {args.trace_id} in {args.file}", file=sys.stderr)
        return 1
    print(render_tree(spans))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ragline.cli.demo import run_demo  # imports this module: loaded only when used

    return run_demo(Path(args.manifest), args.question, Path(args.traces_file), args.timeout)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ragline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    tokens.add_parser(commands)

    commands.add_parser("topics", help="create the Ragline topics that are missing").set_defaults(func=cmd_topics)

    publish = commands.add_parser("publish", help="publish files or folders as document events")
    publish.add_argument("paths", nargs="*", help="files or folders (.md .txt .html .pdf .docx)")
    publish.add_argument("--manifest", help="a manifest.json naming tenant, files and their provenance")
    publish.add_argument("--tenant", default=env_str("RAGLINE_TENANT", "northwind"))
    publish.add_argument("--groups", nargs="*", default=["all-staff"], help="groups allowed to read the documents")
    publish.add_argument("--sensitivity", default="internal", choices=["public", "internal", "confidential", "restricted"])
    publish.add_argument("--version", type=int, default=1, help="document version (monotonic per document)")
    publish.set_defaults(func=cmd_publish)

    delete = commands.add_parser("delete", help="publish a document delete")
    delete.add_argument("document_id")
    delete.add_argument("--tenant", default=env_str("RAGLINE_TENANT", "northwind"))
    delete.set_defaults(func=cmd_delete)

    ask_parser = commands.add_parser("ask", help="ask a question and print the cited answer")
    ask_parser.add_argument("question")
    ask_parser.add_argument("--top-k", type=int, default=5)
    ask_parser.add_argument("--stream", action="store_true", help="print the answer as it streams")
    _identity_options(ask_parser)
    ask_parser.set_defaults(func=cmd_ask)

    audit.add_parser(commands)

    deadletters.add_parser(commands)
    reindex.add_parser(commands)

    services = commands.add_parser("services", help="run the six services as local processes")
    services.add_argument("action", choices=["start", "stop", "restart", "status"])
    services.add_argument("name", nargs="?", choices=SERVICES)
    services.set_defaults(func=cmd_services)

    health = commands.add_parser("health", help="check a service's gRPC health (exit 0 when SERVING)")
    health.add_argument("address", help="host:port")
    health.add_argument("--timeout", type=float, default=3.0)
    health.set_defaults(func=cmd_health)

    traces = commands.add_parser("traces", help="a local OTLP receiver, and trace trees from its file").add_subparsers(dest="traces_command", required=True)
    default_file = str(data_dir() / "traces" / "spans.jsonl")
    serve = traces.add_parser("serve", help="receive OTLP/gRPC spans and metrics into JSON Lines files")
    serve.add_argument("--port", type=int, default=4317)
    serve.add_argument("--file", default=default_file)
    serve.set_defaults(func=cmd_traces_serve)
    show = traces.add_parser("show", help="print one trace as a tree")
    show.add_argument("trace_id")
    show.add_argument("--file", default=default_file)
    show.set_defaults(func=cmd_traces_show)
    demo = commands.add_parser("demo", help="publish the sample corpus, wait until searchable, ask a sample question")
    demo.add_argument("--manifest", default=str(repo_root() / "samples" / "corpus" / "manifest.json"))
    demo.add_argument("--question", default="How long does the NW-7 Picker battery last on one charge?")
    demo.add_argument("--traces-file", default=default_file)
    demo.add_argument("--timeout", type=float, default=180.0)
    demo.set_defaults(func=cmd_demo)
    cost.add_parser(commands)
    prompts.add_parser(commands)
    eval_command.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("publish", "delete", "ask", "demo"):
        os.environ.setdefault("OTEL_SERVICE_NAME", "ragline-cli")
        provider = setup_tracing("ragline-cli")
        try:
            return args.func(args)
        finally:
            provider.shutdown()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
