"""deploy against a real Docker Engine, with local images of the real components."""

import json
import time
import urllib.parse
import urllib.request

import docker
import paho.mqtt.client as mqtt
import yaml

from conftest import DEPLOY_SECRETS
from helpers import run_cli
from polysource.render.compose import compose_service
from polysource.pipeline import load_stack
from polysource.deploy.spec import desired_containers
from services import wait_for

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


def influx_points(project) -> list:
    query = urllib.parse.urlencode({"q": 'SELECT * FROM "capteurs"', "db": "polysource"})
    request = urllib.request.Request(f"http://127.0.0.1:{project.ports['influxdb']}/query?{query}")
    import base64

    token = base64.b64encode(f"admin:{DEPLOY_SECRETS['INFLUXDB_ADMIN_PASSWORD']}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            result = json.loads(response.read())
    except OSError:
        return []
    series = result["results"][0].get("series", [])
    return [dict(zip(s["columns"], v, strict=True)) for s in series for v in s["values"]]


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
