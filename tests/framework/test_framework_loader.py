"""The framework file: the bundled UK one loads with the right shape, and broken
files are refused with a ConfigurationError naming the file and the key at fault."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from accord.errors import ConfigurationError
from accord.framework import DEFAULT_FRAMEWORK, load_framework

DPV = "https://w3id.org/dpv#"


@pytest.fixture(scope="module")
def framework():  # noqa: ANN201
    return load_framework()


@pytest.fixture
def raw() -> dict:
    """A fresh copy of the bundled file's content, for each test to break in its own way."""
    return yaml.safe_load(DEFAULT_FRAMEWORK.read_text(encoding="utf-8"))


def test_bundled_framework_loads_by_default(framework) -> None:  # noqa: ANN001
    assert framework.id == "uk-dea-2017-part5"
    assert framework.jurisdiction == "United Kingdom"
    assert framework.areas == ("England", "Wales", "Scotland", "Northern Ireland")
    assert load_framework(DEFAULT_FRAMEWORK) == framework


def test_six_gateways(framework) -> None:  # noqa: ANN001
    assert set(framework.gateways) == {
        "public_service_delivery", "civil_registration", "debt", "fraud", "research", "statistics",
    }  # fmt: skip


def test_public_service_delivery_objectives_are_the_closed_list(framework) -> None:  # noqa: ANN001
    psd = framework.gateways["public_service_delivery"]
    assert set(psd.objectives) == {"multiple_disadvantages", "fuel_poverty", "water_poverty", "tv_retuning"}
    for name, gateway in framework.gateways.items():
        if name != "public_service_delivery":
            assert gateway.objectives == {}, name


def test_debt_and_fraud_are_the_pilots(framework) -> None:  # noqa: ANN001
    pilots = {name for name, gateway in framework.gateways.items() if gateway.pilot}
    assert pilots == {"debt", "fraud"}
    for name in pilots:
        assert framework.gateways[name].pilot_max_duration == "P2Y"
        assert framework.gateways[name].pilot_limit().days == 731  # two years from the 2000-01-01 anchor
    assert framework.gateways["research"].pilot_limit() is None


def test_every_purpose_is_a_dpv_term(framework) -> None:  # noqa: ANN001
    for name, gateway in framework.gateways.items():
        assert str(gateway.dpv_purpose).startswith(DPV), name
        assert len(str(gateway.dpv_purpose)) > len(DPV), name
        for objective_name, objective in gateway.objectives.items():
            assert str(objective.dpv_purpose).startswith(DPV), objective_name
    assert framework.purpose_iri("fraud") == DPV + "FraudPreventionAndDetection"
    assert framework.purpose_iri("public_service_delivery", "fuel_poverty") == DPV + "PublicBenefit"
    assert framework.purpose_iri("public_service_delivery", "no_such_objective") == DPV + "ImprovePublicServices"


def test_research_never_allows_direct_identifiers(framework) -> None:  # noqa: ANN001
    assert "direct_identifier" not in framework.gateways["research"].data_categories


def test_objective_widens_who_may_receive(framework) -> None:  # noqa: ANN001
    psd = framework.gateways["public_service_delivery"]
    assert "energy_supplier" in psd.allowed_recipients("fuel_poverty")
    assert "energy_supplier" not in psd.allowed_recipients("multiple_disadvantages")
    assert "energy_supplier" not in psd.allowed_recipients(None)
    assert "energy_supplier" not in psd.allowed_disclosers("fuel_poverty")
    assert "water_company" in psd.allowed_recipients("water_poverty")
    assert "broadcaster_support" in psd.allowed_recipients("tv_retuning")


def test_gateway_lookup(framework) -> None:  # noqa: ANN001
    assert framework.gateway("research").section == "DEA 2017 s.64"
    assert framework.gateway("tax") is None


# ---------------------------------------------------------------- broken files


