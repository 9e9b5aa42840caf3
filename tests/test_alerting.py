"""Alert provisioning, checked offline as far as this machine can (Grafana cannot run here):

- every key is one Grafana's provisioning structs read (pkg/services/provisioning/alerting:
  AlertRuleGroupV1, AlertRuleV1, QueryV1, ContactPointV1, ReceiverV1), nothing invented;
- each rule, contact point and policy, mapped as Grafana maps them, validates against Grafana's
  published alerting JSON Schema (vendored from grafana-foundation-sdk);
- the rules hold together: condition and expressions name existing refIds, datasources exist,
  uids are unique and valid, durations parse, states are ones Grafana knows;
- Grafana's `$VAR` expansion of the file (its provisioning `values` package semantics, `$$` a
  literal `$`) gives back the intended texts and the webhook from Grafana's environment, and
  the file holds no secret;
- each rule's query, run on the real InfluxDB 1.8 and 2.7, finds a publishing sensor's reading
  and nothing for a silent one (the no-data state the silence rule alerts on).
"""

import json
import re

import jsonschema
import pytest
import yaml

from helpers import SEED, VENDOR, write_inventory
from polysource.pipeline import fresh_files, load_stack

SCHEMA = json.loads((VENDOR / "grafana-foundation-sdk" / "alerting.jsonschema.json").read_text())
ALERTING = "grafana/provisioning/alerting/polysource.yaml"
# The fields of Grafana's provisioning structs (yaml tags), read in pkg/services/provisioning/alerting.
FIELDS = {
    "file": {"apiVersion", "groups", "deleteRules", "contactPoints", "deleteContactPoints", "policies"}
    | {"resetPolicies", "templates", "deleteTemplates", "muteTimes", "deleteMuteTimes"},
    "group": {"orgId", "name", "folder", "interval", "rules"},
    "rule": {"uid", "title", "condition", "data", "dasboardUid", "dashboardUid", "panelId", "noDataState"}
    | {"execErrState", "for", "keepFiringFor", "missing_series_evals_to_resolve", "annotations", "labels"}
    | {"isPaused", "notification_settings", "record"},
    "query": {"refId", "queryType", "relativeTimeRange", "datasourceUid", "model"},
    "range": {"from", "to"},
    "contact": {"orgId", "name", "receivers"},
    "receiver": {"uid", "type", "settings", "disableResolveMessage"},
}
NO_DATA = {"NoData", "Alerting", "OK", "KeepLast"}
EXEC_ERR = {"Error", "Alerting", "OK", "KeepLast"}
PROM_DURATION = re.compile(r"^((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$")
UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")

ALERTS = """
alerts:
  webhook: ${ALERT_WEBHOOK_URL}
  email: [prof@example.org, lab@example.org]
  smtp: {host: "smtp.example.org:587", user: lab, password: "${SMTP_PASSWORD}", sender: lab@example.org}
  silent_after: 3
"""


def go_expand(text: str, env: dict[str, str]) -> str:
    """os.ExpandEnv as Go defines it: $NAME or ${NAME}; unknown names become empty."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            rest = text[i + 1 :]
            if rest[0] == "{":
                end = rest.find("}")
                if end <= 1:
                    i += 2 if end < 0 else end + 2  # bad syntax: eaten
                    continue
                out.append(env.get(rest[1:end], ""))
                i += end + 2
                continue
            name = re.match(r"[A-Za-z0-9_]+|[*#$@!?\-]", rest)
            if name is None:
                out.append("$")
                i += 1
                continue
            out.append(env.get(name.group(0), ""))
            i += 1 + len(name.group(0))
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def grafana_reads(text: str, env: dict[str, str]) -> str:
    """Grafana's provisioning values: `$$` is a literal `$`, the rest is expanded."""
    return "$".join(go_expand(part, env) for part in text.split("$$"))


def render(tmp_path, extra: str = ALERTS, swap: tuple[str, str] | None = None):
    text = SEED.read_text()
    if swap:
        text = text.replace(*swap)
    inventory = write_inventory(tmp_path, text + extra, "polysource.yml")
    files = fresh_files(inventory, tmp_path / "out")
    return load_stack(inventory), yaml.safe_load(files[ALERTING]), files


