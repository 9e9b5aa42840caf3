"""Hostile input, round three: YAML's own readings (every scalar read once, as YAML 1.2's core
schema reads it, before any rule runs; numbers beyond their target and tags on collections
located), the names render generates reserved once, and fields that contradict each other.
Each a located error or a correct result, never a traceback or a silent drop."""

import json

import pytest

from helpers import MINIMAL, run_cli, write_inventory
from polysource.inventory.yaml_load import NOT_PLAIN, parse_data, parse_located


def swap(old: str, new: str) -> str:
    assert old in MINIMAL, old
    return MINIMAL.replace(old, new)


def render(tmp_path, text: str):
    path = write_inventory(tmp_path, text)
    result = run_cli("render", "-i", str(path), "-o", str(tmp_path / "out"))
    assert "Traceback" not in result.output
    return result, path


REFUSED = {
    "a port with a leading zero (YAML 1.1: octal 1536)": (
        MINIMAL + "grafana: {port: 03000}\n",
        "grafana.port: cannot read this value: 03000 has a leading zero, which YAML 1.1 reads as octal",
    ),
    "min above max written with exponents": (
        swap("unit: m}", "unit: m, min: 5e1, max: 1e1}"),
        "sensors.Test_4G.max: max (10.0) must be above min (50.0)",
    ),
    "one threshold written two ways": (
        swap("unit: m}", "unit: m, thresholds: [{value: 2.8e1, color: red}, {value: 28, color: orange}]}"),
        "sensors.Test_4G.thresholds[1].value: 28 is already thresholds[0]",
    ),
    "an integer of 400 digits": (
        swap("unit: m}", f"unit: m, max: {'9' * 400}}}"),
        "sensors.Test_4G.max: cannot read this value: a number of 400 digits is beyond any setting's range",
    ),
    "a float beyond a double": (
        swap("unit: m}", "unit: m, min: -1e400}"),
        "sensors.Test_4G.min: cannot read this value: -1e400 is beyond a 64-bit float's range",
    ),
    "a tag on a mapping": (
        swap(
            "  Test_4G: {stream: capteurs, unit: m}", "  Test_4G: !!python/object/apply:os.system {stream: x}"
        ),
        "sensors.Test_4G: cannot read this value: a mapping tagged 'tag:yaml.org,2002:python/object/apply",
    ),
    "a tag on a list": (
        swap("unit: m}", "unit: m, thresholds: !!python/tuple [{value: 1, color: red}]}"),
        "sensors.Test_4G.thresholds: cannot read this value: a list tagged",
    ),
    "a set (a tagged mapping)": (
        swap("unit: m}", "unit: m, thresholds: !!set {a, b}}"),
        "sensors.Test_4G.thresholds: cannot read this value: a mapping tagged 'tag:yaml.org,2002:set'",
    ),
}


def refused_with_a_located_line(tmp_path, text: str, expected: str) -> None:
    result, path = render(tmp_path, text)
    assert result.exit_code == 2, result.output
    assert expected in result.stderr, result.stderr
    for line in result.stderr.strip().splitlines():
        assert line.startswith(f"{path}:"), line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_with_a_located_line(tmp_path, case):
    refused_with_a_located_line(tmp_path, *REFUSED[case])


def test_exponents_are_numbers_for_the_rules_and_the_dashboards(tmp_path):
    """`5e1` is 50 for the min/max rule and for the panel's axis alike (YAML 1.1 read it as text:
    the rule skipped it while the model turned it into a number)."""
    result, _ = render(tmp_path, swap("unit: m}", "unit: m, min: 5e1, max: 1.5e2}"))
    assert result.exit_code == 0, result.output
    board = json.loads((tmp_path / "out/grafana/dashboards/demo-default.json").read_text())
    (panel,) = [p for p in board["panels"] if p.get("type") == "timeseries"]
    assert (panel["fieldConfig"]["defaults"]["min"], panel["fieldConfig"]["defaults"]["max"]) == (50.0, 150.0)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3000", 3000),
        ("-5", -5),
        ("0", 0),
        ("0x1F", 31),
        ("0o17", 15),
        ("5e1", 50.0),
        ("1.5", 1.5),
        (".5", 0.5),
        ("1_000", "1_000"),  # YAML 1.1's 1000; text in 1.2, and so for the model's checks
        ("1:30", "1:30"),  # YAML 1.1's sexagesimal 90
        ("'03000'", "03000"),  # quoted: text, as written
        ("true", True),
    ],
)
def test_scalars_read_as_yaml_1_2_core(text, value):
    located = parse_located(f"a: {text}\n")
    assert located.problems == []
    assert located.data == {"a": value} and type(located.data["a"]) is type(value)


