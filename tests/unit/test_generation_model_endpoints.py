import pytest

from ragline.config import ConfigError
from services.generation.model_endpoints import ModelEndpoint, endpoints_from_env

VARIABLES = ("RAGLINE_MODEL_BASE_URL", "RAGLINE_MODEL_API_KEY", "RAGLINE_MODEL_NAME", "RAGLINE_MODEL_TIMEOUT_S",
             "OPENAI_BASE_URL", "OPENAI_API_KEY", "RAGLINE_MODEL_ENDPOINTS_FILE", "TEST_CLOUD_KEY")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_no_endpoint_configured_means_extractive():
    assert endpoints_from_env() == []


def test_ragline_variables_win_over_the_openai_ones(monkeypatch):
    monkeypatch.setenv("RAGLINE_MODEL_BASE_URL", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://elsewhere/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.setenv("RAGLINE_MODEL_NAME", "qwen2.5-7b-instruct")
    monkeypatch.setenv("RAGLINE_MODEL_TIMEOUT_S", "12.5")

    assert endpoints_from_env() == [
        ModelEndpoint("default", "http://127.0.0.1:8000/v1", "qwen2.5-7b-instruct", "sk-openai", 12.5, "qwen2.5-7b-instruct")
    ]


def test_an_openai_key_alone_selects_the_openai_api(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.setenv("RAGLINE_MODEL_NAME", "gpt-4.1-mini")

    [endpoint] = endpoints_from_env()

    assert (endpoint.base_url, endpoint.api_key, endpoint.timeout_s) == ("https://api.openai.com/v1", "sk-openai", 60.0)
    assert endpoint.server == ("api.openai.com", 443)


def test_a_keyless_self_hosted_endpoint_works(monkeypatch):
    monkeypatch.setenv("RAGLINE_MODEL_BASE_URL", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("RAGLINE_MODEL_NAME", "llama")

    assert endpoints_from_env()[0].api_key == "unused"


def test_a_configured_endpoint_without_a_model_name_stops_the_service(monkeypatch):
    monkeypatch.setenv("RAGLINE_MODEL_BASE_URL", "http://127.0.0.1:8000/v1")

    with pytest.raises(ConfigError, match="RAGLINE_MODEL_NAME is required"):
        endpoints_from_env()


def test_an_endpoints_file_gives_the_routing_order_keys_timeouts_and_prices(monkeypatch, tmp_path):
    path = tmp_path / "endpoints.toml"
    path.write_text(
        '[[endpoints]]\nname = "cloud"\nbase_url = "https://api.example/v1"\nmodel = "gpt-4.1-mini"\n'
        'api_key_env = "TEST_CLOUD_KEY"\ntimeout_s = 20\n\n'
        '[[endpoints]]\nname = "onprem"\nbase_url = "http://vllm:8000/v1"\nmodel = "qwen"\nprice = "vllm-l4-8b"\n'
    )
    monkeypatch.setenv("RAGLINE_MODEL_ENDPOINTS_FILE", str(path))
    monkeypatch.setenv("TEST_CLOUD_KEY", "sk-cloud")

    cloud, onprem = endpoints_from_env()

    assert cloud == ModelEndpoint("cloud", "https://api.example/v1", "gpt-4.1-mini", "sk-cloud", 20.0, "gpt-4.1-mini")
    assert onprem == ModelEndpoint("onprem", "http://vllm:8000/v1", "qwen", "unused", 60.0, "vllm-l4-8b")
    assert onprem.server == ("vllm", 8000)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "lists no"),
        ('[[endpoints]]\nname = "a"\nbase_url = "http://x/v1"\n', "has no model"),
        ('[[endpoints]]\nname = "a b"\nbase_url = "http://x/v1"\nmodel = "m"\n', "name 'a b'"),
        ('[[endpoints]]\nname = "a"\nbase_url = "ftp://x"\nmodel = "m"\n', "not an http"),
        ('[[endpoints]]\nname = "a"\nbase_url = "http://x/v1"\nmodel = "m"\napi_key_env = "TEST_CLOUD_KEY"\n', "TEST_CLOUD_KEY, which is not set"),
        ('[[endpoints]]\nname = "a"\nbase_url = "http://x/v1"\nmodel = "m"\ntimeout_s = 0\n', "timeout_s=0"),
        ('[[endpoints]]\nname = "a"\nbase_url = "http://x/v1"\nmodel = "m"\n[[endpoints]]\nname = "a"\nbase_url = "http://y/v1"\nmodel = "m"\n', "unique"),
        ("[[endpoints]\n", "not valid TOML"),
    ],
)
def test_a_bad_endpoints_file_stops_the_service_naming_the_problem(monkeypatch, tmp_path, body, message):
    path = tmp_path / "endpoints.toml"
    path.write_text(body)
    monkeypatch.setenv("RAGLINE_MODEL_ENDPOINTS_FILE", str(path))

    with pytest.raises(ConfigError, match=message):
        endpoints_from_env()


def test_the_shipped_example_loads_and_every_endpoint_in_it_has_a_price(monkeypatch):
    from pathlib import Path

    from services.generation.pricing import PRICES_FILE, PriceTable

    example = Path(__file__).parents[2] / "services" / "generation" / "config" / "endpoints.example.toml"
    monkeypatch.setenv("RAGLINE_MODEL_ENDPOINTS_FILE", str(example))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")

    endpoints = endpoints_from_env()

    assert [endpoint.name for endpoint in endpoints] == ["openai", "vllm-onprem"]
    prices = PriceTable.load(PRICES_FILE)
    assert all(prices.cost(endpoint.price, 1000, 100) is not None for endpoint in endpoints)
