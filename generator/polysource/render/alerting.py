"""Grafana alerting, file-provisioned: a rule per sensor threshold, a rule per sensor that falls
silent, a contact point and the notification policy, all from the inventory.

The format is Grafana's provisioning file for alerting (`apiVersion: 1`, `groups`,
`contactPoints`, `policies`; pkg/services/provisioning/alerting). Grafana expands `$VAR` and
`${VAR}` in every text of that file except the queries' `model`, and reads `$$` as `$`: texts
from the inventory are escaped, and the webhook URL stays a `${VAR}` reference that Grafana
resolves from its own environment.
"""

import hashlib
from typing import Any

from polysource.inventory.durations import seconds
from polysource.inventory.model import Sensor
from polysource.render.dashboards import DATASOURCE_UID
from polysource.render.grafana_provisioning import dump_yaml
from polysource.stack import Stack, paths
from polysource.stack.model import AlertFacts
from polysource.stack.queries import alert_query

ALERTING_FILE = f"{paths.GRAFANA_PROVISIONING_DIR}/alerting/polysource.yaml"
EXPRESSION = {"type": "__expr__", "uid": "__expr__"}
EVALUATE_EVERY = "1m"
MIN_RANGE_S = 600


def grafana_text(text: str) -> str:
    """Text Grafana's provisioning expands (titles, labels, names): `$` doubled to stay `$`."""
    return text.replace("$", "$$")


def annotation_text(sensor_id: str, sensor: Sensor) -> str:
    """Annotations are not expanded (Grafana's file-provisioning docs, "Template variable
    interpolation"), but versions differ: a name with a `$` gives way to the sensor id."""
    return sensor_id if sensor.name is None or "$" in sensor.name else sensor.name


def rule_uid(stack: Stack, *parts: str) -> str:
    """At most 40 of [A-Za-z0-9_-], stable across renders."""
    digest = hashlib.sha256("\0".join((stack.name, *parts)).encode()).hexdigest()[:20]
    return f"ps-{digest}"


def silent_window_s(sensor: Sensor, alerts: AlertFacts) -> int:
    return int(seconds(sensor.interval) * alerts.silent_after)


def _data(
    stack: Stack, sensor_id: str, function: str, range_s: int, evaluator: dict[str, Any]
) -> list[dict[str, Any]]:
    """A: the sensor's last reading (or count) over the range; B: one number; C: the condition."""
    query: dict[str, Any] = {
        "refId": "A",
        "datasource": {"type": "influxdb", "uid": DATASOURCE_UID},
        "query": alert_query(stack.influx, stack.series[sensor_id], function),
        "intervalMs": 1000,
        "maxDataPoints": 43200,
    }
    if stack.influx.version == 1:
        query |= {"rawQuery": True, "resultFormat": "time_series"}
    reduce = {"refId": "B", "datasource": EXPRESSION, "type": "reduce", "expression": "A", "reducer": "last"}
    condition = {
        "refId": "C",
        "datasource": EXPRESSION,
        "type": "threshold",
        "expression": "B",
        "conditions": [{"evaluator": evaluator}],
    }
    return [
        {
            "refId": "A",
            "relativeTimeRange": {"from": range_s, "to": 0},
            "datasourceUid": DATASOURCE_UID,
            "model": query,
        },
        {
            "refId": "B",
            "relativeTimeRange": {"from": 0, "to": 0},
            "datasourceUid": "__expr__",
            "model": reduce,
        },
        {
            "refId": "C",
            "relativeTimeRange": {"from": 0, "to": 0},
            "datasourceUid": "__expr__",
            "model": condition,
        },
    ]


def _rule(
    stack: Stack, sensor_id: str, sensor: Sensor, kind: str, title: str, summary: str, **fields: Any
) -> dict[str, Any]:
    labels = {"polysource": stack.name, "sensor": sensor_id, "group": sensor.group, "kind": kind}
    labels |= fields.pop("labels", {})
    return {
        "uid": rule_uid(stack, sensor_id, kind, title),
        "title": grafana_text(title),
        "condition": "C",
        "data": fields.pop("data"),
        "execErrState": "Error",
        "annotations": {"summary": summary},
        "labels": {key: grafana_text(str(value)) for key, value in labels.items()},
        "isPaused": False,
        **fields,
    }


def sensor_rules(stack: Stack, sensor_id: str, sensor: Sensor, alerts: AlertFacts) -> list[dict[str, Any]]:
    """The sensor's silence rule, then one rule per threshold (above it for `pending`)."""
    name = annotation_text(sensor_id, sensor)
    window = silent_window_s(sensor, alerts)
    rules = [
        _rule(
            stack,
            sensor_id,
            sensor,
            "silent",
            f"{sensor_id}: silent",
            f"{name} sent nothing for {window} s ({alerts.silent_after} intervals of {sensor.interval}).",
            data=_data(stack, sensor_id, "count", window, {"type": "lt", "params": [1]}),
            noDataState="Alerting",  # no reading in the window is the point of this rule
            **{"for": "0s"},
        )
    ]
    range_s = max(MIN_RANGE_S, int(3 * seconds(sensor.interval)))
    for threshold in sorted(sensor.thresholds, key=lambda t: t.value):
        rules.append(
            _rule(
                stack,
                sensor_id,
                sensor,
                "threshold",
                f"{sensor_id}: above {threshold.value:g} {sensor.unit}",
                f"{name} is above {threshold.value:g} {sensor.unit} ({threshold.color}).",
                data=_data(stack, sensor_id, "last", range_s, {"type": "gt", "params": [threshold.value]}),
                noDataState="OK",  # silence has its own rule
                labels={"severity": threshold.color},
                **{"for": alerts.pending},
            )
        )
    return rules


def contact_point(stack: Stack, alerts: AlertFacts) -> dict[str, Any]:
    receivers = []
    if alerts.webhook:
        receivers.append(
            {
                "uid": rule_uid(stack, "webhook"),
                "type": "webhook",
                "settings": {"url": alerts.webhook.reference, "httpMethod": "POST"},
                "disableResolveMessage": False,
            }
        )
    if alerts.emails:
        receivers.append(
            {
                "uid": rule_uid(stack, "email"),
                "type": "email",
                "settings": {"addresses": grafana_text(";".join(alerts.emails)), "singleEmail": True},
                "disableResolveMessage": False,
            }
        )
    return {"orgId": 1, "name": receiver_name(stack), "receivers": receivers}


def receiver_name(stack: Stack) -> str:
    return grafana_text(f"{stack.name} alerts")


def render_alerting(stack: Stack) -> str | None:
    """The provisioning file, or None when the inventory has no `alerts:`."""
    alerts = stack.grafana.alerts
    if alerts is None:
        return None
    groups: dict[str, list[dict[str, Any]]] = {}
    for sensor_id, sensor in stack.inventory.sensors.items():
        groups.setdefault(sensor.group, []).extend(sensor_rules(stack, sensor_id, sensor, alerts))
    document = {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": grafana_text(group),
                "folder": grafana_text(stack.name),  # the dashboards' folder
                "interval": EVALUATE_EVERY,
                "rules": rules,
            }
            for group, rules in groups.items()
        ],
        "contactPoints": [contact_point(stack, alerts)],
        "policies": [
            {
                "orgId": 1,
                "receiver": receiver_name(stack),
                "group_by": ["grafana_folder", "alertname", "sensor"],
                "group_wait": "30s",
                "group_interval": "5m",
                "repeat_interval": "4h",
            }
        ],
    }
    return dump_yaml(stack, document)
