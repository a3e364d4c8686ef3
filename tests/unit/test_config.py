import pytest

from ragline.config import ConfigError, env_bool, env_int, env_str


def test_a_bad_number_names_the_variable(monkeypatch):
    monkeypatch.setenv("RAGLINE_TEST_BATCH", "lots")
    with pytest.raises(ConfigError, match="RAGLINE_TEST_BATCH='lots' is not a whole number"):
        env_int("RAGLINE_TEST_BATCH", 8)


def test_bounds_are_enforced(monkeypatch):
    monkeypatch.setenv("RAGLINE_TEST_BATCH", "0")
    with pytest.raises(ConfigError, match="below the minimum 1"):
        env_int("RAGLINE_TEST_BATCH", 8, minimum=1)


def test_defaults_apply_when_unset_or_blank(monkeypatch):
    monkeypatch.setenv("RAGLINE_TEST_NAME", "  ")
    assert env_str("RAGLINE_TEST_NAME", "fallback") == "fallback"
    assert env_int("RAGLINE_TEST_MISSING", 8) == 8


def test_required_value_missing_says_so(monkeypatch):
    monkeypatch.delenv("RAGLINE_TEST_REQUIRED", raising=False)
    with pytest.raises(ConfigError, match="RAGLINE_TEST_REQUIRED is required"):
        env_str("RAGLINE_TEST_REQUIRED")


def test_booleans_are_strict(monkeypatch):
    monkeypatch.setenv("RAGLINE_TEST_FLAG", "maybe")
    with pytest.raises(ConfigError, match="not a boolean"):
        env_bool("RAGLINE_TEST_FLAG", False)
