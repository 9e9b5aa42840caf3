"""Grafana alerting, file-provisioned: a rule per sensor threshold, a rule per sensor that falls
silent, a contact point and the notification policy, all from the inventory.

The format is Grafana's provisioning file for alerting (`apiVersion: 1`, `groups`,
`contactPoints`, `policies`; pkg/services/provisioning/alerting). Grafana expands `$VAR` and
`${VAR}` in every text of that file except the queries' `model`, and reads `$$` as `$`: texts
from the inventory are escaped, and the webhook URL stays a `${VAR}` reference that Grafana
resolves from its own environment.
"""

import hashlib
from dataclasses import dataclass
from typing import Any

from polysource.render.dashboards import DATASOURCE_UID
from polysource.render.grafana_provisioning import dump_yaml, yaml_body, yaml_scalar
from polysource.render.text_pieces import Pieces
from polysource.stack import Stack, host, paths
from polysource.stack.model import AlertFacts, SensorFacts

ALERTING_FILE = f"{paths.GRAFANA_PROVISIONING_DIR}/alerting/polysource.yaml"
EXPRESSION = {"type": "__expr__", "uid": "__expr__"}
EVALUATE_EVERY = "1m"
MIN_RANGE_S = 600


def grafana_text(text: str) -> str:
    """Text Grafana's provisioning expands (titles, labels, names): `$` doubled to stay `$`."""
    return text.replace("$", "$$")


def annotation_text(sensor: SensorFacts) -> str:
    """Annotations are not expanded (Grafana's file-provisioning docs, "Template variable
    interpolation"), but versions differ: a name with a `$` gives way to the sensor id."""
    return sensor.id if sensor.name is None or "$" in sensor.name else sensor.name


def exact(value: float) -> str:
    """A threshold as people write it (5, 12.5), yet never two thresholds alike: 5.0000001 is not
    shown as 5, which would give two rules one title and one uid."""
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


def rule_uid(stack: Stack, *parts: str) -> str:
    """At most 40 of [A-Za-z0-9_-], stable across renders."""
    digest = hashlib.sha256("\0".join((stack.name, *parts)).encode()).hexdigest()[:20]
    return f"ps-{digest}"


# One rule as Grafana's provisioning reads it, written as text: at 10,000 sensors (20,000 rules
# and more) building dicts and dumping them with PyYAML took 30 s and 800 MB; filling this takes
# a fraction of a second. Every {field} is a YAML scalar made by yaml_scalar (quoted strings).
# Indented as an item of a group's `rules:`.
RULE = """\
  - uid: {uid}
    title: {title}
    condition: C
    data:
    - refId: A
      relativeTimeRange: {{from: {range_s}, to: 0}}
      datasourceUid: {datasource}
      model:
        refId: A
        datasource: {{type: influxdb, uid: {datasource}}}
        query: {query}
        intervalMs: 1000
        maxDataPoints: 43200{raw}
    - refId: B
      relativeTimeRange: {{from: 0, to: 0}}
      datasourceUid: __expr__
      model:
        refId: B
        datasource: {{type: __expr__, uid: __expr__}}
        type: reduce
        expression: A
        reducer: {reducer}
    - refId: C
      relativeTimeRange: {{from: 0, to: 0}}
      datasourceUid: __expr__
      model:
        refId: C
        datasource: {{type: __expr__, uid: __expr__}}
        type: threshold
        expression: B
        conditions: [{{evaluator: {{type: {operator}, params: [{value}]}}}}]
    execErrState: Error
    annotations: {{summary: {summary}}}
    labels: {{polysource: {project}, sensor: {sensor}, group: {group}, kind: {kind}{severity}}}
    isPaused: false
    noDataState: {no_data}
    for: {pending}
"""
RAW_INFLUXQL = "\n        rawQuery: true\n        resultFormat: time_series"
RULE_PIECES = Pieces.of_format(RULE)


