"""Hostile input is ordinary input: each of these once gave a traceback, leaked a secret, or was
accepted while it could never work. Now: a located one-line message (exit 2) or a correct result."""

import os
import shutil
import subprocess
import sys
import threading

import pytest

from helpers import INVENTORIES, MINIMAL, rendered_then_changed, run_cli, write_inventory


def render(tmp_path, text: str | bytes, *extra: str):
    path = tmp_path / "inventory.yml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        write_inventory(tmp_path, text)
    result = run_cli("render", "-i", str(path), "-o", str(tmp_path / "out"), *extra)
    assert "Traceback" not in result.output
    return result, path


def swap(old: str, new: str) -> str:
    assert old in MINIMAL, old
    return MINIMAL.replace(old, new)


REFUSED = {
    "latin-1 bytes": (MINIMAL.replace("demo", "démo").encode("latin-1"), ":1:11: not UTF-8 text (byte 0xe9)"),
    "random bytes": (b"project: \xff\xfe\x00\x81\n", ":1:10: not UTF-8 text"),
    "impossible timestamp": (
        swap("project: demo", "project: !!timestamp 2024-02-30"),
        ":1:10: project: cannot read",
    ),
    "int tag on text": (
        swap("project: demo", "project: !!int abc"),
        ":1:10: project: cannot read this value",
    ),
    "python tag": (
        swap("project: demo", "project: !!python/object:os.system x"),
        "could not determine a constructor",
    ),
    "recursive alias": ("a: &a [*a]\n", ":1:4: an alias refers to itself"),
    "alias bomb": (
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        + "".join(
            f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        ),
        "expands to over 200,000 values",
    ),
    "NaN minimum": (swap("unit: m}", "unit: m, min: .nan}"), "sensors.Test_4G.min: expected a finite number"),
    "infinite threshold": (
        swap("unit: m}", "unit: m, thresholds: [{value: .inf, color: red}]}"),
        "sensors.Test_4G.thresholds[0].value: expected a finite number",
    ),
    "DEL in a topic": (
        swap("polysource/capteurs", '"polysource/capt\\x7feurs"'),
        "must not hold control characters",
    ),
    "raw DEL character": (swap("project: demo", "project: de\x7fmo"), ":1:12: YAML syntax: unacceptable"),
    "NUL in a topic": (swap("polysource/capteurs", '"polysource/\\0"'), "must not hold control characters"),
    "empty topic": (
        swap("topic: polysource/capteurs", 'topic: ""'),
        "streams.capteurs.topic: must not be empty",
    ),
    "80,000-character topic": (swap("polysource/capteurs", "t/" + "x" * 80_000), "at most 65535 bytes"),
    "InfluxQL in format.value": (
        swap("value: valeur", 'value: "x\\") FROM \\"y\\"; DROP MEASUREMENT \\"s\\"; --"'),
        "streams.capteurs.format.value: ",
    ),
    "format.value time": (swap("value: valeur", "value: time"), "'time' is a name InfluxDB reserves"),
    "retention 6m": (MINIMAL + "storage: {influxdb: {retention: 6m}}\n", "InfluxDB keeps data at least 1h"),
    "retention 1s": (MINIMAL + "storage: {influxdb: {retention: 1s}}\n", "InfluxDB keeps data at least 1h"),
    "database _internal": (MINIMAL + "storage: {influxdb: {database: _internal}}\n", "are InfluxDB's own"),
    "host with a space": (swap("broker.example.test", "local host"), "'local host' is not a host name"),
    "host as a URL": (swap("broker.example.test", "mqtts://localhost"), "write the host name only"),
    "host with a port": (swap("broker.example.test", "localhost:8883"), "write the port as `port:`"),
    "two services on one port": (
        MINIMAL + "grafana: {port: 8086}\nstorage: {influxdb: {publish: '127.0.0.1:8086'}}\n",
        "storage.influxdb.publish: port 8086 is already published by grafana.port",
    ),
    "secret named PATH": (swap("${MQTT_PASSWORD}", "${PATH}"), "PATH is a variable programs read"),
    "secret named LD_PRELOAD": (swap("${MQTT_PASSWORD}", "${LD_PRELOAD}"), "LD_PRELOAD is a variable"),
    "fallback error names no internal type": (
        swap("    username: pi\n", "    fallback: [{transport: wss, port: huit}]\n    username: pi\n"),
        ":5:39: brokers.cloud.fallback[0].port: expected an integer",
    ),
    "unknown fallback key gets a hint": (
        swap("    username: pi\n", "    fallback: {transport: wss, prot: 1}\n    username: pi\n"),
        "brokers.cloud.fallback[0].prot: unknown key; did you mean 'port'?",
    ),
    "a folder as ca_file": (
        swap("    username: pi\n", "    ca_file: certs\n    username: pi\n"),
        "is a folder",
    ),
    ".env as ca_file": (
        swap("    username: pi\n", "    ca_file: .env\n    username: pi\n"),
        "is not a PEM certificate",
    ),
    "/etc/shadow as ca_file": (
        swap("    username: pi\n", "    ca_file: /etc/shadow\n    username: pi\n"),
        "is outside the inventory's folder",
    ),
    "/proc/self/environ as ca_file": (
        swap("    username: pi\n", "    ca_file: /proc/self/environ\n    username: pi\n"),
        "is outside the inventory's folder",
    ),
    "a symlink out of the folder as ca_file": (
        swap("    username: pi\n", "    ca_file: link.pem\n    username: pi\n"),
        "is outside the inventory's folder",
    ),
    "a private key as ca_file": (
        swap("    username: pi\n", "    ca_file: key.pem\n    username: pi\n"),
        "holds a PRIVATE KEY: a CA file holds certificates only",
    ),
    "panel title with a newline": (swap("unit: m}", 'unit: m, name: "a\\nb"}'), "must be one line"),
    "two streams with one client id on one broker": (
        swap(
            "    format: {value: valeur, sensor: idCapteur, unit: unite}\n",
            "    format: {value: valeur, sensor: idCapteur, unit: unite}\n    client_id: pi\n"
            "  autres:\n    broker: cloud\n    topic: lab/autres\n    format: {sensor: id}\n"
            "    client_id: pi\n",
        ),
        "streams.autres.client_id: client id 'pi' is stream 'capteurs''s too",
    ),
    "a time key that is the value's": (
        swap("unit: unite}", "unit: unite, time: valeur}"),
        "the time key 'valeur' is also the value's",
    ),
    "an SMTP host without its port": (
        MINIMAL + "alerts: {email: [a@b.example], smtp: {host: smtp.example, user: u, password: '${P}', "
        "sender: a@b.example}}\n",
        "alerts.smtp.host: expected host:port",
    ),
    "a board named like a Windows device": (
        MINIMAL + "devices:\n  con:\n    stream: capteurs\n    sensors: [Test_4G]\n    username: b\n"
        "    password: ${B}\n    modem: wifi\n",
        "devices.con: 'con' is a name Windows reserves",
    ),
    "groups alike but for case": (
        swap(
            "  Test_4G: {stream: capteurs, unit: m}\n",
            "  Test_4G: {stream: capteurs, unit: m, group: Salle}\n"
            "  T2: {stream: capteurs, unit: m, group: salle}\n",
        ),
        "sensors.T2.group: group 'salle' differs from 'Salle' only by case",
    ),
    "a rule group name over Grafana's limit": (
        swap("unit: m}", f"unit: m, group: {'é' * 96}}}") + "alerts: {webhook: '${HOOK}'}\n",
        "sensors.Test_4G.group: with alerts, the group is a Grafana rule group: at most 190 bytes",
    ),
    "a published port that is the Pi's SSH": (
        MINIMAL + "grafana: {port: 22}\ntarget: {docker_host: 'ssh://pi@raspberrypi.local'}\n",
        "grafana.port: port 22 is the target's SSH (ssh://pi@raspberrypi.local)",
    ),
    "a published port that is the Pi's SSH on its own port": (
        MINIMAL + "storage: {influxdb: {publish: 2222}}\ntarget: {docker_host: 'ssh://pi@[fd00::1]:2222'}\n",
        "storage.influxdb.publish: port 2222 is the target's SSH",
    ),
    "a backup schedule systemd cannot read": (
        MINIMAL + "backup: {schedule: 'daily at 3'}\n",
        "backup.schedule: not a systemd calendar expression: unexpected 'at 3'",
    ),
    "a backup schedule at an hour that does not exist": (
        MINIMAL + "backup: {schedule: '*-*-* 25:00'}\n",
        "backup.schedule: not a systemd calendar expression: '25': a hour is 0..23",
    ),
    "a threshold set twice": (
        swap("unit: m}", "unit: m, thresholds: [{value: 5, color: red}, {value: 5.0, color: orange}]}"),
        "sensors.Test_4G.thresholds[1].value: 5 is already thresholds[0]",
    ),
    "InfluxDB's old port key": (
        MINIMAL + "storage: {influxdb: {port: 8086}}\n",
        "storage.influxdb.port: InfluxDB is no longer published on the LAN by default",
    ),
    "InfluxDB published on a host name": (
        MINIMAL + "storage: {influxdb: {publish: 'pi.local:8086'}}\n",
        "storage.influxdb.publish: 'pi.local' is not an IP address",
    ),
    "InfluxDB published on an IPv6 address without brackets": (
        MINIMAL + "storage: {influxdb: {publish: '::1:8086'}}\n",
        "storage.influxdb.publish: write an IPv6 address in brackets",
    ),
    "InfluxDB published beyond a port": (
        MINIMAL + "storage: {influxdb: {publish: '127.0.0.1:70000'}}\n",
        "storage.influxdb.publish: expected an integer 1-65535",
    ),
    "InfluxDB published on an address of a swarm": (
        MINIMAL
        + "storage: {influxdb: {publish: '127.0.0.1:8086'}}\n"
        + "target: {docker_host: 'unix:///var/run/docker.sock', swarm: {}}\n",
        "storage.influxdb.publish: a swarm publishes on every interface of its nodes",
    ),
    "an endless sensor interval": (
        swap("unit: m}", "unit: m, interval: inf}"),
        "sensors.Test_4G.interval: must be a finite duration",
    ),
    "an endless downsampling step": (
        MINIMAL + "storage: {influxdb: {downsample: [{every: inf, keep: 104w}]}}\n",
        "downsample[0].every: must be a finite duration",
    ),
    "an endless alert delay": (
        MINIMAL + "alerts: {webhook: '${HOOK}', pending: inf}\n",
        "alerts.pending: must be a finite duration",
    ),
}


