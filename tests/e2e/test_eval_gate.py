"""`ragline eval` as the gate of `make eval`: against the six services as
processes, the committed prompt version passes the committed thresholds and a
deliberately worse version fails them, naming the metric."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from ragline.cli import eval as ragline_eval
from ragline.config import repo_root
from services.generation.prompts import PROMPTS_DIR

pytestmark = pytest.mark.e2e

THRESHOLDS = repo_root() / "evals" / "thresholds.toml"


def run_eval(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="ragline")
    ragline_eval.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["eval", *argv])
    return args.func(args)


def worse_prompts(directory: Path) -> Path:
    """answer@v9: answer@v3 with the extractive selection loosened until it quotes whatever shares a word."""
    text = (PROMPTS_DIR / "answer.v3.toml").read_text(encoding="utf-8")
    worse = text.replace('version = "v3"', 'version = "v9"').replace("max_sentences = 2", "max_sentences = 6")
    worse = worse.replace("min_coverage = 0.4", "min_coverage = 0.05").replace("min_share_of_best = 0.8", "min_share_of_best = 0.05")
    assert worse.count('"v9"') == 1 and "min_coverage = 0.05" in worse and "min_share_of_best = 0.05" in worse
    (directory / "answer.v9.toml").write_text(worse, encoding="utf-8")
    return directory


def test_the_committed_prompt_passes_the_gate_and_a_worse_one_fails_it(platform, tmp_path, capsys):
    tenant = f"{platform.tenant}-eval"
    current = tmp_path / "current.json"
    status = run_eval("--tenant", tenant, "--publish", "--prompt", "answer@v3", "--thresholds", str(THRESHOLDS), "--out", str(current))
    output, errors = capsys.readouterr()
    assert status == 0, output + errors
    assert "passed: every metric of answer@v3" in output

    worse = tmp_path / "worse.json"
    prompts = worse_prompts(tmp_path)
    status = run_eval("--tenant", tenant, "--prompts-dir", str(prompts), "--prompt", "answer@v9",
                      "--thresholds", str(THRESHOLDS), "--out", str(worse), "--markdown", str(tmp_path / "worse.md"))
    output, errors = capsys.readouterr()
    assert status == 1, output + errors
    assert "FAILED answer@v9: refusal_accuracy" in output

    before = json.loads(current.read_text())["versions"]["answer@v3"]["metrics"]
    after = json.loads(worse.read_text())["versions"]["answer@v9"]["metrics"]
    assert after["refusal_accuracy"] < before["refusal_accuracy"]
    assert after["citation_precision"] < before["citation_precision"]
    assert "| answer@v9 |" in (tmp_path / "worse.md").read_text()
