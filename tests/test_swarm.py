"""The whole stack as Docker Swarm services on a single-node swarm of the tests' dockerd: swarm
configs and secrets (no secret in any service definition), placement by node label, tasks per
node in status, and a rolling update of Telegraf (new task first) that loses no reading."""

import contextlib
import time

import docker
import pytest
from deploy_helpers import SEED_READING, deploy, publish, readings, wait_readings, wait_subscribed

from helpers import run_cli, service_rows, steadily
from services import NetnsDockerd, wait_for


def fresh_gateway_bridge(client) -> None:
    """docker_gwbridge outlives a swarm in the cached data root, with its old endpoints: a new
    swarm then hands a task an address the bridge's NAT sends elsewhere. Start each swarm clean."""
    for network in client.networks.list(names=["docker_gwbridge"]):
        with contextlib.suppress(docker.errors.APIError):
            network.remove()


@pytest.fixture
def swarm(docker_engine):
    client = docker.DockerClient(base_url=docker_engine)
    fresh_gateway_bridge(client)
    client.swarm.init(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377")
    (node,) = client.nodes.list()
    spec = node.attrs["Spec"]
    node.update({**spec, "Labels": {"disk": "ssd", "site": "lab"}})
    yield client
    client.swarm.leave(force=True)
    fresh_gateway_bridge(client)


def test_the_stack_runs_as_swarm_services(deploy_project, swarm):
    project = deploy_project()
    project.edit(
        "  platform: linux/amd64\n",
        "  platform: linux/amd64\n  swarm:\n    placement:\n"
        "      {influxdb: {disk: ssd}, grafana: {disk: ssd}, telegraf: {site: lab}}\n",
    )
    plan = run_cli(*project.args("deploy", "--dry-run"))
    assert "create    influxdb (stop-first; on node.labels.disk==ssd)" in plan.output, plan.output
    assert "create    telegraf (start-first; on node.labels.site==lab)" in plan.output
    started, first = deploy(project)
    assert "converging influxdb" in first.output

    services = {
        s.name: s
        for s in swarm.services.list(filters={"label": f"polysource.project={project.ports['project']}"})
    }
    assert set(services) == {
        f"{project.ports['project']}-{n}"
        for n in ("influxdb", "mosquitto-passwd", "mosquitto", "telegraf", "grafana")
    }
    definitions = str([s.attrs["Spec"] for s in services.values()])
    assert not [k for k, v in project.secrets.items() if v in definitions], "a secret in a service definition"
    influx = services[f"{project.ports['project']}-influxdb"].attrs["Spec"]
    assert influx["TaskTemplate"]["Placement"]["Constraints"] == ["node.labels.disk==ssd"]
    assert {s["File"]["Name"] for s in influx["TaskTemplate"]["ContainerSpec"]["Secrets"]} >= {
        "INFLUXDB_ADMIN_PASSWORD"
    }
    assert swarm.configs.list(filters={"label": f"polysource.project={project.ports['project']}"})

    wait_subscribed(project, since=started)
    publish(project, SEED_READING)
    (point,) = wait_readings(project, 1)
    assert point["valeur"] == 99.9

    status = run_cli(*project.args("status"))
    assert status.exit_code == 0, status.output
    hostname = swarm.info()["Name"]
    assert any(
        line.split()[:3] == ["influxdb", hostname, "running"] for line in status.output.splitlines()
    ), status.output

    again = run_cli(*project.args("deploy"))
    assert "0 swarm service(s) created or updated" in again.output, again.output

    # A changed sensor changes telegraf.conf: Telegraf rolls (new task first), readings flowing.
    telegraf_id = services[f"{project.ports['project']}-telegraf"].id
    with steadily(lambda value: publish(project, {**SEED_READING, "valeur": value}), every=0.1) as sent:
        time.sleep(2)
        project.edit("unit: m, min: 0", "unit: m, interval: 10s, min: 0")
        _, rolled = deploy(project)
        time.sleep(3)
    assert "update    telegraf (start-first" in rolled.output
    assert swarm.services.get(telegraf_id).attrs["Spec"]["UpdateConfig"]["Order"] == "start-first"
    stored = lambda: {p["valeur"] for p in readings(project)}  # noqa: E731
    wait_for(lambda: stored() >= set(sent), 60, f"all {len(sent)} readings through the rolling update")

    down = run_cli(*project.args("down", "--volumes"))
    assert down.exit_code == 0, down.output
    assert not swarm.services.list(filters={"label": f"polysource.project={project.ports['project']}"})


@pytest.fixture
def two_nodes(docker_engine, test_images):
    """The tests' dockerd as manager, and a second dockerd in its own network namespace joined as
    a worker: two machines as far as Docker can tell (addresses, hostnames, images, volumes)."""
    from images import build_all

    from conftest import stand_in_binaries

    node = NetnsDockerd().start()
    manager = docker.DockerClient(base_url=docker_engine)
    worker = docker.DockerClient(base_url=node.url)
    try:
        assert build_all(worker, stand_in_binaries()) == test_images  # the same tags on both
        fresh_gateway_bridge(manager)
        fresh_gateway_bridge(worker)
        manager.swarm.init(advertise_addr=node.host_address, listen_addr=f"{node.host_address}:2377")
        token = manager.swarm.attrs["JoinTokens"]["Worker"]
        worker.swarm.join(
            remote_addrs=[f"{node.host_address}:2377"],
            join_token=token,
            advertise_addr=node.address,
            listen_addr=f"{node.address}:2377",
        )
        wait_for(lambda: len(manager.nodes.list()) == 2, 30, "the worker in the swarm")
        for each in manager.nodes.list():
            labels = (
                {"site": "b"} if each.attrs["Description"]["Hostname"] == node.hostname else {"disk": "ssd"}
            )
            each.update({**each.attrs["Spec"], "Labels": labels})
        yield manager, worker, node
    finally:
        for client in (worker, manager):
            with contextlib.suppress(docker.errors.APIError):
                client.swarm.leave(force=True)
        for volume in worker.volumes.list():
            volume.remove(force=True)
        fresh_gateway_bridge(manager)
        fresh_gateway_bridge(worker)
        node.stop()


def test_one_inventory_one_deploy_across_two_nodes(deploy_project, two_nodes):
    """InfluxDB on the machine with the disk, the broker, Telegraf and Grafana on the other; the
    overlay network between them; Grafana converged through the worker's own Docker API."""
    manager, worker, node = two_nodes
    project = deploy_project()
    project.edit(
        "  platform: linux/amd64\n",
        "  platform: linux/amd64\n  swarm:\n"
        "    placement: {influxdb: {disk: ssd}, mosquitto: {site: b}, telegraf: {site: b}}\n"
        f'    nodes: {{{node.hostname}: "{node.url}"}}\n',
    )
    unpinned = run_cli(*project.args("deploy", "--dry-run"))
    assert unpinned.exit_code == 1 and "grafana: keeps its data in a volume" in unpinned.output
    assert "influxdb:" not in unpinned.output, "pinned services are not named"
    project.edit("telegraf: {site: b}}", "telegraf: {site: b}, grafana: {site: b}}")
    _, first = deploy(project)
    assert "converging grafana" in first.output and "converging influxdb" in first.output

    status = run_cli(*project.args("status"))
    where = {name: row[1] for name, row in service_rows(status.output).items()}
    assert where["influxdb"] == manager.info()["Name"]
    assert where["mosquitto"] == where["telegraf"] == where["grafana"] == node.hostname, status.output

    # A board publishes to the broker on the second node; Telegraf there writes to InfluxDB on
    # the first, across the overlay network.
    def stored() -> bool:
        publish(project, SEED_READING, host=node.address)
        return bool(readings(project))

    wait_for(stored, 90, "a reading from the second node's broker in the first node's InfluxDB", interval=2)
    down = run_cli(*project.args("down", "--volumes"))
    assert down.exit_code == 0, down.output
