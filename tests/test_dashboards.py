"""Dashboards against Grafana's published dashboard JSON Schema, panel by panel."""

import json

import jsonschema
import pytest

from helpers import INVENTORIES, VENDOR
from polysource.inventory.units import GRAFANA_UNITS
from polysource.pipeline import fresh_files

GRAFANA = VENDOR / "grafana-foundation-sdk"
SCHEMAS = {
    "grafana-12": GRAFANA / "dashboard.jsonschema.json",
    "grafana-11.6": GRAFANA / "dashboard-v11.6.jsonschema.json",
}


def dashboards(inventory, tmp_path):
    files = fresh_files(inventory, tmp_path)
    return [json.loads(v) for k, v in files.items() if k.startswith("grafana/dashboards/")]


def schema_errors(schema: dict, definition: str, instance: dict) -> list[str]:
    sub = {"definitions": schema["definitions"], "$ref": f"#/definitions/{definition}"}
    validator = jsonschema.Draft7Validator(sub)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


def known_false_positive(version: str, error: str) -> bool:
    """The 11.6 schema types a threshold step's value as number, rejecting the null base step
    that Grafana itself writes (fixed in the main schema)."""
    return version == "grafana-11.6" and "thresholds/steps/0/value: None is not of type" in error


def without_null_base_steps(board: dict) -> dict:
    """The dashboard as the 11.6 schema's bug wants it: the whole document must then validate
    (inside an anyOf the bug's error cannot be told from a real one)."""
    text = json.dumps(board).replace('"value": null', '"value": -1e300')
    return json.loads(text)


@pytest.mark.parametrize("version", sorted(SCHEMAS))
@pytest.mark.parametrize("inventory", sorted(INVENTORIES.glob("*.yml")), ids=lambda p: p.name)
def test_dashboards_validate_panel_by_panel(tmp_path, inventory, version):
    schema = json.loads(SCHEMAS[version].read_text())
    for board in dashboards(inventory, tmp_path):
        shell = {**board, "panels": []}
        assert schema_errors(schema, "Dashboard", shell) == []
        for panel in board["panels"]:
            definition = "RowPanel" if panel["type"] == "row" else "Panel"
            errors = [
                e for e in schema_errors(schema, definition, panel) if not known_false_positive(version, e)
            ]
            assert errors == [], f"panel {panel.get('title')!r}: {errors}"
        whole = board if version == "grafana-12" else without_null_base_steps(board)
        full = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(whole)]
        assert full == [], f"{version}: {full}"


def by_uid(inventory, tmp_path) -> dict[str, dict]:
    return {board["uid"]: board for board in dashboards(inventory, tmp_path)}


def test_a_dashboard_per_group_one_panel_per_sensor(tmp_path):
    boards = by_uid(INVENTORIES / "lab-local.yml", tmp_path)
    titles = sorted(b["title"] for b in boards.values())
    assert titles == [f"lab-local: {g}" for g in ["air", "climat", "eau", "overview", "serre", "énergie"]]
    series = [p for b in boards.values() if b["uid"] != "lab-local-overview" for p in b["panels"]]
    assert len(series) == 12
    co2 = next(p for p in series if p["title"] == "CO2 salle 1")
    defaults = co2["fieldConfig"]["defaults"]
    assert defaults["unit"] == "ppm"
    assert (defaults["min"], defaults["max"]) == (400, 5000)
    assert [s["value"] for s in defaults["thresholds"]["steps"]] == [None, 1000, 1500]
    assert 'r["idCapteur"] == "CO2_salle1"' in co2["targets"][0]["query"]
    serre = next(p for p in series if p["title"] == "Humidité serre")
    assert 'r["sensor"] == "H_serre"' in serre["targets"][0]["query"]


def test_the_overview_repeats_one_panel_per_chosen_sensor(tmp_path):
    overview = by_uid(INVENTORIES / "lab-local.yml", tmp_path)["lab-local-overview"]
    variables = {v["name"]: v for v in overview["templating"]["list"]}
    repeated = [p for p in overview["panels"] if p["type"] == "timeseries"]
    assert len(repeated) == 2  # one per stream, whatever the number of sensors
    for panel in repeated:
        variable = variables[panel["repeat"]]
        assert variable["type"] == "query" and variable["multi"] is True
        assert f"${{{panel['repeat']}:json}}" in panel["targets"][0]["query"]
    assert "schema.tagValues" in variables[repeated[0]["repeat"]]["query"]


def test_a_big_group_is_paged_and_uids_stay_unique(tmp_path):
    import yaml

    data = yaml.safe_load((INVENTORIES / "polysource.yml").read_text())
    data.pop("devices", None)
    names = ["a b", "a-b", "overview", "x" * 60]
    data["sensors"] = {
        f"S{i:03d}": {"stream": "capteurs", "unit": "m", "group": names[0] if i < 100 else names[i % 4]}
        for i in range(120)
    }
    inventory = tmp_path / "big.yml"
    inventory.write_text(yaml.safe_dump(data, allow_unicode=True))
    boards = dashboards(inventory, tmp_path)
    uids = [b["uid"] for b in boards]
    assert len(uids) == len(set(uids)) and all(len(u) <= 40 for u in uids)
    assert all(__import__("re").fullmatch(r"[A-Za-z0-9_-]+", u) for u in uids)
    first = [b for b in boards if b["title"].startswith("polysource: a b")]
    assert sorted(len(b["panels"]) for b in first) == [9, 48, 48]  # 105 sensors in "a b"
    assert sum(len(b["panels"]) for b in boards if not b["uid"].endswith("-overview")) == 120


def test_panels_do_not_overlap(tmp_path):
    for board in dashboards(INVENTORIES / "lab-local.yml", tmp_path):
        cells: set[tuple[int, int]] = set()
        for panel in board["panels"]:
            g = panel["gridPos"]
            area = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
            assert not cells & area, panel["title"]
            assert g["x"] + g["w"] <= 24
            cells |= area


def test_long_ranges_read_the_means(tmp_path):
    """With downsampling, every panel reads the retention policy the resolution variable picks,
    and each dashboard links to the long range with a tier chosen."""
    import yaml

    data = yaml.safe_load((INVENTORIES / "polysource.yml").read_text())
    data["storage"] = {"influxdb": {"retention": "30d", "downsample": [{"every": "5m", "keep": "104w"}]}}
    inventory = tmp_path / "tiers.yml"
    inventory.write_text(yaml.safe_dump(data, allow_unicode=True))
    for board in dashboards(inventory, tmp_path):
        (resolution,) = [v for v in board["templating"]["list"] if v["name"] == "resolution"]
        assert [o["value"] for o in resolution["options"]] == ["autogen", "rp_5m"]
        assert any(
            link.get("url", "").startswith("?var-resolution=rp_5m&from=now-104w") for link in board["links"]
        )
        for panel in board["panels"]:
            if panel["type"] == "timeseries":
                assert 'FROM "$resolution"."capteurs"' in panel["targets"][0]["query"]


def test_unit_table_only_names_grafana_units():
    units = json.loads((GRAFANA / "units.jsonschema.json").read_text())
    known = {d.get("const") for d in units["definitions"].values()}
    assert set(GRAFANA_UNITS.values()) <= known