@pytest.fixture
def beside(tmp_path):
    """Files a hostile inventory may name, beside it."""
    (tmp_path / "certs").mkdir()
    (tmp_path / ".env").write_text("MQTT_PASSWORD=s3cret-value-never-shown\n")
    os.symlink("/etc/ssl/certs/ca-certificates.crt", tmp_path / "link.pem")
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(tmp_path / "key.pem")], check=True
    )
    return tmp_path


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_with_a_located_line(beside, case):
    text, expected = REFUSED[case]
    result, path = render(beside, text)
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    for line in result.stderr.strip().splitlines():
        assert line.startswith(f"{path}:"), line
    assert "s3cret-value-never-shown" not in result.output
    assert not (beside / "out").exists()


def test_a_secret_is_never_echoed(tmp_path):
    text = swap("    username: pi\n", '    clients: "esp32=hunter2"\n    username: pi\n')
    result, _ = render(tmp_path, text)
    assert result.exit_code == 2
    assert "hunter2" not in result.output
    assert "brokers.cloud.clients" in result.stderr


ACCEPTED = {
    "a YAML merge key overridden beside it": swap(
        "  Test_4G: {stream: capteurs, unit: m}\n",
        "  T1: &base {stream: capteurs, unit: m, min: 0, max: 9}\n  Test_4G:\n    <<: *base\n    unit: mm\n",
    ),
    "a date-like project name": swap("project: demo", "project: 2024-13-45"),
    "an IPv6 broker": swap("broker.example.test", '"::1"'),
    "a Norway key": swap("  Test_4G: {stream: capteurs, unit: m}", "  no: {stream: capteurs, unit: m}"),
    "UTF-16 with its byte order mark": "utf-16",
    "a nested JSON path": swap("value: valeur", "value: data.valeur"),
}


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_valid_odd_inventories_render(tmp_path, case):
    text = ACCEPTED[case]
    if text == "utf-16":
        text = MINIMAL.encode("utf-16")
    result, _ = render(tmp_path, text)
    assert result.exit_code == 0, result.output
    files = {
        p.relative_to(tmp_path / "out").as_posix(): p.read_text() for p in (tmp_path / "out").rglob("*.*")
    }
    boards = "".join(v for k, v in sorted(files.items()) if k.startswith("grafana/dashboards/"))
    if case == "a YAML merge key overridden beside it":
        assert '"unit": "lengthmm"' in boards
    if case == "an IPv6 broker":
        assert 'servers = ["ssl://[::1]:8883"]' in files["telegraf/telegraf.conf"]
    if case == "a Norway key":
        assert "'no'" in boards.replace('"', "'")
    if case == "a nested JSON path":
        assert 'path = "data.valeur"\n      rename = "valeur"' in files["telegraf/telegraf.conf"]


