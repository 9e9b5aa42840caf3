"""Grafana provisioning: the InfluxDB datasource and the file provider for the dashboards."""

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


def dump_yaml(stack: Stack, document: dict[str, Any]) -> str:
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10_000)
    return header(stack.name) + body


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
    # Grafana expands ${VAR} in provisioning files from its own environment.
    if influx.version == 1:
        source["user"] = influx.reader.user
        source["jsonData"] = {"dbName": influx.database, "httpMode": "POST", "timeInterval": "10s"}
        source["secureJsonData"] = {"password": influx.reader.password.reference}
    else:
        source["jsonData"] = {
            "version": "Flux",
            "organization": influx.organization,
            "defaultBucket": influx.database,
            "timeInterval": "10s",
        }
        source["secureJsonData"] = {"token": influx.reader.password.reference}
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
