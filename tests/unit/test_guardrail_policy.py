"""Policies as versioned files per tenant: merged over the default, validated, reloaded without a restart."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from ragline.config import ConfigError
from services.guardrail.policy import BLOCK, FLAG, POLICY_DIR, REDACT, PolicyStore, Screen


@pytest.fixture
def folder(tmp_path):
    shutil.copytree(POLICY_DIR, tmp_path / "policies")
    return tmp_path / "policies"


def rewrite(path, text: str) -> None:
    path.write_text(text)
    # Some file systems keep coarse timestamps: make the change visible.
    later = time.time() + 2
    os.utime(path, (later, later))


def test_the_shipped_policies_parse_and_name_their_version():
    versions = PolicyStore(POLICY_DIR).validate()
    assert versions[0].startswith("default@2026.12.2+")
    assert any(version.startswith("example-strict@1+") for version in versions)


def test_a_tenant_file_overrides_parts_of_the_default(folder):
    store = PolicyStore(folder)
    default, strict = store.for_tenant("acme"), store.for_tenant("example-strict")
    assert default.treatment(Screen.DOCUMENT, "pii.email").name == "redact"
    assert strict.treatment(Screen.DOCUMENT, "pii.email").name == "hash"
    assert strict.treatment(Screen.DOCUMENT, "pii.payment_card").name == "mask"
    # What the tenant file does not mention comes from the default.
    assert strict.action(Screen.INPUT, "injection.override") == BLOCK
    assert strict.max_input_chars == 2000 and default.max_input_chars == 4000
    assert strict.allows_host("docs.ragline.dev") and not default.allows_host("docs.ragline.dev")
    assert strict.version.startswith("example-strict@1+")


def test_actions_fall_back_to_the_category_then_to_flag(folder):
    policy = PolicyStore(folder).for_tenant("acme")
    assert policy.action(Screen.INPUT, "injection.override") == BLOCK
    assert policy.action(Screen.DOCUMENT, "pii.email") == REDACT
    assert policy.action(Screen.OUTPUT, "something.new") == FLAG


def test_a_changed_file_is_reloaded_without_a_restart_and_changes_the_version(folder):
    store = PolicyStore(folder, check_interval_s=0.0)
    before = store.for_tenant("acme")
    tenant_file = folder / "tenants" / "acme.yaml"
    rewrite(tenant_file, 'version: "7"\ninput:\n  actions:\n    pii: block\n')
    after = store.for_tenant("acme")
    assert after.version.startswith("acme@7+") and after.version != before.version
    assert after.action(Screen.INPUT, "pii.email") == BLOCK

    rewrite(tenant_file, 'version: "8"\ninput:\n  actions:\n    pii: flag\n')
    assert store.for_tenant("acme").version.startswith("acme@8+")
    tenant_file.unlink()
    assert store.for_tenant("acme").version.startswith("default@")


def test_a_broken_edit_keeps_the_last_good_policy(folder, caplog):
    store = PolicyStore(folder, check_interval_s=0.0)
    good = store.for_tenant("acme")
    rewrite(folder / "default.yaml", "version: [unclosed\n")
    assert store.for_tenant("acme") == good
    assert "previous version stays in force" in caplog.text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("input: {actions: {pii: flag}}", "`version` is required"),
        ('version: "1"\ninput: {actions: {pii: shred}}', "'shred' is not one of"),
        ('version: "1"\noutput: {allowed_link_hosts: ["https://x.example/"]}', "is not a host name"),
        ('version: "1"\ninput: {thresholds: {injection.classifier: 2}}', "outside 0.0..1.0"),
        ('version: "1"\ninput: {max_char: 10}', "unknown keys ['max_char']"),
        ('version: "1"\nextra: true', "unknown keys ['extra']"),
    ],
)
def test_a_bad_policy_stops_the_service_at_start_with_the_file_and_key(folder, text, message):
    rewrite(folder / "default.yaml", text)
    with pytest.raises(ConfigError, match="default.yaml") as raised:
        PolicyStore(folder)
    assert message in str(raised.value)


def test_a_missing_default_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="default policy"):
        PolicyStore(tmp_path)


def test_tenant_ids_that_are_not_file_names_get_the_default(folder):
    store = PolicyStore(folder)
    assert store.for_tenant("../tenants/example-strict").version.startswith("default@")
