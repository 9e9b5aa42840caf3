"""deploy against a real Docker Engine, with stand-in images of the real components."""

import socket
import time
import urllib.request

from deploy_helpers import (
    SEED_READING,
    client_for,
    container_ids,
    containers,
    publish,
    readings,
    wait_readings,
    wait_subscribed,
)

from helpers import run_cli, service_rows
from services import free_port, wait_for


def test_deploy_carries_the_seed_reading_and_is_idempotent(deploy_project):
    project = deploy_project()
    started = time.time()
    result = run_cli(*project.args("deploy", "--timeout", "90"))
    assert result.exit_code == 0, result.output
    assert set(container_ids(project)) == {"influxdb", "mosquitto-passwd", "mosquitto", "telegraf", "grafana"}
    assert "converge  influxdb (not converged yet" in result.output

    wait_subscribed(project, since=started)
    publish(project, SEED_READING)
    (point,) = wait_readings(project, 1)
    assert (point["valeur"], point["idCapteur"], point["unite"]) == (99.9, "Test_4G", "m")

    ids = container_ids(project)
    start = time.monotonic()
    again = run_cli(*project.args("deploy"))
    elapsed = time.monotonic() - start
    assert again.exit_code == 0, again.output
    assert container_ids(project) == ids
    assert "0 change(s)" in again.output
    assert elapsed < 2, f"no-op deploy took {elapsed:.2f}s"

    def docker_says_healthy() -> bool:
        return all(
            c.attrs["State"].get("Health", {}).get("Status") in (None, "healthy")
            for c in containers(project).values()
        )

    wait_for(docker_says_healthy, 30, "Docker's own healthchecks (every 5 s)")
    status = run_cli(*project.args("status"))
    assert status.exit_code == 0, status.output
    table = service_rows(status.output)
    assert table["telegraf"][2:5] == ["running", "healthy", "yes"]
    assert table["influxdb"][2:5] == ["running", "healthy", "yes"]
    assert table["mosquitto-passwd"][2] == "exited"

    # InfluxDB is on no network but the stack's: the field tools reach it through the Docker API.
    assert containers(project)["influxdb"].attrs["HostConfig"]["PortBindings"] in (None, {})
    # Every container's log is bounded on the card (Docker keeps every line by default).
    for box in containers(project).values():
        log = box.attrs["HostConfig"]["LogConfig"]
        assert log == {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}, box.name
    verified = run_cli(*project.args("verify", "Test_4G", "--timeout", "20")[:-2])
    assert verified.exit_code == 0, verified.output
    assert [line.split()[:2] for line in verified.output.splitlines()] == [
        ["ok", "connected"],
        ["ok", "acknowledged"],
        ["ok", "stored"],
    ]
    containers(project)["telegraf"].stop()
    broken = run_cli(*project.args("verify", "--timeout", "4")[:-2])
    assert broken.exit_code == 1, broken.output
    assert broken.output.splitlines()[-1].split()[:2] == ["FAIL", "stored"]
    assert "polysource logs telegraf" in broken.output
    containers(project)["telegraf"].start()

    # The Pi watching itself: the real Telegraf in its container gathers the host inputs once.
    # This machine has no SoC temperature sensor: inputs.temp is loaded but prints nothing here.
    gather = [
        "telegraf",
        "--config",
        "/etc/telegraf/telegraf.conf",
        "--test",
        "--input-filter",
        "cpu:mem:disk:temp",
    ]
    code, out = containers(project)["telegraf"].exec_run(gather)
    lines = out.decode(errors="replace").splitlines()
    assert code == 0, lines[-5:]
    measured = {line[2:].split(",")[0].split(" ")[0] for line in lines if line.startswith("> ")}
    assert {"pi_cpu", "pi_mem", "pi_disk"} <= measured, lines[-10:]
    disk = next(line for line in lines if line.startswith("> pi_disk"))
    assert "path=/polysource/influxdb-data" in disk and "free=" in disk and "used_percent=" in disk

    logs = run_cli(*project.args("logs", "telegraf", "--tail", "50"))
    assert logs.exit_code == 0
    assert "[inputs.mqtt_consumer::capteurs] Connected [ssl://mosquitto:8883]" in logs.output
    unknown = run_cli(*project.args("logs", "grafna"))
    assert unknown.exit_code == 1 and "no container for service 'grafna'" in unknown.stderr


def retention(project) -> str:
    from deploy_helpers import influx

    (policy,) = [p for p in influx(project, "SHOW RETENTION POLICIES") if p["default"]]
    return policy["duration"]


