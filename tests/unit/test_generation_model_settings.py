import pytest

from ragline.config import ConfigError
from services.generation.chat_model import ModelSettings

VARIABLES = ("RAGLINE_MODEL_BASE_URL", "RAGLINE_MODEL_API_KEY", "RAGLINE_MODEL_NAME", "RAGLINE_MODEL_TIMEOUT_S",
             "OPENAI_BASE_URL", "OPENAI_API_KEY")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_no_endpoint_configured_means_extractive():
    assert ModelSettings.from_env() is None


def test_ragline_variables_win_over_the_openai_ones(monkeypatch):
    monkeypatch.setenv("RAGLINE_MODEL_BASE_URL", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://elsewhere/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.setenv("RAGLINE_MODEL_NAME", "qwen2.5-7b-instruct")
    monkeypatch.setenv("RAGLINE_MODEL_TIMEOUT_S", "12.5")

    settings = ModelSettings.from_env()

    assert settings == ModelSettings("http://127.0.0.1:8000/v1", "sk-openai", "qwen2.5-7b-instruct", 12.5)


def test_an_openai_key_alone_selects_the_openai_api(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.setenv("RAGLINE_MODEL_NAME", "gpt-4.1-mini")

    settings = ModelSettings.from_env()

    assert (settings.base_url, settings.api_key, settings.timeout_s) == ("https://api.openai.com/v1", "sk-openai", 60.0)


def test_a_keyless_self_hosted_endpoint_works(monkeypatch):
    monkeypatch.setenv("RAGLINE_MODEL_BASE_URL", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("RAGLINE_MODEL_NAME", "llama")

    assert ModelSettings.from_env().api_key == "unused"


def test_a_configured_endpoint_without_a_model_name_stops_the_service(monkeypatch):
    monkeypatch.setenv("RAGLINE_MODEL_BASE_URL", "http://127.0.0.1:8000/v1")

    with pytest.raises(ConfigError, match="RAGLINE_MODEL_NAME is required"):
        ModelSettings.from_env()
