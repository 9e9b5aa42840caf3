"""deploy against a real Docker Engine, with local images of the real components."""

import json
import time

import docker
import paho.mqtt.client as mqtt

from conftest import DEPLOY_SECRETS
from helpers import run_cli
from polysource.pipeline import load_stack
from services import influx_query, rows, wait_for

SEED_READING = {"valeur": 99.9, "idCapteur": "Test_4G", "unite": "m"}


def client_for(project):
    return docker.DockerClient(base_url=load_stack(project.inventory).inventory.target.docker_host)


def container_ids(project) -> dict[str, str]:
    found = client_for(project).containers.list(
        all=True, filters={"label": f"polysource.project={project.ports['project']}"}
    )
    return {c.labels["polysource.service"]: c.id for c in found}


def publish_seed(project) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="esp32-test")
    client.username_pw_set("esp32", DEPLOY_SECRETS["MOSQUITTO_ESP32_PASSWORD"])
    client.connect("127.0.0.1", project.ports["mqtt"], 30)
    client.loop_start()
    info = client.publish("polysource/capteurs", json.dumps(SEED_READING), qos=1)
    info.wait_for_publish(10)
    assert info.is_published()
    client.disconnect()
    client.loop_stop()


def influx(project, q: str) -> list[dict]:
    url = f"http://127.0.0.1:{project.ports['influxdb']}"
    return rows(influx_query(url, q, "polysource", ("admin", DEPLOY_SECRETS["INFLUXDB_ADMIN_PASSWORD"])))


def influx_points(project) -> list:
    try:
        return influx(project, 'SELECT * FROM "capteurs"')
    except OSError:
        return []


def test_deploy_carries_the_seed_reading_and_is_idempotent(deploy_project):
    project = deploy_project()
    result = run_cli(*project.args("deploy", "--timeout", "90"))
    assert result.exit_code == 0, result.output
    assert set(container_ids(project)) == {"influxdb", "mosquitto-passwd", "mosquitto", "telegraf", "grafana"}

    publish_seed(project)
    try:
        wait_for(lambda: influx_points(project), 30, "the seed reading in the deployed InfluxDB")
    except AssertionError:
        print(run_cli(*project.args("logs", "telegraf")).output)
        print(run_cli(*project.args("logs", "influxdb")).output[-3000:])
        raise
    (point,) = influx_points(project)
    assert (point["valeur"], point["idCapteur"], point["unite"]) == (99.9, "Test_4G", "m")

    ids = container_ids(project)
    start = time.monotonic()
    again = run_cli(*project.args("deploy"))
    elapsed = time.monotonic() - start
    assert again.exit_code == 0, again.output
    assert container_ids(project) == ids
    assert "0 change(s)" in again.output
    assert elapsed < 2, f"no-op deploy took {elapsed:.2f}s"

    status = run_cli(*project.args("status"))
    assert status.exit_code == 0, status.output
    rows = {line.split()[0]: line.split() for line in status.output.splitlines()[1:]}
    assert rows["telegraf"][2:] == ["running", "healthy", "yes"]
    assert rows["mosquitto-passwd"][2] == "exited"

    logs = run_cli(*project.args("logs", "telegraf", "--tail", "50"))
    assert logs.exit_code == 0
    assert "[inputs.mqtt_consumer::capteurs] Connected [tcp://mosquitto:1883]" in logs.output
    unknown = run_cli(*project.args("logs", "grafna"))
    assert unknown.exit_code == 1 and "no container for service 'grafna'" in unknown.stderr


def retention(project) -> str:
    return influx(project, "SHOW RETENTION POLICIES ON polysource")[0]["duration"]