def test_changed_sensor_recreates_exactly_telegraf(deploy_project):
    project = deploy_project()
    assert run_cli(*project.args("deploy")).exit_code == 0
    assert retention(project) == "2160h0m0s"  # the inventory's 90d, converged by deploy
    before = container_ids(project)

    text = project.inventory.read_text()
    project.inventory.write_text(
        text.replace('name: "Test 4G", unit: m,', 'name: "Test 4G (10 s)", unit: m, interval: 10s,')
    )
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
    grafana = client_for(project).containers.get(after["grafana"])
    stream, _ = grafana.get_archive(f"/etc/grafana/dashboards/{project.ports['project']}-tests.json")
    assert b"Test 4G (10 s)" in b"".join(stream)
    assert "0 change(s)" in run_cli(*project.args("deploy")).output


def test_influxdb_published_only_where_the_inventory_says(deploy_project):
    project = deploy_project()
    assert run_cli(*project.args("deploy")).exit_code == 0
    port = free_port()
    project.edit("database: polysource}", f"database: polysource, publish: '127.0.0.1:{port}'}}")
    plan = run_cli(*project.args("deploy", "--dry-run"))
    assert "recreate  influxdb" in plan.output, plan.output
    assert run_cli(*project.args("deploy")).exit_code == 0
    bindings = containers(project)["influxdb"].attrs["HostConfig"]["PortBindings"]
    assert bindings == {"8086/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5) as answer:
        assert answer.status == 204
    assert "127.0.0.1:" + str(port) + ":8086" in (project.output / "docker-compose.yml").read_text()


def test_plan_starts_a_stopped_service_and_removes_one_no_longer_in_the_stack(deploy_project):
    project = deploy_project()
    assert run_cli(*project.args("deploy")).exit_code == 0
    containers(project)["grafana"].stop()
    extra = client_for(project).containers.create(
        containers(project)["grafana"].image.id,
        name=f"{project.ports['project']}-old-exporter",
        labels={"polysource.project": project.ports["project"], "polysource.service": "old-exporter"},
    )
    plan = run_cli(*project.args("deploy", "--dry-run"))
    assert "start     grafana (was exited)" in plan.output
    assert "remove    old-exporter (no longer in the stack)" in plan.output
    result = run_cli(*project.args("deploy"))
    assert result.exit_code == 0, result.output
    assert containers(project)["grafana"].status == "running"
    assert extra.id not in [c.id for c in client_for(project).containers.list(all=True)]


def anonymous_volumes(project) -> set[str]:
    """Volumes Docker made for an image's VOLUME nobody mounted (named by a 64-hex digest)."""
    names = {v.name for v in client_for(project).volumes.list()}
    return {n for n in names if len(n) == 64 and all(c in "0123456789abcdef" for c in n)}


def test_data_survives_down_but_not_down_volumes(deploy_project):
    project = deploy_project()
    before = anonymous_volumes(project)
    started = time.time()
    assert run_cli(*project.args("deploy")).exit_code == 0
    wait_subscribed(project, since=started)
    publish(project, SEED_READING)
    wait_readings(project, 1)

    assert run_cli(*project.args("down")).exit_code == 0
    assert container_ids(project) == {}
    plan = run_cli(*project.args("deploy", "--dry-run"))
    assert "converge" not in plan.output, "the data volume still records the converged state"
    assert run_cli(*project.args("deploy")).exit_code == 0
    assert len(readings(project)) == 1

    assert run_cli(*project.args("down", "--volumes")).exit_code == 0
    volumes = client_for(project).volumes.list(
        filters={"label": f"polysource.project={project.ports['project']}"}
    )
    assert volumes == []
    left = anonymous_volumes(project) - before
    assert not left, f"anonymous volumes outlived down --volumes (helpers, replaced containers): {left}"
    assert run_cli(*project.args("deploy")).exit_code == 0
    assert readings(project) == []  # an empty, working database: a query error would raise


def test_missing_secret_changes_nothing(deploy_project, monkeypatch):
    project = deploy_project()
    assert run_cli(*project.args("deploy")).exit_code == 0
    before = container_ids(project)
    del project.secrets["GRAFANA_ADMIN_PASSWORD"], project.secrets["MOSQUITTO_ESP32_PASSWORD"]
    project.write_secrets()
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
    project.edit(test_images["grafana"], test_images["grafana-unhealthy"])
    result = run_cli(*project.args("deploy", "--timeout", "15"))
    assert result.exit_code == 1
    assert "grafana" in result.stderr and "last log lines" in result.stderr
    assert "the previous container was put back" in result.stderr
    assert container_ids(project) == before
    assert containers(project)["grafana"].status == "running"


def test_taken_port_is_a_clear_error(deploy_project):
    with socket.socket() as blocker:
        blocker.bind(("0.0.0.0", 0))
        blocker.listen()
        project = deploy_project(grafana=blocker.getsockname()[1])
        result = run_cli(*project.args("deploy", "--timeout", "60"))
    assert result.exit_code == 1
    assert f"grafana: a host port it publishes ({project.ports['grafana']}) is already taken" in result.stderr
    assert "grafana" not in container_ids(project)
