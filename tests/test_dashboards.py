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


def test_one_row_per_group_one_panel_per_sensor(tmp_path):
    (board,) = dashboards(INVENTORIES / "lab-local.yml", tmp_path)
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert rows == ["climat", "air", "eau", "serre", "énergie"]
    series = [p for p in board["panels"] if p["type"] == "timeseries"]
    assert len(series) == 12
    co2 = next(p for p in series if p["title"] == "CO2 salle 1")
    defaults = co2["fieldConfig"]["defaults"]
    assert defaults["unit"] == "ppm"
    assert (defaults["min"], defaults["max"]) == (400, 5000)
    assert [s["value"] for s in defaults["thresholds"]["steps"]] == [None, 1000, 1500]
    assert 'r["idCapteur"] == "CO2_salle1"' in co2["targets"][0]["query"]
    serre = next(p for p in series if p["title"] == "Humidité serre")
    assert 'r["sensor"] == "H_serre"' in serre["targets"][0]["query"]


def test_seed_panel_queries_the_seed_measurement(tmp_path):
    (board,) = dashboards(INVENTORIES / "polysource.yml", tmp_path)
    assert board["uid"] == "polysource-overview"
    panel = next(p for p in board["panels"] if p["type"] == "timeseries")
    assert panel["fieldConfig"]["defaults"]["unit"] == "lengthm"
    assert panel["datasource"] == {"type": "influxdb", "uid": "polysource-influxdb"}
    query = panel["targets"][0]["query"]
    assert query.startswith('SELECT mean("valeur") FROM "capteurs" WHERE ("idCapteur" = \'Test_4G\')')


def test_panels_do_not_overlap(tmp_path):
    (board,) = dashboards(INVENTORIES / "lab-local.yml", tmp_path)
    cells = set()
    for panel in board["panels"]:
        g = panel["gridPos"]
        area = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & area, panel["title"]
        assert g["x"] + g["w"] <= 24
        cells |= area


def test_unit_table_only_names_grafana_units():
    units = json.loads((GRAFANA / "units.jsonschema.json").read_text())
    known = {d.get("const") for d in units["definitions"].values()}
    assert set(GRAFANA_UNITS.values()) <= known
