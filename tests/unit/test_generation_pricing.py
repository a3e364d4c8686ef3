import pytest

from ragline.config import ConfigError
from services.generation.pricing import PRICES_FILE, PriceTable, Traffic

TABLE = """
version = "2030-01"
currency = "EUR"
[models.small]
input_per_million = 0.5
output_per_million = 2.0
[on_premises.gpu]
hourly = 3.6
tokens_per_second = 100
"""


@pytest.fixture
def table(tmp_path) -> PriceTable:
    path = tmp_path / "prices.toml"
    path.write_text(TABLE)
    return PriceTable.load(path)


def test_a_cloud_call_costs_its_tokens_and_an_on_premises_call_its_share_of_an_hour(table):
    assert table.cost("small", 1000, 200) == pytest.approx((1000 * 0.5 + 200 * 2.0) / 1e6)
    # 3.6 an hour at 100 tokens/s is 0.00001 per completion token.
    assert table.cost("gpu", 5000, 200) == pytest.approx(200 * 0.00001)
    assert table.cost("unknown-model", 1000, 200) is None
    assert (table.version, table.currency) == ("2030-01", "EUR")


def test_projection_compares_a_cloud_bill_with_an_on_premises_fleet_sized_for_the_peak(table):
    traffic = Traffic(requests_per_day=86_400, prompt_tokens=1000, completion_tokens=200, peak_factor=2.0)

    by_name = {projection.price: projection for projection in table.project(traffic)}

    # 1 request/s on average, 2 at the peak: 400 completion tokens/s need 4 servers.
    assert by_name["gpu"].servers == 4
    assert by_name["gpu"].monthly == pytest.approx(4 * 3.6 * 730)
    assert by_name["small"].monthly == pytest.approx(86_400 * 730 / 24 * (1000 * 0.5 + 200 * 2.0) / 1e6)
    assert by_name["small"].kind == "cloud" and by_name["gpu"].kind == "on-premises"


def test_a_quiet_month_still_pays_for_one_server(table):
    [cloud, onprem] = table.project(Traffic(requests_per_day=10, prompt_tokens=1000, completion_tokens=200))

    assert (cloud.kind, onprem.kind, onprem.servers) == ("cloud", "on-premises", 1)


def test_the_shipped_table_loads():
    table = PriceTable.load(PRICES_FILE)
    assert table.version and table.models and table.on_premises


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('currency = "USD"', "version"),
        ('version = "1"\n[models.x]\ninput_per_million = 1\n', "output_per_million"),
        ('version = "1"\n[models.x]\ninput_per_million = -1\noutput_per_million = 1\n', ">= 0"),
        ('version = "1"\n[on_premises.x]\nhourly = 1\ntokens_per_second = 0\n', "throughput > 0"),
    ],
)
def test_a_bad_table_stops_the_service(tmp_path, body, message):
    path = tmp_path / "prices.toml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=message):
        PriceTable.load(path)