PLAIN_DOCUMENTS = [
    "a: 5e1\nb: [1, 0o17, '03000', .5, true, null, ~, 1_000]\nc: {d: {e: [[], {}]}}\n",
    "sensors:\n  S1: {stream: s, unit: °C, min: -0.0}\n  'no': {name: \"x\\u00e9\"}\n",
    "- 1\n- two\n",
    "just text\n",
    "",
]
NOT_PLAIN_DOCUMENTS = {
    "anchor": "a: &x 1\nb: *x\n",
    "tag": "a: !!str 5\n",
    "merge": "a: {x: 1}\nb:\n  <<: {x: 2}\n",
    "duplicate key": "a: 1\na: 2\n",
    "duplicate nested": "a: {b: 1, b: 2}\n",
    "unreadable": "a: 03000\n",
    "float beyond a double": "a: 1e999\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "mapping as a key": "? {a: 1}\n: 2\n",
    "syntax": "a: [1, 2\n",
    "too deep": "a: " + "[" * 70 + "]" * 70 + "\n",
}


@pytest.mark.parametrize("text", PLAIN_DOCUMENTS)
def test_a_sound_document_reads_the_same_without_positions(text):
    """parse_data, what loading a sound inventory uses, gives parse_located's data."""
    located = parse_located(text)
    assert located.problems == []
    data = parse_data(text)
    assert data == located.data and repr(data) == repr(located.data)  # -0.0 and types too


@pytest.mark.parametrize("text", NOT_PLAIN_DOCUMENTS.values(), ids=list(NOT_PLAIN_DOCUMENTS))
def test_what_needs_positions_is_left_to_the_located_parse(text):
    """A problem anywhere (or what only the node path reads): parse_data declines, and loading
    reads the document again with positions, for the messages."""
    assert parse_data(text) is NOT_PLAIN


def test_the_same_readings_with_anchors_and_tags():
    """The node path (anchors, aliases, tags) reads numbers as the fast path does."""
    located = parse_located("a: &n 5e1\nb: *n\nc: !!str 5e1\nd: [&z 03000, *z]\n")
    assert located.data["a"] == located.data["b"] == 50.0 and located.data["c"] == "5e1"
    assert located.problems and all("03000 has a leading zero" in p[3] for p in located.problems)


@pytest.mark.parametrize("anchored", [False, True])
def test_fifty_thousand_sensors_are_no_alias_bomb(anchored):
    """The value budget counts what aliases add, not the file's own values (5 MB bounds those):
    50,000 sensors were refused as "an alias bomb?", with an anchor or without."""
    base = "x: &unit {unit: m}\n" if anchored else ""
    lines = [f"  S{i:05d}: {{stream: capteurs, unit: m, min: 0, max: 100}}" for i in range(50_000)]
    located = parse_located(base + "sensors:\n" + "\n".join(lines) + "\n")
    assert len(located.data["sensors"]) == 50_000 and located.problems == []


# --- names render generates, reserved once ----------------------------------------------------


def sensors(group: str, count: int, start: int = 0) -> str:
    return "".join(
        f"  S{i:03d}: {{stream: capteurs, unit: m, group: {group}}}\n" for i in range(start, start + count)
    )


def test_a_group_named_like_another_groups_second_page_is_refused_naming_both(tmp_path):
    """49 sensors in `climat` make two dashboards, demo-climat and demo-climat-2: a group
    `climat-2` took the second page's uid, and one dashboard was silently lost."""
    text = MINIMAL.replace(
        "  Test_4G: {stream: capteurs, unit: m}\n", sensors("climat", 49) + sensors("climat-2", 1, 49)
    )
    result, path = render(tmp_path, text)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert (
        line.startswith(f"{path}:62:44:")
        and "sensors.S049.group: group 'climat-2' would be dashboard demo-climat-2" in line
    )
    assert "group 'climat' (page 2)'s already" in line


def test_a_group_named_like_another_groups_digest_uid_is_refused(tmp_path):
    from polysource.dashboard_names import group_uid

    taken = group_uid("demo", "Température", 1)  # not plain ASCII: a readable prefix and a digest
    suffix = taken.removeprefix("demo-")
    text = MINIMAL.replace(
        "  Test_4G: {stream: capteurs, unit: m}\n", sensors("Température", 1) + sensors(suffix, 1, 1)
    )
    result, _ = render(tmp_path, text)
    assert result.exit_code == 2 and f"group {suffix!r} would be dashboard {taken}" in result.stderr