class Rules:
    """RULE with what every rule of a render shares written in once, and the texts many rules
    repeat (a group, a colour) quoted once: a sensor's two rules were 15 µs of Python."""

    def __init__(self, stack: Stack):
        self.stack = stack
        shared = {
            "datasource": yaml_scalar(DATASOURCE_UID),
            "raw": RAW_INFLUXQL if stack.dialect.raw_query else "",
            "project": yaml_scalar(grafana_text(stack.name)),
        }
        self.pieces = RULE_PIECES.partly(shared)
        self._uid = hashlib.sha256(f"{stack.name}\0".encode())  # rule_uid's first part
        self._quoted: dict[str, str] = {}

    def quoted(self, text: str) -> str:
        """yaml_scalar(grafana_text(text)), once per distinct text."""
        found = self._quoted.get(text)
        if found is None:
            found = self._quoted[text] = yaml_scalar(grafana_text(text))
        return found

    def rule(self, subject: str, kind: str, title: str, fields: dict[str, str]) -> str:
        """subject: the sensor (or the Pi's measurement) the rule watches; fields: the rest of
        RULE's (a dict the caller may fill again for its next rule)."""
        digest = self._uid.copy()
        digest.update(f"{subject}\0{kind}\0{title}".encode())
        fields["uid"] = f"ps-{digest.hexdigest()[:20]}"  # rule_uid(stack, subject, kind, title)
        fields["title"] = yaml_scalar(grafana_text(title))
        fields["kind"] = kind
        return self.pieces.fill(fields)


def _common(rules: Rules, sensor: str, group: str) -> dict[str, str]:
    """The fields every rule of a sensor (or of the Pi's metric) starts from."""
    return {
        "sensor": yaml_scalar(grafana_text(sensor)),
        "group": rules.quoted(group),
        "reducer": "last",
        "severity": "",
    }


def sensor_rules(rules: Rules, sensor: SensorFacts, alerts: AlertFacts) -> list[str]:
    """The sensor's silence rule, then one rule per threshold (above it for `pending`)."""
    sensor_id = sensor.id
    name = annotation_text(sensor)
    window = sensor.silent_s
    dialect = rules.stack.dialect
    fields = _common(rules, sensor_id, sensor.group)
    fields["range_s"] = str(window)
    fields["query"] = yaml_scalar(dialect.alert(sensor.series, "count"))
    fields["operator"] = "lt"
    fields["value"] = "1"
    fields["summary"] = yaml_scalar(
        f"{name} sent nothing for {window} s ({alerts.silent_after} intervals of {sensor.interval})."
    )
    fields["no_data"] = "Alerting"  # no reading in the window is the point of this rule
    fields["pending"] = "0s"
    found = [rules.rule(sensor_id, "silent", f"{sensor_id}: silent", fields)]
    if not sensor.thresholds:
        return found
    fields["range_s"] = str(max(MIN_RANGE_S, int(3 * sensor.interval_s)))
    fields["query"] = yaml_scalar(dialect.alert(sensor.series, "last"))
    fields["operator"] = "gt"
    fields["no_data"] = "OK"  # silence has its own rule
    fields["pending"] = yaml_scalar(alerts.pending)
    for threshold in sensor.thresholds:
        shown = exact(threshold.value)
        fields["value"] = yaml_scalar(threshold.value)
        fields["summary"] = yaml_scalar(f"{name} is above {shown} {sensor.unit} ({threshold.color}).")
        fields["severity"] = f", severity: {rules.quoted(threshold.color)}"
        found.append(rules.rule(sensor_id, "threshold", f"{sensor_id}: above {shown} {sensor.unit}", fields))
    return found


PI_GROUP = "pi"  # the rules' group (and label) for the Pi itself; a sensor group "pi" shares it


