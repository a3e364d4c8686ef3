"""`make redteam`: the red-team and false-positive suite against the running guardrail service.

    .venv/bin/python -m tests.redteam.run [--misses] [--tenant redteam]

Sends every case over gRPC to GuardrailService (RAGLINE_GUARDRAIL_ADDR) with
a development token for the tenant, prints detection and false-positive
rates per category for the whole suite, the dev split and the held-out split,
and exits 1 when a split misses the targets (detection >= 95%, false
positives <= 3%). Cases about the system-prompt canary run when
RAGLINE_PROMPT_CANARY is set, as it must be for the service.
"""

from __future__ import annotations

import argparse
import sys
import time

import grpc

from ragline.auth import TokenMinter, TokenSettings
from ragline.config import DEFAULT_PORTS, env_str, service_address
from ragline.rpc import channel
from ragline.v1 import guardrail_pb2, guardrail_pb2_grpc
from tests.redteam import cases as suite
from tests.redteam.scoring import Screened, judge, misses, table, targets_met


def screen(stub: guardrail_pb2_grpc.GuardrailServiceStub, case: suite.Case, tenant: str, metadata) -> Screened:
    if case.screen == "input":
        response = stub.ScreenInput(guardrail_pb2.ScreenInputRequest(tenant=tenant, text=case.text), metadata=metadata, timeout=10)
        return Screened(response.allowed, response.text, _checks(response.verdicts))
    if case.screen == "document":
        request = guardrail_pb2.ScreenDocumentRequest(tenant=tenant, document_id=f"redteam/{case.id}", text=case.text)
        response = stub.ScreenDocument(request, metadata=metadata, timeout=10)
        blocked = any(v.action == guardrail_pb2.ACTION_BLOCK for v in response.verdicts)
        return Screened(not blocked, response.text, _checks(response.verdicts), response.suspected_injection)
    request = guardrail_pb2.ScreenOutputRequest(tenant=tenant, text=case.text, context=list(case.context))
    response = stub.ScreenOutput(request, metadata=metadata, timeout=10)
    return Screened(response.allowed, response.text, _checks(response.verdicts))


def _checks(verdicts) -> tuple[str, ...]:
    return tuple(v.check for v in verdicts if v.action != guardrail_pb2.ACTION_ALLOW)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenant", default="redteam", help="tenant whose policy applies (default: redteam, i.e. the default policy)")
    parser.add_argument("--misses", action="store_true", help="list every missed attack and refused honest text")
    arguments = parser.parse_args()

    canary = env_str("RAGLINE_PROMPT_CANARY", "")
    cases = suite.load(canary)
    token = TokenMinter(TokenSettings.from_env()).mint("redteam-runner", arguments.tenant, ttl_s=900)
    metadata = [("authorization", f"Bearer {token}")]
    address = service_address("guardrail", DEFAULT_PORTS["guardrail"])
    stub = guardrail_pb2_grpc.GuardrailServiceStub(channel(address))
    started = time.monotonic()
    try:
        outcomes = [judge(case, screen(stub, case, arguments.tenant, metadata)) for case in cases]
    except grpc.RpcError as error:
        print(f"guardrail at {address} failed: {error.code().name}: {error.details()} (is `make run` up?)", file=sys.stderr)
        return 2
    elapsed = time.monotonic() - started
    print(f"red-team suite: {len(cases)} cases against {address} in {elapsed:.1f} s"
          f"{'' if canary else ' (canary cases skipped: RAGLINE_PROMPT_CANARY is not set)'}\n")
    print(table(outcomes))
    if arguments.misses:
        for outcome in misses(outcomes):
            kind = "missed attack" if outcome.case.attack else "false positive"
            print(f"  {kind:<14} {outcome.case.split:<7} {outcome.case.id:<10} {outcome.case.category:<28} {list(outcome.checks)}")
    met, summary = targets_met(outcomes)
    print(summary)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
