"""Grafana provisioning: the InfluxDB datasource and the file provider for the dashboards."""

import json
import re
from typing import Any

import yaml

from polysource.render.dashboards import DATASOURCE_UID
from polysource.render.header import header
from polysource.stack import Stack, paths

DATASOURCES_FILE = f"{paths.GRAFANA_PROVISIONING_DIR}/datasources/influxdb.yaml"
DASHBOARD_PROVIDER_FILE = f"{paths.GRAFANA_PROVISIONING_DIR}/dashboards/polysource.yaml"


class _Dumper(yaml.SafeDumper):
    """Shared objects written out each time: no &anchors for a reader to chase."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def yaml_body(document: Any) -> str:
    return str(yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10_000))


def dump_yaml(stack: Stack, document: dict[str, Any]) -> str:
    return header(stack.name) + yaml_body(document)


_encode_string = getattr(json.encoder, "c_encode_basestring", None) or json.encoder.encode_basestring
# Characters YAML wants escaped inside "..." that JSON leaves as they are: DEL, C1 controls, the
# Unicode line and paragraph separators (YAML would fold them into spaces), a BOM.
_YAML_UNPRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")


def yaml_scalar(value: str | float) -> str:
    """A string as a double-quoted YAML scalar (JSON's escapes are YAML's too), or a number as
    PyYAML writes it (a float always with a dot, so every YAML reader takes it for a float)."""
    if isinstance(value, str):
        quoted = _encode_string(value)
        if (not quoted.isascii() or "\x7f" in quoted) and _YAML_UNPRINTABLE.search(quoted):
            quoted = _YAML_UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)
        return str(quoted)
    if isinstance(value, float):
        text = repr(value)
        return text.replace("e", ".0e", 1) if "." not in text and "e" in text else text
    return str(value)


def render_datasource(stack: Stack) -> str:
    influx = stack.influx
    source: dict[str, Any] = {
        "name": "InfluxDB",
        "type": "influxdb",
        "uid": DATASOURCE_UID,
        "access": "proxy",
        "url": influx.url_inside,
        "isDefault": True,
        "editable": False,
    }
    source |= stack.dialect.grafana_source()
    return dump_yaml(stack, {"apiVersion": 1, "datasources": [source]})


def render_dashboard_provider(stack: Stack) -> str:
    provider = {
        "name": stack.name,
        "orgId": 1,
        "folder": stack.name,
        "type": "file",
        "disableDeletion": False,
        "updateIntervalSeconds": 30,
        # Provisioned dashboards come from the inventory: UI edits would be lost on re-render.
        "allowUiUpdates": False,
        "options": {"path": paths.GRAFANA_DASHBOARDS_MOUNT},
    }
    return dump_yaml(stack, {"apiVersion": 1, "providers": [provider]})
