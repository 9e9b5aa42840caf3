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
        # every consumer that expands text: Telegraf and Compose ($), systemd (%), templates ({{)
        "$", "$$", "$FOO", "${FOO}", "${MQTT_PASSWORD", "$${X}", "%", "%h", "%%", "{{ x }}", "{% if %}",
        "{#", "${FOO:-bar}",
        # special files where a file is expected (made by _prepare beside the inventory)
        "fifo.pem", "folder.pem", "zero.pem", "loop.pem", "outside.pem",
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
    ("storage", "influxdb", "publish"),
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
    special = {
        "zero.pem": lambda p: p.symlink_to("/dev/zero"),
        "loop.pem": lambda p: p.symlink_to(p),
        "outside.pem": lambda p: p.symlink_to("/etc/passwd"),
        "fifo.pem": lambda p: os.mkfifo(p),
        "folder.pem": lambda p: p.mkdir(),
    }
    for name, make in special.items():
        if not os.path.lexists(tmp_path / name):
            make(tmp_path / name)


def fuzz(examples: int = EXAMPLES) -> settings:
    """The guard's settings: a bounded budget, derandomized in CI, no example database."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        derandomize=os.environ.get("CI") == "true",
        database=None,
    )


FUZZ = fuzz()


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


# YAML's own spellings of numbers, written raw (safe_dump would quote or normalise them): 1.1's
# octal, sexagesimal and underscores, 1.2's exponents, hex and octal, sizes beyond 64 bits and
# a double, tags on scalars and collections, anchors.
NUMBER_SPELLINGS = st.sampled_from(
    [
        "03000", "0o17", "0x1F", "0b101", "5e1", "-5E+1", "2.8e1", "1_000", "1:30", "9" * 400, "-" + "9" * 30,
        "1e400", "-1e400", ".5", "0.", "00", "-0", "+.inf", ".NaN", "1.0e+39", "-5e39", "!!int 017",
        "!!float 5", "!!str 5e1", "!!python/tuple [1]", "!!set {a}", "!!binary aGk=", "&n 5e1", "[5e1]",
        "{a: 1}", "0x", "0o8", "1e", "e1", "+-1",
    ]
)  # fmt: skip
NUMBER_PLACES = [
    ("unit: m}", "unit: m, min: {a}, max: {b}}}"),
    ("unit: m}", "unit: m, thresholds: [{{value: {a}, color: red}}, {{value: {b}, color: blue}}]}}"),
    ("host: broker.example.test", "host: broker.example.test\n    port: {a}"),
    ("sensors:", "grafana: {{port: {a}}}\nsensors:"),
    ("unit: m}", "unit: m, decimals: {a}, interval: {b}}}"),
]


@FUZZ
@given(place=st.sampled_from(NUMBER_PLACES), a=NUMBER_SPELLINGS, b=NUMBER_SPELLINGS)
def test_yaml_number_spellings_anywhere_a_number_goes(tmp_path, place, a, b):
    _prepare(tmp_path)
    old, new = place
    check(tmp_path, MINIMAL.replace(old, new.format(a=a, b=b), 1).encode())


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
    (MINIMAL + "storage: {influxdb: {publish: false}}\n").encode(),
    (MINIMAL + "storage: {influxdb: {publish: '127.0.0.1:99999999999999999999'}}\n").encode(),
]


def test_regressions(tmp_path):
    _prepare(tmp_path)
    for data in REGRESSIONS:
        check(tmp_path, data, literal_is_secret=True)


# Free text that lands in telegraf.conf, hostile to every expansion Telegraf does on the whole
# file before parsing it ($VAR, ${VAR}, ${VAR:-default}, $$). The real Telegraf's config package
# (tests/standins/telegraf-view) loads the rendered file with every variable such a text could name
# set, and what it read must be what the stack model says: a `$` reaches Telegraf as a `$`.
TELEGRAF_TEXT_KEYS = [
    ("streams", "capteurs", "topic"),
    ("streams", "capteurs", "client_id"),
    ("streams", "capteurs", "measurement"),
    ("streams", "capteurs", "format", "value"),
    ("streams", "capteurs", "format", "sensor"),
    ("streams", "capteurs", "format", "unit"),
    ("brokers", "cloud", "username"),
]
EXPANDING = st.lists(
    st.sampled_from(
        ["$a", "${a}", "$$", "$", "${b:-x}", "$_", "$ab", "a", "b", "%", "%h", "{{", "}}", "-", "x", "'"]
    ),
    min_size=1,
    max_size=6,
).map("".join)
NAMES = ["".join(p) for n in range(1, 5) for p in __import__("itertools").product("ab_", repeat=n)]
TRAPS = {name: f"EXPANDED-{name}" for name in NAMES if not name[0].isdigit()}


@settings(
    max_examples=max(10, EXAMPLES // 10),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=os.environ.get("CI") == "true",
    database=None,
)
@given(edits=st.lists(st.tuples(st.sampled_from(TELEGRAF_TEXT_KEYS), EXPANDING), min_size=1, max_size=3))
def test_text_with_dollars_reaches_the_real_telegraf_as_written(tmp_path, edits):
    import subprocess

    from polysource.pipeline import load_stack
    from polysource.secrets import Secret
    from services import telegraf_view

    view = telegraf_view()
    _prepare(tmp_path)
    document = yaml.safe_load(MINIMAL)
    for path, value in edits:
        _set(document, path, value)
    check(tmp_path, yaml.safe_dump(document, allow_unicode=True).encode())
    conf = tmp_path / "out" / "telegraf" / "telegraf.conf"
    if not conf.exists():
        return  # refused, located: check() proved it
    env = {"PATH": "/usr/bin:/bin", "MQTT_PASSWORD": SECRET_VALUE, "INFLUXDB_WRITE_PASSWORD": "x", **TRAPS}
    loaded = subprocess.run([view, conf], env=env, capture_output=True, text=True, timeout=60)
    assert loaded.returncode == 0, (edits, loaded.stderr)
    (read,) = json.loads(loaded.stdout)["consumers"]
    stack = load_stack(tmp_path / "inventory.yml")
    stream = stack.streams["capteurs"]
    (config,) = read["json_v2"]
    assert read["topics"] == [stream.subscription], edits
    assert read["client_id"] == stream.client_id, edits
    assert config["MeasurementName"] == stream.measurement, edits
    assert [f["Path"] for f in config["Fields"]] == [stream.value_path], edits
    assert {t["Path"] for t in config["Tags"]} == set(stream.tag_paths), edits
    user = stack.brokers["cloud"].credential.user
    # A user name may be a ${VAR} reference on purpose (a secret user): that one is expanded.
    expected = env.get(user.var, user.reference) if isinstance(user, Secret) else user
    assert read["username"] == expected, edits


ENV_PIECES = st.lists(
    st.sampled_from(
        [
            SECRET_VALUE,
            " ",
            "\t",
            "#",
            " #",
            "'",
            '"',
            "\\",
            "\\n",
            "\\'",
            '\\"',
            "\\$",
            "$",
            "$$",
            "${",
            "}",
            "$HOME",
            "\\0101",
            "\\0",
            "=",
            ":",
            "\n",
            "\r\n",
            "é",
            "\x85",
            "\xa0",
            "\u2028",
            "export ",
        ]
    ),  # fmt: skip
    max_size=12,
)


@fuzz(min(EXAMPLES, 200))
@given(pieces=ENV_PIECES, before=st.sampled_from(["", "export ", "# c\n", "KEY=first\n"]))
def test_any_env_line_reads_as_compose_reads_it_or_is_refused_located(tmp_path, pieces, before):
    """A .env line of quotes, escapes, comments, `$` and line breaks around a secret: polysource
    reads what the real Compose v2 reads, or refuses it with a located line that never shows the
    value."""
    from test_envfile import compose_reads

    from polysource.errors import SecretsError
    from polysource.secrets import read_dotenv

    text = f"{before}KEY={''.join(pieces)}\n"
    path = tmp_path / ".env"
    path.write_bytes(text.encode())
    try:
        ours = read_dotenv(path)
    except SecretsError as error:
        assert LOCATED.match(str(error)) and str(error).startswith(str(path)), str(error)
        assert SECRET_VALUE not in str(error)
        return
    theirs = compose_reads(tmp_path, text)
    assert ours.get("KEY") == (theirs or {}).get("KEY"), text


MODULE_FRAGMENTS = [
    "raise SystemExit(0)\n",
    "raise SystemExit('x')\n",
    "import sys\nsys.exit(3)\n",
    "import os\nos.chdir('/')\n",
    "import sys\nsys.path.insert(0, '/nowhere')\n",
    "import sys\nsys.argv[:] = ['stolen']\n",
    "import os\nos.environ['MQTT_PASSWORD'] = 'changed-by-module'\n",
    "raise KeyboardInterrupt\n",
    "x = 1 / 0\n",
    "def f():\n    return f()\nf()\n",
    "dashboard = 42\n",
    "dashboard = Dashboard(title='', uid='blank')\n",
    "dashboard = Dashboard(title='Bad', uid='bad uid!')\n",
    "dashboard = Dashboard(title='Odd', uid='odd', panels=[1, 'two', None])\n",
    "dashboard = Dashboard(title='Nan', uid='nan', panels=[TimeSeries(title='n', gridPos=GridPos(h=8, w=12,"
    " x=0, y=0), valueMin=float('nan'))])\n",
    "dashboard = Dashboard(title='Fine', uid='fine')\n",
]


@fuzz(min(EXAMPLES, 150))
@given(fragments=st.lists(st.sampled_from(MODULE_FRAGMENTS), min_size=1, max_size=3))
def test_any_dashboard_module_is_rendered_or_located(tmp_path, fragments):
    """A user's module that exits, raises, moves the working folder, edits sys.path, argv or the
    environment, or gives what is no dashboard: exit 0 with strict JSON, or exit 2 naming the
    module and its line; render's own state is as it was; nothing written on a refusal."""
    import sys

    folder = tmp_path / "dashboards"
    shutil.rmtree(tmp_path / "out", ignore_errors=True)
    folder.mkdir(exist_ok=True)
    source = "from grafanalib.core import Dashboard, GridPos, TimeSeries\n" + "".join(fragments)
    (folder / "mine.dashboard.py").write_text(source)
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(MINIMAL)
    before = (os.getcwd(), list(sys.path), list(sys.argv), dict(os.environ))
    result = CliRunner().invoke(main, ["render", "-i", str(inventory), "-o", str(tmp_path / "out")])
    assert (os.getcwd(), list(sys.path), list(sys.argv), dict(os.environ)) == before
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    if result.exit_code == 0:
        for board in (tmp_path / "out/grafana/dashboards").glob("*.json"):
            json.loads(board.read_text(), parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
        return
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert lines and all(LOCATED.match(line) for line in lines), result.output
    assert any("mine.dashboard.py:" in line for line in lines), result.output
    assert not (tmp_path / "out").exists()


@fuzz(min(EXAMPLES, 8))
@given(
    number=st.sampled_from(["SIGTERM", "SIGINT", "SIGHUP"]),
    delay=st.floats(min_value=0.25, max_value=1.2),  # after the interpreter itself started
)
def test_a_signal_at_any_moment_of_a_render_leaves_output_whole(tmp_path, number, delay):
    """Stopped at any moment (before, while or after staging and swapping): output/ is the old
    render or the new one, the board's secrets.h kept, and the next render leaves nothing behind."""
    import signal
    import subprocess
    import sys
    import time

    from test_output_pressure import SECRET, env, leftovers, rendered

    shutil.rmtree(tmp_path, ignore_errors=True)
    tmp_path.mkdir()
    inventory, output = rendered(tmp_path)
    inventory.write_text(inventory.read_text().replace("unit: m}", "unit: m, min: 1}"))
    process = subprocess.Popen(
        [sys.executable, "-m", "polysource", "render", "-i", str(inventory), "-o", str(output)],
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    process.send_signal(getattr(signal, number))
    _, stderr = process.communicate(timeout=60)
    assert "Traceback" not in stderr, stderr
    assert (output / "devices/salle1/secrets.h").read_text() == SECRET
    assert (output / "manifest.json").is_file()
    assert CliRunner().invoke(main, ["render", "-i", str(inventory), "-o", str(output)]).exit_code == 0
    assert leftovers(tmp_path) == []
    assert (output / "devices/salle1/secrets.h").read_text() == SECRET
