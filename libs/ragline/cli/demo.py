"""`ragline demo`: publish the sample corpus, wait until it is searchable, ask a
sample question and print the cited answer with its trace."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import grpc

from ragline.auth import TokenMinter, TokenSettings
from ragline.cli import corpus
from ragline.cli.main import ask, print_answer, publish_documents
from ragline.rpc import connect
from ragline.v1 import retrieval_pb2, retrieval_pb2_grpc

def wait_searchable(tenant: str, specs: list[corpus.DocumentSpec], token: str, timeout: float) -> list[str]:
    """Poll Search narrowed to each document until it has a hit; return the ones still missing."""
    missing = {spec.document_id: spec.title or spec.document_id for spec in specs}
    deadline = time.monotonic() + timeout
    with connect("retrieval") as channel:
        stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
        while missing and time.monotonic() < deadline:
            for document_id, title in list(missing.items()):
                request = retrieval_pb2.SearchRequest(query=title, top_k=1, document_ids=[document_id])
                try:
                    if stub.Search(request, metadata=[("authorization", f"Bearer {token}")], timeout=10).hits:
                        del missing[document_id]
                except grpc.RpcError:
                    pass
            time.sleep(0.5)
    return sorted(missing)


def run_demo(manifest: Path, question: str, traces_file: Path, timeout: float = 180.0) -> int:
    tenant, specs = corpus.specs_from_manifest(manifest)
    print(f"Publishing {len(specs)} documents of tenant {tenant!r} to ragline.documents.v1 ...")
    for document_id, trace_id in publish_documents(tenant, specs):
        print(f"  {document_id:<28} trace {trace_id}")
    minter = TokenMinter(TokenSettings.from_env())
    every_group = tuple(sorted({group for spec in specs for group in spec.groups}))
    indexer_view = minter.mint("ragline-demo", tenant, every_group, "restricted")
    missing = wait_searchable(tenant, specs, indexer_view, timeout)
    if missing:
        print(f"not searchable after {timeout:.0f}s: {', '.join(missing)}", file=sys.stderr)
        return 1
    print("All documents are searchable.\n")
    reader = minter.mint("demo-user", tenant, ("all-staff",), "internal")
    print(f"Q: {question}  (as demo-user, groups all-staff, clearance internal)\n")
    answer = ask(question, reader)
    print_answer(answer)
    if traces_file.exists():
        print(f"\nTraces went to the local OTLP receiver: {traces_file}\nThis answer's trace:  .venv/bin/ragline traces show {answer.trace_id}")
    else:
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4317")
        print(f"\nTraces went to the OTLP endpoint {endpoint}; look up trace {answer.trace_id} there (Jaeger: http://localhost:16686).")
    return 0