def schema_errors(definition: str, instance: dict) -> list[str]:
    validator = jsonschema.Draft7Validator(
        {"definitions": SCHEMA["definitions"], "$ref": f"#/definitions/{definition}"}
    )
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


def unknown(keys, allowed: set[str], where: str) -> list[str]:
    return [f"{where}: {k}" for k in keys if k not in allowed]


def test_the_file_uses_only_grafanas_fields_and_validates(tmp_path):
    stack, document, files = render(tmp_path)
    problems = unknown(document, FIELDS["file"], "file")
    datasources = yaml.safe_load(files["grafana/provisioning/datasources/influxdb.yaml"])["datasources"]
    known_sources = {d["uid"] for d in datasources} | {"__expr__"}
    uids, titles = set(), set()
    for group in document["groups"]:
        problems += unknown(group, FIELDS["group"], "group")
        assert PROM_DURATION.match(group["interval"]) and group["interval"] != ""
        assert group["folder"] and group["name"]
        for rule in group["rules"]:
            problems += unknown(rule, FIELDS["rule"], f"rule {rule['title']}")
            refs = [q["refId"] for q in rule["data"]]
            assert rule["condition"] in refs and len(set(refs)) == len(refs)
            assert rule["noDataState"] in NO_DATA and rule["execErrState"] in EXEC_ERR
            assert PROM_DURATION.match(rule["for"])
            assert UID.match(rule["uid"]) and rule["uid"] not in uids
            assert (group["folder"], rule["title"]) not in titles
            uids.add(rule["uid"])
            titles.add((group["folder"], rule["title"]))
            for query in rule["data"]:
                problems += unknown(query, FIELDS["query"], "query")
                problems += unknown(query["relativeTimeRange"], FIELDS["range"], "range")
                assert query["datasourceUid"] in known_sources
                assert query["model"]["refId"] == query["refId"]
                if query["datasourceUid"] == "__expr__":
                    assert (
                        query["model"]["expression"] in refs
                        and query["model"]["expression"] != query["refId"]
                    )
                    assert query["model"]["type"] in {
                        "reduce",
                        "threshold",
                        "math",
                        "resample",
                        "classic_conditions",
                    }
                else:
                    assert query["relativeTimeRange"]["from"] > query["relativeTimeRange"]["to"] >= 0
            api = {  # as AlertRuleV1.mapToModel and the group's fields give it to the ruler
                **{k: v for k, v in rule.items() if k not in ("for",)},
                "for": rule["for"],
                "orgID": group["orgId"],
                "folderUID": group["folder"],
                "ruleGroup": group["name"],
            }
            problems += schema_errors("Rule", api)
    for point in document["contactPoints"]:
        problems += unknown(point, FIELDS["contact"], "contact point")
        for receiver in point["receivers"]:
            problems += unknown(receiver, FIELDS["receiver"], "receiver")
            problems += schema_errors("ContactPoint", {**receiver, "name": point["name"]})
            assert UID.match(receiver["uid"])
    receivers = {p["name"] for p in document["contactPoints"]}
    for policy in document["policies"]:
        problems += schema_errors("NotificationPolicy", {k: v for k, v in policy.items() if k != "orgId"})
        assert policy["receiver"] in receivers
        for key in ("group_wait", "group_interval", "repeat_interval"):
            assert PROM_DURATION.match(policy[key])
    assert problems == []
    kinds = [r["labels"]["kind"] for g in document["groups"] for r in g["rules"]]
    assert kinds.count("silent") == len(stack.inventory.sensors)


