"""A permanent guard, property-based (Hypothesis): whatever the inventory holds, render ends with
exit 0 and output that parses, or exit 2 and one located line per problem; never a traceback,
never a secret in output/ or in a message. The budget is bounded for CI (POLYSOURCE_FUZZ_EXAMPLES).
"""

import json
import os
import re
import shutil
import tomllib

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import MINIMAL
from polysource.cli import main

EXAMPLES = int(os.environ.get("POLYSOURCE_FUZZ_EXAMPLES", "1000"))  # ~15 s a test here
SECRET_VALUE = "s3cret-in-dotenv-3f9a"
LITERAL = "hunter2-literal-77c1"
LOCATED = re.compile(r"^.+:\d+:\d+: .+$")

ODD_TEXT = st.sampled_from(
    [
        "", " ", "x", "a b", "0012", "no", "yes", "null", "~", "2024-13-45", "1e309", "nan", ".inf", "-1",
        "'", '"', "\\", "${X}", "${PATH}", "$(rm -rf /)", "`id`", "a\nb", "a\tb", "\x00", "\x7f", "\u2028",
        "é", "µg/m3", "°C", "🌡️", "x" * 300, "#", "+", "/", "a/b", "{sensor}", "{}", "[]", "::1",
        "localhost:8883", "mqtts://h", "-leading", ".dot", "_internal", "time", "topic", "ssl://x",
        "unix:///var/run/docker.sock", "ssh://pi@pi", "registry.lan/grafana:11", "inventory.yml",
        LITERAL, f"${{{'MQTT_PASSWORD'}}}",
    ]
)  # fmt: skip
SCALARS = st.one_of(
    ODD_TEXT,
    st.text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(ODD_TEXT, st.text(max_size=8)), inner, max_size=4),
    ),
    max_leaves=12,
)
KEYS = [
    ("project",),
    ("brokers", "cloud", "host"),
    ("brokers", "cloud", "port"),
    ("brokers", "cloud", "transport"),
    ("brokers", "cloud", "path"),
    ("brokers", "cloud", "username"),
    ("brokers", "cloud", "password"),
    ("brokers", "cloud", "ca_file"),
    ("brokers", "cloud", "fallback"),
    ("brokers", "cloud", "managed"),
    ("brokers", "cloud", "clients"),
    ("streams", "capteurs", "broker"),
    ("streams", "capteurs", "topic"),
    ("streams", "capteurs", "format"),
    ("streams", "capteurs", "format", "value"),
    ("streams", "capteurs", "format", "sensor"),
    ("streams", "capteurs", "measurement"),
    ("streams", "capteurs", "qos"),
    ("streams", "capteurs", "client_id"),
    ("sensors", "Test_4G", "unit"),
    ("sensors", "Test_4G", "name"),
    ("sensors", "Test_4G", "min"),
    ("sensors", "Test_4G", "max"),
    ("sensors", "Test_4G", "group"),
    ("sensors", "Test_4G", "interval"),
    ("sensors", "Test_4G", "thresholds"),
    ("storage", "influxdb", "version"),
    ("storage", "influxdb", "database"),
    ("storage", "influxdb", "retention"),
    ("storage", "influxdb", "port"),
    ("storage", "influxdb", "write_password"),
    ("grafana", "port"),
    ("grafana", "admin_user"),
    ("target", "docker_host"),
    ("target", "platform"),
    ("target", "images"),
    ("devices", "board", "stream"),
    ("devices", "board", "sensors"),
    ("devices", "board", "username"),
    ("devices", "board", "password"),
    ("devices", "board", "modem"),
    ("devices", "board", "tags"),
    ("devices", "board", "client_id"),
    ("devices", "board", "pins"),
    ("devices", "board", "board"),
    ("devices", "board", "keepalive"),
    ("devices", "board", "interval"),
    ("storage", "influxdb", "downsample"),
    ("backup", "keep"),
    ("backup", "schedule"),
    ("backup", "to"),
    ("alerts", "webhook"),
    ("alerts", "email"),
    ("alerts", "smtp"),
    ("alerts", "silent_after"),
    ("target", "storage_gb"),
    ("devices",),
    ("sensors",),
    ("streams",),
    ("brokers",),
]


def _set(document: dict, path: tuple[str, ...], value) -> None:
    for key in path[:-1]:
        child = document.get(key)
        if not isinstance(child, dict):
            child = document[key] = {}
        document = child
    document[path[-1]] = value