def test_every_problem_at_once_even_when_a_field_fails(tmp_path):
    result, _ = render(tmp_path, swap("unit: m}", "unit: furlongs, min: 5, max: 1}"))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert "sensors.Test_4G.unit: unknown unit 'furlongs'" in lines[0]
    assert "sensors.Test_4G.max: max (1) must be above min (5)" in lines[1]


def test_a_newline_in_the_inventory_folder_name_stays_in_its_comment(tmp_path):
    folder = tmp_path / "evil\nservices: {}\n#"
    folder.mkdir()
    inventory = write_inventory(folder, MINIMAL)
    result = run_cli("render", "-i", str(inventory), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    import yaml

    compose = yaml.safe_load((tmp_path / "out" / "docker-compose.yml").read_text())
    assert set(compose["services"]) == {"influxdb", "telegraf", "grafana"}


# --- the output folder -------------------------------------------------------------------------


def test_an_empty_folder_or_a_symlink_in_output_is_not_deleted(tmp_path):
    inventory = write_inventory(tmp_path, MINIMAL)
    out = tmp_path / "out"
    assert run_cli("render", "-i", str(inventory), "-o", str(out)).exit_code == 0
    (out / "my-notes").mkdir()
    result = run_cli(
        "render", "-i", str(write_inventory(tmp_path, MINIMAL.replace("demo", "demo2"))), "-o", str(out)
    )
    assert result.exit_code == 1 and "my-notes/" in result.stderr
    (out / "my-notes").rmdir()
    os.symlink("/etc", out / "etc-link")
    result = run_cli("render", "-i", str(inventory), "-o", str(out))
    assert result.exit_code == 1 and "etc-link (a symlink)" in result.stderr
    assert (out / "etc-link").is_symlink()


def test_output_as_a_symlink_keeps_its_link(tmp_path):
    real = tmp_path / "real-output"
    real.mkdir()
    os.symlink(real, tmp_path / "out")
    inventory = write_inventory(tmp_path, MINIMAL)
    for text in (MINIMAL, MINIMAL.replace("polysource/capteurs", "lab/capteurs")):
        write_inventory(tmp_path, text)
        result = run_cli("render", "-i", str(inventory), "-o", str(tmp_path / "out"))
        assert result.exit_code == 0, result.output
        assert (tmp_path / "out").is_symlink()
    assert "lab/capteurs" in (real / "telegraf/telegraf.conf").read_text()


def test_dot_as_output_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_inventory(tmp_path, MINIMAL)
    result = run_cli("render", "-i", "inventory.yml", "-o", ".")
    assert result.exit_code == 1
    assert "holds things polysource did not write" in result.stderr
    assert sorted(os.listdir(tmp_path)) == ["inventory.yml"]


@pytest.fixture
def immutable(tmp_path):
    """chattr +i: not even root may change the folder (a real permission failure, as root)."""
    made = []
    if shutil.which("chattr") is None:
        pytest.skip("chattr missing")

    def make(path):
        subprocess.run(["chattr", "+i", str(path)], check=True)
        made.append(path)

    yield make
    for path in made:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def test_an_unwritable_output_changes_nothing_and_leaves_nothing_behind(tmp_path, immutable):
    inventory, out, before = rendered_then_changed(tmp_path)
    immutable(out)
    result = run_cli("render", "-i", str(inventory), "-o", str(out))
    assert result.exit_code == 1
    assert "Traceback" not in result.output and str(out) in result.stderr
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(os.listdir(tmp_path)) == ["inventory.yml", "out"]


def test_an_unwritable_parent_is_a_clear_error(tmp_path, immutable):
    parent = tmp_path / "locked"
    parent.mkdir()
    immutable(parent)
    inventory = write_inventory(tmp_path, MINIMAL)
    result = run_cli("render", "-i", str(inventory), "-o", str(parent / "out"))
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "locked" in result.stderr


def test_concurrent_renders_into_one_folder(tmp_path):
    """Four at once, twenty rounds: every render succeeds, output/ always whole."""
    inventories = []
    for i in range(4):
        folder = tmp_path / f"inv{i}"
        folder.mkdir()
        inventories.append(
            write_inventory(folder, MINIMAL.replace("polysource/capteurs", f"lab{i}/capteurs"))
        )
    out = tmp_path / "out"
    for _ in range(20):
        codes: list[int] = []

        def one(path, codes=codes):
            proc = subprocess.run(
                [sys.executable, "-m", "polysource", "render", "-i", str(path), "-o", str(out)],
                capture_output=True,
                text=True,
            )
            assert "Traceback" not in proc.stderr, proc.stderr
            codes.append(proc.returncode)

        threads = [threading.Thread(target=one, args=(p,)) for p in inventories]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert codes == [0, 0, 0, 0]
        assert run_cli("render", "--check", "-i", str(inventories[0]), "-o", str(out)).exit_code in (0, 1)
        files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
        assert "manifest.json" in files and "telegraf/telegraf.conf" in files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inv0", "inv1", "inv2", "inv3", "out"]


# --- the field tools ------------------------------------------------------------------------------


def field(tmp_path, text, *args):
    write_inventory(tmp_path, text)
    (tmp_path / ".env").write_text("MQTT_PASSWORD=x\n")
    result = run_cli(*args, "-i", str(tmp_path / "inventory.yml"))
    assert "Traceback" not in result.output
    return result


TOPIC_LEVELS = swap("topic: polysource/capteurs", "topic: polysource/{site}/capteurs")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("publish", "Test_4G", "1", "--tag", "site=#"), "cannot stand in one MQTT topic level"),
        (("publish", "Test_4G", "1", "--tag", "site=a/b"), "cannot stand in one MQTT topic level"),
        (("publish", "Test_4G", "1", "--tag", "site="), "the value is empty"),
        (("publish", "Test_4G", "1", "--tag", "room=a"), "has no {room} level"),
        (("publish", "Test_4G", "1"), "needs {site}: pass --tag site=VALUE"),
        (("simulate", "--tag", "site=+", "--duration", "1"), "cannot stand in one MQTT topic level"),
        (("publish", "Test_4G", "nan", "--tag", "site=a"), "is not a finite number"),
        (("publish", "Test_4G", "inf", "--tag", "site=a"), "is not a finite number"),
        (("simulate", "--rate", "1e-300"), "is below the smallest accepted value"),
        (("simulate", "--rate", "nan"), "is not a finite number"),
        (("simulate", "--duration", "-1"), "is below the smallest accepted value"),
        (("verify", "--timeout", "inf"), "is not a finite number"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else None,
)
def test_field_tools_refuse_bad_arguments_clearly(tmp_path, args, expected):
    result = field(tmp_path, TOPIC_LEVELS, *args)
    assert result.exit_code in (1, 2), result.output
    assert expected in result.output


