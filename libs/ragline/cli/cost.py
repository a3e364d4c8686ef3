"""`ragline cost`: what model calls cost, and what a given traffic would cost.

  ragline cost [show] [--tenant T]                  totals per tenant, per endpoint and model, top principals
  ragline cost project --requests-per-day 20000     monthly bill on each cloud model of the price table
                                                    versus each on-premises server type, with its fleet size

Totals are what the generation service accumulated in Redis since they were
first written; prices come from the price table (RAGLINE_GENERATION_PRICES_FILE).
"""

from __future__ import annotations

import argparse

from services.generation.cost_ledger import TenantUsage, Usage, known_tenants, read_usage
from services.generation.pricing import DAYS_PER_MONTH, PriceTable, Projection, Traffic
from services.generation.redis_connection import connect_redis

# Token counts assumed for a projection when no call has been recorded yet.
_DEFAULT_PROMPT_TOKENS = 1500
_DEFAULT_COMPLETION_TOKENS = 300


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    cost = subparsers.add_parser("cost", help="model usage and cost totals, and a projection for a given traffic")
    cost.add_argument("--tenant", help="one tenant (default: every tenant with recorded calls)")
    cost.add_argument("--top", type=int, default=5, help="principals listed per tenant")
    cost.set_defaults(func=cmd_show)
    commands = cost.add_subparsers(dest="cost_command")

    show = commands.add_parser("show", help="totals per tenant, endpoint and principal (the default)")
    show.add_argument("--tenant")
    show.add_argument("--top", type=int, default=5)
    show.set_defaults(func=cmd_show)

    project = commands.add_parser("project", help="monthly cost of a traffic: cloud endpoints versus on-premises servers")
    project.add_argument("--requests-per-day", type=float, required=True)
    project.add_argument("--prompt-tokens", type=float, help="per request (default: the recorded average)")
    project.add_argument("--completion-tokens", type=float, help="per request (default: the recorded average)")
    project.add_argument("--peak-factor", type=float, default=3.0, help="busiest hour over the daily average (sizes on-premises)")
    project.add_argument("--tenant", help="take the token averages from this tenant's calls only")
    project.set_defaults(func=cmd_project)


def cmd_show(args: argparse.Namespace) -> int:
    client = connect_redis()
    currency = PriceTable.from_env().currency
    tenants = [args.tenant] if args.tenant else known_tenants(client)
    if not tenants:
        print("no model calls recorded yet (extractive answers cost nothing and are not recorded)")
        return 0
    for tenant in tenants:
        _print_usage(read_usage(client, tenant, args.top), currency)
    return 0


def _print_usage(usage: TenantUsage, currency: str) -> None:
    print(f"tenant {usage.tenant}: {_line(usage.total, currency)}")
    for endpoint, found in usage.endpoints.items():
        print(f"  endpoint {endpoint:<40} {_line(found, currency)}")
    for principal, found in usage.principals:
        print(f"  principal {principal:<39} {_line(found, currency)}")
    print()


def _line(usage: Usage, currency: str) -> str:
    unpriced = f" ({usage.unpriced_calls} unpriced)" if usage.unpriced_calls else ""
    per_call = usage.cost / usage.calls if usage.calls else 0.0
    return (
        f"{usage.calls:>8} calls{unpriced}  {usage.prompt_tokens:>10} in / {usage.completion_tokens:>9} out tokens  "
        f"{usage.cost:>12.4f} {currency}  ({per_call:.5f} a call)"
    )


def cmd_project(args: argparse.Namespace) -> int:
    table = PriceTable.from_env()
    prompt_tokens, completion_tokens, source = _averages(args)
    traffic = Traffic(args.requests_per_day, prompt_tokens, completion_tokens, args.peak_factor)
    print(
        f"{args.requests_per_day:,.0f} requests a day, {prompt_tokens:,.0f} prompt + {completion_tokens:,.0f} completion "
        f"tokens each ({source}), peak {args.peak_factor:g}x; price table {table.version}\n"
    )
    projections = table.project(traffic)
    for projection in projections:
        fleet = f"{projection.servers} server{'s' if projection.servers > 1 else ''}" if projection.kind == "on-premises" else ""
        print(f"  {projection.kind:<12} {projection.price:<24} {projection.monthly:>12,.2f} {table.currency}/month  {fleet}")
    break_even = _break_even(projections, traffic)
    if break_even:
        print(f"\n{break_even}")
    return 0


def _averages(args: argparse.Namespace) -> tuple[float, float, str]:
    if args.prompt_tokens is not None and args.completion_tokens is not None:
        return args.prompt_tokens, args.completion_tokens, "as given"
    client = connect_redis()
    tenants = [args.tenant] if args.tenant else known_tenants(client)
    total = Usage()
    for tenant in tenants:
        found = read_usage(client, tenant, 0).total
        total.calls += found.calls
        total.prompt_tokens += found.prompt_tokens
        total.completion_tokens += found.completion_tokens
    if total.calls:
        source = f"averages of {total.calls} recorded calls"
        prompt, completion = total.prompt_tokens / total.calls, total.completion_tokens / total.calls
    else:
        source = "assumed: no calls recorded yet"
        prompt, completion = _DEFAULT_PROMPT_TOKENS, _DEFAULT_COMPLETION_TOKENS
    return (
        args.prompt_tokens if args.prompt_tokens is not None else prompt,
        args.completion_tokens if args.completion_tokens is not None else completion,
        source,
    )


def _break_even(projections: list[Projection], traffic: Traffic) -> str:
    """Where the cheapest on-premises server type starts to beat the cheapest cloud model."""
    cloud = [p for p in projections if p.kind == "cloud"]
    onprem = [p for p in projections if p.kind == "on-premises"]
    if not cloud or not onprem or traffic.requests_per_day <= 0:
        return ""
    best_cloud = min(cloud, key=lambda p: p.monthly)
    cheapest_server = min(onprem, key=lambda p: p.monthly / p.servers)
    per_request = best_cloud.monthly / (traffic.requests_per_day * DAYS_PER_MONTH)
    if per_request <= 0:
        return ""
    requests = cheapest_server.monthly / cheapest_server.servers / (per_request * DAYS_PER_MONTH)
    return (
        f"One {cheapest_server.price} server costs as much as {best_cloud.price} at about {requests:,.0f} requests a day; "
        f"below that the cloud model is cheaper."
    )