SECRET_FIELDS = {"password", "write_password", "clients", "webhook", "smtp"}


def _leaves(value) -> list:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def _keys(value) -> list:
    if isinstance(value, dict):
        return [*value, *(k for v in value.values() for k in _keys(v))]
    if isinstance(value, list):
        return [k for v in value for k in _keys(v)]
    return []


def check(tmp_path, data: bytes, literal_is_secret: bool = False) -> None:
    inventory = tmp_path / "inventory.yml"
    inventory.write_bytes(data)
    out = tmp_path / "out"
    shutil.rmtree(out, ignore_errors=True)  # examples share tmp_path
    result = CliRunner().invoke(main, ["render", "-i", str(inventory), "-o", str(out)], catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"traceback for {data[:300]!r}") from result.exception
    assert result.exit_code in (0, 1, 2), result.output
    assert SECRET_VALUE not in result.output, result.output
    assert not literal_is_secret or LITERAL not in result.output, result.output
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        assert lines and all(LOCATED.match(line) and line.startswith(str(inventory)) for line in lines), lines
        assert not out.exists() or not any(out.iterdir()), (data[:400], sorted(out.rglob("*")))
    elif result.exit_code == 0:
        for path in out.rglob("*"):
            if not path.is_file():
                continue
            content = path.read_bytes()
            assert SECRET_VALUE.encode() not in content, path
            text = content.decode()
            if path.suffix == ".conf" and path.parent.name == "telegraf":
                tomllib.loads(text)
            elif path.suffix in (".yml", ".yaml"):
                yaml.safe_load(text)
            elif path.suffix == ".json":
                json.loads(text)
    else:  # 1: an output problem, never an inventory one; output/ is fresh here
        raise AssertionError(result.output)


def _prepare(tmp_path) -> None:
    (tmp_path / ".env").write_text(f"MQTT_PASSWORD={SECRET_VALUE}\nX={SECRET_VALUE}\n")
    (tmp_path / "ca.pem").write_text("not a certificate\n")


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=os.environ.get("CI") == "true",
    database=None,
)


@FUZZ
@given(edits=st.lists(st.tuples(st.sampled_from(KEYS), VALUES), min_size=1, max_size=4))
def test_any_value_anywhere(tmp_path, edits):
    _prepare(tmp_path)
    document = yaml.safe_load(MINIMAL)
    for path, value in edits:
        _set(document, path, value)
    try:
        data = yaml.safe_dump(document, allow_unicode=True).encode()
    except yaml.YAMLError:
        return
    secret = any(path[-1] in SECRET_FIELDS and LITERAL in _leaves(value) for path, value in edits)
    public = any(path[-1] not in SECRET_FIELDS and LITERAL in repr(value) for path, value in edits)
    public |= any(LITERAL in _keys(value) for _, value in edits)  # a name (of a device, ...) is no secret
    check(tmp_path, data, literal_is_secret=secret and not public)


@FUZZ
@given(
    cuts=st.lists(
        st.tuples(
            st.integers(0, len(MINIMAL)), st.integers(0, 6), st.binary(max_size=6) | ODD_TEXT.map(str.encode)
        ),
        min_size=1,
        max_size=5,
    )
)
def test_any_bytes_anywhere(tmp_path, cuts):
    _prepare(tmp_path)
    data = MINIMAL.encode()
    for at, drop, insert in cuts:
        data = data[:at] + insert + data[at + drop :]
    check(tmp_path, data)


REGRESSIONS = [
    b"a: &a [*a]\n",
    b"project: 2024-13-45\n",
    b"project: !!timestamp 2024-02-30\n",
    b"project: !!int abc\n",
    MINIMAL.encode("utf-16"),
    MINIMAL.replace("demo", "d\xe9mo").encode("latin-1"),
    MINIMAL.replace("unit: m}", "unit: m, min: .nan, max: .inf}").encode(),
    MINIMAL.replace("polysource/capteurs", '"polysource/\\x7f"').encode(),
    MINIMAL.replace("value: valeur", "value: time").encode(),
    MINIMAL.replace("${MQTT_PASSWORD}", LITERAL).encode(),
]


def test_regressions(tmp_path):
    _prepare(tmp_path)
    for data in REGRESSIONS:
        check(tmp_path, data, literal_is_secret=True)