def test_a_group_spelled_like_the_overview_but_for_case_gets_its_own_file(tmp_path):
    """`Overview` was demo-Overview.json beside demo-overview.json: one file on macOS."""
    text = MINIMAL.replace("unit: m}", "unit: m, group: Overview}")
    result, _ = render(tmp_path, text)
    assert result.exit_code == 0, result.output
    files = [p.name.casefold() for p in (tmp_path / "out/grafana/dashboards").iterdir()]
    assert len(files) == len(set(files)) == 3


def test_two_streams_sharing_an_overview_variable_are_refused(tmp_path):
    """Their names normalise alike and their 4-hex digests meet (found by search): one variable
    for two streams' panels."""
    first, second = "s-x-x-x-x-x-x-x-x_x-x_x-x_x-x_x-x", "s-x-x-x-x-x-x-x-x_x_x-x_x-x_x_x_x"
    stream = "    broker: cloud\n    topic: polysource/{n}\n    format: {{value: v}}\n"
    text = MINIMAL.replace(
        "sensors:\n", f"  {first}:\n{stream.format(n=1)}  {second}:\n{stream.format(n=2)}sensors:\n"
    )
    text += f"  A: {{stream: {first}, unit: m}}\n  B: {{stream: {second}, unit: m}}\n"
    result, _ = render(tmp_path, text)
    assert result.exit_code == 2, result.output
    assert f"streams.{second}: its overview variable would be sensor_" in result.stderr


# --- fields that contradict each other ----------------------------------------------------------

SECOND_BROKER = (
    "  local:\n    host: broker.lan\n    managed: {managed}\n    username: u\n    password: ${{P}}\n"
)
CROSS = {
    "a value path inside the sensor's object": (
        swap(
            "format: {value: valeur, sensor: idCapteur, unit: unite}",
            "format: {value: data, sensor: data.id}",
        ),
        "streams.capteurs.topic: format.value ('data') and format.sensor ('data.id') overlap",
    ),
    "managed as the text 'true', beside a host": (
        swap("streams:\n", SECOND_BROKER.format(managed='"true"') + "streams:\n"),
        "brokers.local.managed: expected true or false, got 'true'",
    ),
    "an IPv6 address with a zone": (
        swap("host: broker.example.test", "host: 'fe80::1%lo'"),
        "brokers.cloud.host: 'fe80::1%lo': an address with a zone (%) cannot be a broker's",
    ),
    "a topic that fits alone but not shared by two Telegrafs": (
        swap("topic: polysource/capteurs", "topic: " + "t" * 65_530) + "telegraf: {instances: 2}\n",
        "streams.capteurs.topic: Telegraf would subscribe to 65,542 bytes ($share/demo/tttt",
    ),
    "a bidirectional override in an e-mail address": (
        MINIMAL + "alerts: {email: ['ops@exa\u202emple.org'], smtp: {host: 'smtp.example.org:587', user: u, "
        "password: '${S}', sender: 'a@example.org'}}\n",
        "alerts.email[0]: must be one line of printable text",
    ),
    "a display name in an e-mail address": (
        MINIMAL + "alerts: {email: ['Ops <ops@example.org>'], smtp: {host: 'smtp.example.org:587', user: u, "
        "password: '${S}', sender: 'a@example.org'}}\n",
        "alerts.email[0]: 'Ops <ops@example.org>' is not an address Grafana can send to",
    ),
}


CROSS["a broker account Telegraf would read as a secret-store reference"] = (
    swap("username: pi", "username: ops@{team:iot}"),
    "brokers.cloud.username: 'ops@{team:iot}': Telegraf reads @{...:...} as a secret-store reference",
)


def test_fields_that_contradict_each_other_are_located(tmp_path):
    for case, (text, expected) in sorted(CROSS.items()):
        (tmp_path / case).mkdir()
        refused_with_a_located_line(tmp_path / case, text, expected)


def test_a_secret_telegraf_reads_as_a_store_reference_is_refused_before_any_change():
    from helpers import INVENTORIES
    from polysource.deploy.run import check_secret_values
    from polysource.errors import DeployError
    from polysource.pipeline import load_stack
    from polysource.secrets import SecretValues

    stack = load_stack(INVENTORIES / "polysource.yml")
    values = SecretValues(
        {s: "pw@{team:iot}" if s.var == "HIVEMQ_PASSWORD" else "long enough" for s in stack.secrets}
    )
    with pytest.raises(DeployError, match="HIVEMQ_PASSWORD: holds @") as caught:
        check_secret_values(stack, values)
    assert "team:iot" not in str(caught.value)