def test_grafana_expands_the_file_into_the_intended_texts_without_secrets(tmp_path):
    swap = ("group: tests", 'group: "cost $HOME ${PATH} $$"')
    stack, document, files = render(tmp_path, swap=swap)
    grafana = stack.service("grafana")
    fake = {s.var: f"secret-value-of-{s.var}" for s in grafana.secrets}
    env = {k: fake[v.var] if hasattr(v, "var") else v for k, v in grafana.environment.items()}
    env |= {"HOME": "/usr/share/grafana", "PATH": "/usr/bin"}
    (group,) = [g for g in document["groups"] if g["name"] != "pi"]  # the Pi's own rules aside
    assert grafana_reads(group["name"], env) == "cost $HOME ${PATH} $$"
    for rule in group["rules"]:
        assert grafana_reads(rule["labels"]["group"], env) == "cost $HOME ${PATH} $$"
        assert grafana_reads(rule["title"], env) == rule["title"].replace("$$", "$")
        assert "$" not in rule["annotations"]["summary"]
    (point,) = document["contactPoints"]
    webhook = next(r for r in point["receivers"] if r["type"] == "webhook")
    assert webhook["settings"]["url"] == "${ALERT_WEBHOOK_URL}"
    assert grafana_reads(webhook["settings"]["url"], env) == fake["ALERT_WEBHOOK_URL"]
    email = next(r for r in point["receivers"] if r["type"] == "email")
    assert grafana_reads(email["settings"]["addresses"], env) == "prof@example.org;lab@example.org"
    assert env["GF_SMTP_PASSWORD"] == fake["SMTP_PASSWORD"] and env["GF_SMTP_HOST"] == "smtp.example.org:587"
    assert not any(
        value in content.decode(errors="replace") for value in fake.values() for content in files.values()
    )