@dataclass(frozen=True)
class PiRule:
    """One of the Pi's rules: `function` of the metric over the last `range_s` (per `window`
    when given), reduced by `reducer`, compared with `value`."""

    metric: host.HostMetric
    kind: str
    title: str
    summary: str
    function: str
    reducer: str
    operator: str
    value: float
    window: str | None = None
    range_s: int = 600
    no_data: str = "OK"
    pending: str = "0s"


PI_RULES = (
    PiRule(
        host.DISK, "disk", f"Card above {host.DISK_ALERT_PERCENT}% used",
        f"The filesystem holding InfluxDB's data is above {host.DISK_ALERT_PERCENT}% used: shorten the "
        "retention, keep means (downsample) or free the card.",
        "last", "last", "gt", host.DISK_ALERT_PERCENT, pending="10m",
    ),
    PiRule(
        host.THROTTLED, "throttled", "Throttled for 10 minutes",
        "The firmware throttled the SoC for most of 10 minutes (heat or power): check cooling and the "
        "power supply.",
        "mean", "last", "gt", 0.5,
    ),
    PiRule(
        host.WRITE_ERRORS, "writes-failed", "InfluxDB refused writes",
        "Telegraf's writes to InfluxDB failed (refused or unreachable): see polysource logs telegraf "
        "and influxdb.",
        "max", "max", "gt", 0, window=f"{host.EVERY_S}s",
    ),
    PiRule(
        host.RESTARTS, "restarts", f"A container restarted {host.RESTARTS_ALERT} times",
        f"A container restarted {host.RESTARTS_ALERT} times or more in 10 minutes (a restart loop): see "
        "polysource status and polysource logs SERVICE (recorded by the polysource watch timer).",
        "max", "sum", "gt", host.RESTARTS_ALERT - 1, window="1m",
    ),
    PiRule(
        host.WRITES, "writes-stopped", "No writes for 5 minutes",
        "No write statistics from Telegraf reached InfluxDB for 5 minutes: InfluxDB refuses writes, or "
        "Telegraf is down.",
        "count", "last", "lt", 1, range_s=300, no_data="Alerting",
    ),
)  # fmt: skip


def pi_rules(rules: Rules) -> list[str]:
    """The Pi watching itself (stack/host.py): a card filling up, sustained throttling, a
    container restarting in a loop (one alert per service), and InfluxDB refusing Telegraf's
    writes (its own statistics: failed writes, or none arriving, which is also what a refusing
    InfluxDB looks like from Grafana)."""
    stack = rules.stack
    return [
        rules.rule(
            rule.metric.measurement,
            rule.kind,
            f"Pi: {rule.title}",
            _common(rules, rule.metric.measurement, PI_GROUP)
            | {
                "range_s": str(rule.range_s),
                "query": yaml_scalar(
                    stack.dialect.host(rule.metric, rule.function, rule.window, fill="none")
                ),
                "reducer": rule.reducer,
                "operator": rule.operator,
                "value": yaml_scalar(rule.value),
                "summary": yaml_scalar(rule.summary),
                "no_data": rule.no_data,
                "pending": yaml_scalar(rule.pending),
            },
        )
        for rule in PI_RULES
    ]


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
    rules = Rules(stack)
    groups: dict[str, list[str]] = {}
    for sensor in stack.sensors.values():
        groups.setdefault(sensor.group, []).extend(sensor_rules(rules, sensor, alerts))
    groups.setdefault(PI_GROUP, []).extend(pi_rules(rules))
    rest = {
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
    parts = [dump_yaml(stack, {"apiVersion": 1}), "groups:\n"]
    for group, texts in groups.items():
        head = {
            "orgId": 1,
            "name": grafana_text(group),
            "folder": grafana_text(stack.name),  # the dashboards' folder
            "interval": EVALUATE_EVERY,
        }
        parts.append(yaml_body([head]) + "  rules:\n")
        parts += texts
    parts.append(yaml_body(rest))
    return "".join(parts)