def _write(tmp_path: Path, raw: dict, name: str = "framework.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _refused(path: Path) -> str:
    with pytest.raises(ConfigurationError) as refused:
        load_framework(path)
    message = str(refused.value)
    assert str(path) in message
    return message


def test_a_copy_of_the_bundled_file_loads(tmp_path: Path, raw: dict, framework) -> None:  # noqa: ANN001
    assert load_framework(_write(tmp_path, raw)) == framework


def test_another_jurisdiction_is_another_file(tmp_path: Path) -> None:
    other = {
        "id": "elsewhere-2030",
        "title": "Data Sharing Act 2030",
        "jurisdiction": "Elsewhere",
        "areas": ["North", "South"],
        "field_categories": {"attribute": "Other information."},
        "field_types": ["string"],
        "body_types": {"ministry": "A ministry."},
        "gateways": {
            "benefits": {
                "title": "Benefits",
                "section": "s.1",
                "summary": "Sharing for benefits.",
                "dpv_purpose": DPV + "PublicBenefit",
                "disclosers": ["ministry"],
                "recipients": ["ministry"],
                "data_categories": ["attribute"],
            }
        },
    }
    framework = load_framework(_write(tmp_path, other))
    assert framework.id == "elsewhere-2030"
    assert list(framework.gateways) == ["benefits"]


def test_missing_file(tmp_path: Path) -> None:
    message = _refused(tmp_path / "absent.yaml")
    assert "does not exist" in message


def test_a_directory_is_not_a_framework_file(tmp_path: Path) -> None:
    assert "cannot be read" in _refused(tmp_path)


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("id: x\ngateways:\n  debt: [unclosed\n", encoding="utf-8")
    message = _refused(path)
    assert "is not valid YAML" in message
    assert "line" in message


@pytest.mark.parametrize("content", ["", "- a list\n- not a mapping\n", "just a string\n"])
def test_top_level_must_be_a_mapping(tmp_path: Path, content: str) -> None:
    path = tmp_path / "flat.yaml"
    path.write_text(content, encoding="utf-8")
    assert "must be a mapping at the top level" in _refused(path)


def test_unknown_body_type_in_a_gateway(tmp_path: Path, raw: dict) -> None:
    raw["gateways"]["debt"]["recipients"] = ["local_authority", "bailiff"]
    message = _refused(_write(tmp_path, raw))
    assert "gateways.debt: unknown body type 'bailiff'" in message


def test_unknown_body_type_in_an_objective(tmp_path: Path, raw: dict) -> None:
    raw["gateways"]["public_service_delivery"]["objectives"]["fuel_poverty"]["extra_recipients"] = ["gas_board"]
    message = _refused(_write(tmp_path, raw))
    assert "gateways.public_service_delivery: unknown body type 'gas_board'" in message


def test_unknown_category(tmp_path: Path, raw: dict) -> None:
    raw["gateways"]["research"]["data_categories"] = ["attribute", "biometric"]
    message = _refused(_write(tmp_path, raw))
    assert "gateways.research.data_categories: unknown category 'biometric'" in message


def test_pilot_without_max_duration(tmp_path: Path, raw: dict) -> None:
    del raw["gateways"]["fraud"]["pilot_max_duration"]
    message = _refused(_write(tmp_path, raw))
    assert "gateways.fraud: a pilot gateway needs pilot_max_duration" in message


def test_pilot_max_duration_must_be_iso_8601(tmp_path: Path, raw: dict) -> None:
    raw["gateways"]["debt"]["pilot_max_duration"] = "two years"
    message = _refused(_write(tmp_path, raw))
    assert "gateways.debt.pilot_max_duration" in message


@pytest.mark.parametrize(
    ("where", "key"),
    [
        ((), "colour"),
        (("gateways", "debt"), "pilot_length"),
        (("gateways", "public_service_delivery", "objectives", "tv_retuning"), "budget"),
    ],
)
def test_extra_keys_are_refused(tmp_path: Path, raw: dict, where: tuple[str, ...], key: str) -> None:
    target = raw
    for part in where:
        target = target[part]
    target[key] = "unexpected"
    message = _refused(_write(tmp_path, raw))
    assert ".".join([*where, key]) in message
    assert "Extra inputs are not permitted" in message


@pytest.mark.parametrize("key", ["id", "gateways", "body_types", "areas"])
def test_missing_top_level_keys_are_named(tmp_path: Path, raw: dict, key: str) -> None:
    del raw[key]
    message = _refused(_write(tmp_path, raw))
    assert f"{key}: Field required" in message


def test_missing_gateway_key_is_named(tmp_path: Path, raw: dict) -> None:
    del raw["gateways"]["statistics"]["dpv_purpose"]
    assert "gateways.statistics.dpv_purpose: Field required" in _refused(_write(tmp_path, raw))


def test_a_purpose_must_be_a_url(tmp_path: Path, raw: dict) -> None:
    raw["gateways"]["civil_registration"]["dpv_purpose"] = "not a url"
    assert "gateways.civil_registration.dpv_purpose" in _refused(_write(tmp_path, raw))


def test_every_problem_is_listed(tmp_path: Path, raw: dict) -> None:
    raw["gateways"]["debt"]["recipients"] = ["bailiff"]
    raw["gateways"]["research"]["data_categories"] = ["biometric"]
    with pytest.raises(ConfigurationError) as refused:
        load_framework(_write(tmp_path, raw))
    problem = " ".join(refused.value.problems)
    assert "bailiff" in problem and "biometric" in problem


def test_settings_choose_the_framework_file(tmp_path: Path, raw: dict) -> None:
    from accord.config import load_settings
    from accord.runtime import Hub

    raw["gateways"]["debt"]["recipients"] = ["bailiff"]
    broken = _write(tmp_path, raw)
    settings = load_settings(data_dir=tmp_path, environment="test", framework_file=broken)
    with pytest.raises(ConfigurationError) as refused:
        Hub.open(settings, upgrade=False)
    assert str(broken) in str(refused.value)


# ---------------------------------------------------------------- multiple-disadvantage factors


def _md(raw: dict) -> dict:
    return raw["gateways"]["public_service_delivery"]["objectives"]["multiple_disadvantages"]


def test_multiple_disadvantages_lists_its_factors_with_indicators(framework) -> None:  # noqa: ANN001
    objective = framework.gateways["public_service_delivery"].objectives["multiple_disadvantages"]
    assert objective.min_factors == 2
    assert {"worklessness", "crime_asb", "education", "children_in_need", "domestic_abuse", "health"} <= set(
        objective.factors
    )
    police = [i for i in objective.factors["crime_asb"].indicators if i.field == "incident_type"]
    assert police and set(police[0].values) == {"anti_social_behaviour", "offence"}
    assert objective.factors["health"].indicators[0].values == (True,)  # YAML true stays a boolean
    assert framework.gateways["public_service_delivery"].objectives["fuel_poverty"].factors == {}


@pytest.mark.parametrize("minimum", [0, 99])
def test_min_factors_must_fit_the_list(tmp_path: Path, raw: dict, minimum: int) -> None:
    _md(raw)["min_factors"] = minimum
    message = _refused(_write(tmp_path, raw))
    assert "min_factors must be between 1 and the number of factors" in message


def test_a_factor_needs_an_indicator(tmp_path: Path, raw: dict) -> None:
    _md(raw)["factors"]["health"]["indicators"] = []
    message = _refused(_write(tmp_path, raw))
    assert "objectives.multiple_disadvantages.factors.health.indicators" in message


def test_an_indicator_names_a_field_and_values(tmp_path: Path, raw: dict) -> None:
    _md(raw)["factors"]["health"]["indicators"] = [{"data": "health records", "field": "Mental Health!", "values": []}]
    message = _refused(_write(tmp_path, raw))
    assert "factors.health.indicators.0.field" in message and "factors.health.indicators.0.values" in message


def test_an_indicator_names_no_body(tmp_path: Path, raw: dict) -> None:
    _md(raw)["factors"]["health"]["indicators"][0]["body"] = "northshire-nhs"
    assert "factors.health.indicators.0.body" in _refused(_write(tmp_path, raw))