def test_field_tools_with_no_sensors(tmp_path):
    text = MINIMAL.split("sensors:")[0]
    for args in (("verify",), ("simulate", "--duration", "1")):
        result = field(tmp_path, text, *args)
        assert result.exit_code == 1
        assert "the inventory declares no sensors" in result.stderr


def test_doctor_runs_the_network_hops_without_secrets(tmp_path, monkeypatch):
    monkeypatch.delenv("MQTT_PASSWORD", raising=False)
    write_inventory(
        tmp_path,
        swap("broker.example.test", "localhost").replace(
            "    username: pi\n", "    port: 1\n    username: pi\n"
        ),
    )
    result = run_cli("doctor", "-i", str(tmp_path / "inventory.yml"))
    assert result.exit_code == 1
    assert "refused: nothing listens on that port" in result.output
    assert "missing secrets" not in result.output


def polysource_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """The command in its own process, with a timeout: a hang is a failure, not a stuck suite."""
    command = [sys.executable, "-m", "polysource", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, cwd=cwd)


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_an_inventory_that_is_a_pipe_or_a_device_is_refused_at_once(tmp_path, kind):
    inventory = tmp_path / "inventory.yml"
    if kind == "fifo":
        os.mkfifo(inventory)  # opening it for reading would wait for a writer forever
    else:
        inventory.symlink_to("/dev/zero")  # read whole, it never ends
    result = polysource_cli("render", "-i", str(inventory), "-o", str(tmp_path / "out"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{inventory}:1:1: is not a regular file (a pipe, a device or a socket)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_ca_file_that_is_a_pipe_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / "ca.pem")
    text = MINIMAL.replace("    username: pi\n", "    ca_file: ca.pem\n    username: pi\n")
    result = polysource_cli("render", "-i", str(write_inventory(tmp_path, text)), "-o", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert "ca.pem is not a regular file" in result.stderr


def test_a_dotenv_that_is_a_pipe_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / ".env")
    text = MINIMAL.replace("broker.example.test", "broker.invalid")
    inventory = write_inventory(tmp_path, text)
    result = polysource_cli("doctor", "-i", str(inventory))
    assert result.returncode != 0
    assert ".env: is not a regular file" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_a_dotenv_saved_with_a_byte_order_mark_keeps_its_first_variable(tmp_path):
    from polysource.secrets import read_dotenv

    dotenv = tmp_path / ".env"
    dotenv.write_bytes(b"\xef\xbb\xbfMQTT_PASSWORD=first\nOTHER=second\n")
    assert read_dotenv(dotenv) == {"MQTT_PASSWORD": "first", "OTHER": "second"}


def test_diff_names_but_never_shows_a_file_render_does_not_own(tmp_path):
    """A filled .env left in output/ (or the inventory's folder given as output): its lines would be
    secrets printed as removed lines."""
    inventory = write_inventory(tmp_path, MINIMAL)
    output = tmp_path / "out"
    assert run_cli("render", "-i", str(inventory), "-o", str(output)).exit_code == 0
    (output / ".env").write_text("MQTT_PASSWORD=hunter2-in-output\n")
    (output / ".env.example").write_text("changed by hand\n")  # render's own file: shown
    result = run_cli("diff", "-i", str(inventory), "-o", str(output))
    assert result.exit_code == 1
    assert "hunter2-in-output" not in result.output
    assert f"Only in {output}: .env (not polysource's; content not shown)" in result.output
    assert "-changed by hand" in result.output


def test_a_board_account_named_like_the_stacks_own_is_refused(tmp_path):
    """The managed broker's password file would hold the name twice, and Telegraf be refused."""
    text = (
        (INVENTORIES / "lab-local.yml")
        .read_text()
        .replace(
            "      esp32:",
            "      telegraf: ${OTHER_PASSWORD}\n      esp32:",
        )
    )
    result = run_cli("render", "-i", str(write_inventory(tmp_path, text)), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert (
        "brokers.local.clients.telegraf: 'telegraf' is the stack's own account on this broker"
        in result.stderr
    )


def test_a_symlink_where_render_keeps_its_previous_output_is_never_followed(tmp_path):
    """A `.out.old` symlink (committed in a cloned repository, say) pointing at a folder render
    must not touch: render removes the link itself and changes nothing outside output/."""
    inventory = write_inventory(tmp_path, MINIMAL)
    output = tmp_path / "work" / "out"
    output.parent.mkdir()
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    outside.chmod(0o500)
    (output.parent / ".out.old").symlink_to(outside)
    parent_mode = output.parent.stat().st_mode
    for _ in range(2):  # the first render makes output/, the second swaps it aside and back
        result = run_cli("render", "-i", str(inventory), "-o", str(output))
        assert result.exit_code == 0, result.output
        (output / ".env.example").write_text("changed\n")
    assert (outside / "keep.txt").read_text() == "mine"
    assert oct(outside.stat().st_mode & 0o777) == oct(0o500), "the link's target was chmodded"
    assert output.parent.stat().st_mode == parent_mode, "the output's parent was chmodded"
    outside.chmod(0o700)


def test_a_render_stopped_between_its_renames_is_rolled_back_by_the_next(tmp_path):
    """Killed after moving the previous output aside and before putting the new one in place: the
    next render puts the previous back first, so a board's secrets.h is not lost."""
    inventory = write_inventory(tmp_path, MINIMAL + DEVICE_FOR_SECRETS)
    output = tmp_path / "out"
    assert run_cli("render", "-i", str(inventory), "-o", str(output)).exit_code == 0
    secrets = output / "devices/salle1/secrets.h"
    secrets.write_text('#define PS_SECRET_PASSWORD "the board\'s"\n')
    output.rename(tmp_path / ".out.old")  # where the kill left things
    result = run_cli("render", "-i", str(inventory), "-o", str(output))
    assert result.exit_code == 0, result.output
    assert secrets.read_text() == '#define PS_SECRET_PASSWORD "the board\'s"\n'
    assert not (tmp_path / ".out.old").exists()


DEVICE_FOR_SECRETS = """\
devices:
  salle1:
    stream: capteurs
    sensors: [Test_4G]
    username: board
    password: ${BOARD_PASSWORD}
    modem: wifi
"""