def test_email_without_a_mail_server_is_refused(tmp_path):
    text = SEED.read_text() + "\nalerts: {email: [prof@example.org]}\n"
    from helpers import run_cli

    result = run_cli("render", "-i", str(write_inventory(tmp_path, text)), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "alerts.email" in result.output and "smtp" in result.output


def rule_query(document, sensor: str, kind: str) -> tuple[str, int]:
    rules = [r for g in document["groups"] for r in g["rules"]]
    rule = next(r for r in rules if (r["labels"]["sensor"], r["labels"]["kind"]) == (sensor, kind))
    query = next(q for q in rule["data"] if q["refId"] == "A")
    return query["model"]["query"], query["relativeTimeRange"]["from"]


@pytest.mark.parametrize("version", [1, 2])
def test_each_rules_query_runs_on_the_real_influxdb(version, make_pipeline, mosquitto, influxdb, influxdb2):
    from test_promises import seed_through

    server = influxdb if version == 1 else influxdb2
    telegraf = seed_through(make_pipeline, mosquitto, server)
    inventory = telegraf.output.parent / "inventory.yml"
    text = inventory.read_text().replace(
        "sensors:\n", "sensors:\n  Silent_1: {stream: capteurs, unit: m, interval: 10s}\n", 1
    )
    text = text.replace("Test_4G: {", "Test_4G: {thresholds: [{value: 50, color: red}], ", 1)
    inventory.write_text(text + '\nalerts: {webhook: "${ALERT_WEBHOOK_URL}"}\n')
    files = fresh_files(inventory, telegraf.output)
    document = yaml.safe_load(files[ALERTING])
    for sensor, kind, expected in (
        ("Test_4G", "threshold", [99.9]),
        ("Test_4G", "silent", [1]),
        ("Silent_1", "silent", []),
    ):
        query, seconds = rule_query(document, sensor, kind)
        if version == 1:
            from influx_http import influxql

            text = query.replace("$timeFilter", f"time > now() - {seconds}s")
            rows = influxql(server.url, server.database, ("grafana", server.read_password), text)
            found = [r.get("last", r.get("count")) for r in rows]
        else:
            rows = server.flux(
                query.replace("v.timeRangeStart", f"-{seconds}s").replace("v.timeRangeStop", "now()")
            )
            found = [float(r["_value"]) for r in rows]
        assert found == expected, (sensor, kind, query)


# Every family of text a YAML reader treats specially, in the free-text fields a rule carries.
YAML_HOSTILE = [
    'quote " and \\ backslash',
    "colon: space # hash",
    "- dash * star & amp ! bang | pipe > gt % pct @ at ` tick",
    "{{ braces }} [brackets], commas",
    "yes",
    "null",
    "1e5",
    "line\u2028separator \u2029 paragraph \u0085 next line",
    "del \x7f and c1 \x9b",
    "del \x7f alone, the rest ASCII",
    "emoji 🌡 and é µg",
    "'single' quotes",
    "  spaces around  ",
]


@pytest.mark.parametrize("text", YAML_HOSTILE)
def test_a_quoted_scalar_reads_back_as_written(text):
    from polysource.render.grafana_provisioning import yaml_scalar

    assert yaml.safe_load(f"k: {yaml_scalar(text)}\n")["k"] == text
    assert yaml.safe_load(f"k: [{yaml_scalar(text)}]\n")["k"] == [text]  # inside a flow collection


@pytest.mark.parametrize("value", [0.1, 1e-05, 1e22, -3.0, 12.5, 7])
def test_a_number_reads_back_as_a_number(value):
    from polysource.render.grafana_provisioning import yaml_scalar

    assert yaml.safe_load(f"k: {yaml_scalar(value)}\n")["k"] == value


def test_rules_read_back_as_the_inventory_says(tmp_path):
    """The rules are written as text (for speed at 10,000 sensors): the inventory's texts must
    read back exactly, whatever YAML would otherwise make of them."""
    accepted = [t for t in YAML_HOSTILE if t.isprintable()]
    sensors = "".join(
        f"  S{i}: {{stream: capteurs, unit: m, name: {json.dumps(t, ensure_ascii=False)},"
        f" group: {json.dumps(t[::-1], ensure_ascii=False)},"
        f" thresholds: [{{value: 1e-05, color: red}}]}}\n"
        for i, t in enumerate(accepted)
    )
    text = SEED.read_text().replace("sensors:\n", "sensors:\n" + sensors, 1)
    inventory = write_inventory(tmp_path, text + ALERTS, "polysource.yml")
    document = yaml.safe_load(fresh_files(inventory, tmp_path / "out")[ALERTING])
    rules = {r["uid"]: r for g in document["groups"] for r in g["rules"]}
    for i, t in enumerate(accepted):
        mine = [r for r in rules.values() if r["labels"]["sensor"] == f"S{i}"]
        assert {r["labels"]["group"] for r in mine} == {t[::-1]}
        assert all(r["annotations"]["summary"].startswith(t) for r in mine)
        (threshold,) = [r for r in mine if r["labels"]["kind"] == "threshold"]
        assert threshold["data"][2]["model"]["conditions"][0]["evaluator"]["params"] == [1e-05]
    assert {g["name"] for g in document["groups"]} >= {t[::-1] for t in accepted}


def test_thresholds_close_together_are_two_rules_with_their_own_titles(tmp_path):
    swap = (
        "group: tests",
        "group: tests, thresholds: [{value: 5, color: red}, {value: 5.0000001, color: orange}]",
    )
    _, document, _ = render(tmp_path, swap=swap)
    rules = [r for g in document["groups"] for r in g["rules"] if r["labels"]["kind"] == "threshold"]
    assert [r["title"] for r in rules] == ["Test_4G: above 5 m", "Test_4G: above 5.0000001 m"]
    assert len({r["uid"] for r in rules}) == 2
    values = [r["data"][2]["model"]["conditions"][0]["evaluator"]["params"][0] for r in rules]
    assert values == [5, 5.0000001]


def test_a_rules_uid_stays_what_it_was(tmp_path):
    """Grafana keys a rule's state, silences and history by its uid: a new polysource (a faster
    way of computing it) must give the seed's rules the uids they had."""
    _, document, _ = render(
        tmp_path, swap=("group: tests", "group: tests, thresholds: [{value: 5, color: red}]")
    )
    uids = {r["title"]: r["uid"] for g in document["groups"] for r in g["rules"]}
    assert uids["Test_4G: silent"] == "ps-555cb8aba43220ccf0e7"
    assert uids["Test_4G: above 5 m"] == "ps-bddf5b257dbf39e7f5d5"
    assert uids["Pi: No writes for 5 minutes"] == "ps-955eeb9976c24ccf25eb"