def test_changed_sensor_recreates_exactly_telegraf(deploy_project):
    project = deploy_project()
    assert run_cli(*project.args("deploy")).exit_code == 0
    assert retention(project) == "2160h0m0s"  # the inventory's 90d, from the init script
    before = container_ids(project)

    text = project.inventory.read_text()
    text = text.replace('name: "Test 4G", unit: m,', 'name: "Test 4G (10 s)", unit: m, interval: 10s,')
    project.inventory.write_text(text)
    stale = run_cli(*project.args("deploy", "--dry-run"))
    assert stale.exit_code == 1 and "run `polysource render`" in stale.output
    assert run_cli(*project.args("render")).exit_code == 0

    plan = run_cli(*project.args("deploy", "--dry-run"))
    assert plan.exit_code == 0, plan.output
    verbs = {line.split()[1]: line.split()[0] for line in plan.output.splitlines()}
    assert verbs == {
        "influxdb": "keep",
        "mosquitto-passwd": "keep",
        "mosquitto": "keep",
        "telegraf": "recreate",
        "grafana": "update",
    }
    assert "config changed: telegraf/telegraf.conf" in plan.output
    assert container_ids(project) == before, "--dry-run changes nothing"

    result = run_cli(*project.args("deploy"))
    assert result.exit_code == 0, result.output
    after = container_ids(project)
    assert {s for s in after if after[s] != before[s]} == {"telegraf"}
    container = client_for(project).containers.get(after["grafana"])
    stream, _ = container.get_archive(
        "/etc/grafana/dashboards/polysource-overview.json".replace("polysource", project.ports["project"])
    )
    assert b"Test 4G (10 s)" in b"".join(stream)
    assert "0 change(s)" in run_cli(*project.args("deploy")).output


def test_data_survives_down_but_not_down_volumes(deploy_project):
    project = deploy_project()
    assert run_cli(*project.args("deploy")).exit_code == 0
    publish_seed(project)
    wait_for(lambda: influx_points(project), 30, "the seed reading")

    assert run_cli(*project.args("down")).exit_code == 0
    assert container_ids(project) == {}
    assert run_cli(*project.args("deploy")).exit_code == 0
    assert len(influx_points(project)) == 1

    assert run_cli(*project.args("down", "--volumes")).exit_code == 0
    volumes = client_for(project).volumes.list(
        filters={"label": f"polysource.project={project.ports['project']}"}
    )
    assert volumes == []
    assert run_cli(*project.args("deploy")).exit_code == 0
    assert influx_points(project) == []


def test_missing_secret_changes_nothing(deploy_project, monkeypatch):
    project = deploy_project()
    assert run_cli(*project.args("deploy")).exit_code == 0
    before = container_ids(project)
    env = project.folder / ".env"
    env.write_text(
        "\n".join(
            line for line in env.read_text().splitlines() if "GRAFANA" not in line and "ESP32" not in line
        )
    )
    monkeypatch.delenv("GRAFANA_ADMIN_PASSWORD", raising=False)
    result = run_cli(*project.args("deploy"))
    assert result.exit_code == 1
    assert "missing secrets" in result.stderr
    assert "MOSQUITTO_ESP32_PASSWORD" in result.stderr and "GRAFANA_ADMIN_PASSWORD" in result.stderr
    assert container_ids(project) == before


def test_unreachable_daemon_is_a_clear_error(deploy_project):
    project = deploy_project()
    result = run_cli(*project.args("deploy", "--host", "unix:///nonexistent/docker.sock"))
    assert result.exit_code == 1
    assert "cannot reach a Docker daemon at unix:///nonexistent/docker.sock" in result.stderr
    assert "Traceback" not in result.output


def test_failing_healthcheck_keeps_the_running_service(deploy_project, test_images):
    project = deploy_project()
    assert run_cli(*project.args("deploy")).exit_code == 0
    before = container_ids(project)
    project.inventory.write_text(
        project.inventory.read_text().replace(test_images["grafana"], test_images["grafana-unhealthy"])
    )
    assert run_cli(*project.args("render")).exit_code == 0
    result = run_cli(*project.args("deploy", "--timeout", "15"))
    assert result.exit_code == 1
    assert "grafana" in result.stderr and "last log lines" in result.stderr
    assert "the previous container was put back" in result.stderr
    assert container_ids(project) == before
    grafana = client_for(project).containers.get(before["grafana"])
    assert grafana.status == "running"


def test_taken_port_is_a_clear_error(deploy_project):
    import socket

    with socket.socket() as blocker:
        blocker.bind(("0.0.0.0", 0))
        blocker.listen()
        project = deploy_project(grafana=blocker.getsockname()[1])
        result = run_cli(*project.args("deploy", "--timeout", "60"))
    assert result.exit_code == 1
    assert f"grafana: a host port it publishes ({project.ports['grafana']}) is already taken" in result.stderr
    assert "grafana" not in container_ids(project)
