"""The whole stack as Docker Swarm services on a single-node swarm of the tests' dockerd: swarm
configs and secrets (no secret in any service definition), placement by node label, tasks per
node in status, and a rolling update of Telegraf (new task first) that loses no reading."""

import contextlib
import time

import docker
import pytest
from deploy_helpers import (
    SEED_READING,
    deploy,
    influx,
    publish,
    readings,
    wait_readings,
    wait_subscribed,
    watched,
)

from helpers import run_cli, service_rows, steadily
from polysource.runtime.engine import connect
from services import NetnsDockerd, wait_for


def fresh_gateway_bridge(client) -> None:
    """docker_gwbridge outlives a swarm in the cached data root, with its old endpoints: a new
    swarm then hands a task an address the bridge's NAT sends elsewhere. Start each swarm clean."""
    for network in client.networks.list(names=["docker_gwbridge"]):
        with contextlib.suppress(docker.errors.APIError):
            network.remove()


def out_of_any_swarm(client) -> None:
    """A run stopped during a swarm test leaves its swarm in the cached data root, and the next
    run's init is refused ("already part of a swarm"): leave it, then start clean."""
    if client.info()["Swarm"]["LocalNodeState"] != "inactive":
        client.swarm.leave(force=True)
    fresh_gateway_bridge(client)


@pytest.fixture
def swarm(docker_engine):
    client = docker.DockerClient(base_url=docker_engine)
    out_of_any_swarm(client)
    client.swarm.init(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377")
    (node,) = client.nodes.list()
    spec = node.attrs["Spec"]
    node.update({**spec, "Labels": {"disk": "ssd", "site": "lab"}})
    yield client
    client.swarm.leave(force=True)
    fresh_gateway_bridge(client)


def test_the_stack_runs_as_swarm_services(deploy_project, swarm, docker_engine):
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
    influx_spec = services[f"{project.ports['project']}-influxdb"].attrs["Spec"]
    assert influx_spec["TaskTemplate"]["Placement"]["Constraints"] == ["node.labels.disk==ssd"]
    for service in services.values():  # each task's log bounded on its node's card
        driver = service.attrs["Spec"]["TaskTemplate"]["LogDriver"]
        assert driver == {"Name": "json-file", "Options": {"max-size": "10m", "max-file": "3"}}
    assert {s["File"]["Name"] for s in influx_spec["TaskTemplate"]["ContainerSpec"]["Secrets"]} >= {
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
    assert "0 swarm service(s) created, updated or converged" in again.output, again.output

    # A retention change: the plan says what converge will do in the running task (it said `keep
    # influxdb` and nothing else), and InfluxDB's own answer shows it done.
    project.edit("database: polysource}", "database: polysource, retention: 30d}")
    plan = run_cli(*project.args("deploy", "--dry-run"))
    assert "converge  influxdb (retention 90d -> 30d" in plan.output, plan.output
    assert "1 swarm service(s) to create, update or converge" in plan.output
    deploy(project)
    (policy,) = [p for p in influx(project, "SHOW RETENTION POLICIES") if p["default"]]
    assert policy["duration"] == "720h0m0s"

    # A changed sensor changes telegraf.conf: Telegraf rolls (new task first), readings flowing;
    # Grafana's task stays, its dashboards written in place in its volume (as on one host).
    telegraf_id = services[f"{project.ports['project']}-telegraf"].id
    dashboard = f"/etc/grafana/dashboards/{project.ports['project']}-tests.json"

    def grafana() -> tuple[str, bytes]:
        (box,) = swarm.containers.list(
            filters={
                "label": [f"polysource.project={project.ports['project']}", "polysource.service=grafana"]
            }
        )
        stream, _ = box.get_archive(dashboard)
        return box.id, b"".join(stream)

    rendered = lambda: (project.output / "grafana/dashboards" / dashboard.rsplit("/", 1)[1]).read_bytes()  # noqa: E731
    grafana_before, shown = grafana()
    assert rendered() in shown, "the dashboards written when Grafana's service was created"
    with steadily(lambda value: publish(project, {**SEED_READING, "valeur": value}), every=0.1) as sent:
        time.sleep(2)
        project.edit("unit: m, min: 0", "unit: m, interval: 10s, min: 0")
        _, rolled = deploy(project)
        time.sleep(3)
    assert "update    telegraf (start-first" in rolled.output
    assert "update    grafana (re-read in place: grafana/dashboards/" in rolled.output, rolled.output
    grafana_after, shown = grafana()
    assert grafana_after == grafana_before, "Grafana's task was replaced"
    assert rendered() in shown and b'"10s"' in rendered()
    assert swarm.services.get(telegraf_id).attrs["Spec"]["UpdateConfig"]["Order"] == "start-first"
    stored = lambda: {p["valeur"] for p in readings(project)}  # noqa: E731
    wait_for(lambda: stored() >= set(sent), 60, f"all {len(sent)} readings through the rolling update")

    # The replaced task's container stays behind, exited: every tool reads the running one.
    name = project.ports["project"]
    labels = {"label": [f"polysource.project={name}", "polysource.service=telegraf"]}
    left = lambda: swarm.containers.list(all=True, filters=labels)  # noqa: E731
    wait_for(lambda: {c.status for c in left()} > {"running"}, 60, "the replaced task's container exited")
    assert connect(docker_engine).services(name)["telegraf"].status == "running"

    # Telegraf's writes refused behind the inventory's back: its task stays "running"; status says
    # what the single host says.
    influx(project, "SET PASSWORD FOR \"telegraf\" = 'changed by hand'")
    wait_for(
        lambda: "running but not writing" in run_cli(*project.args("status")).output, 90, "the status note"
    )

    down = run_cli(*project.args("down"))
    assert down.exit_code == 0, down.output
    assert not swarm.services.list(filters={"label": f"polysource.project={project.ports['project']}"})

    # down, then deploy: the stack comes back on its volumes (the password deploy converged back).
    _, back = deploy(project)
    assert "create    influxdb" in back.output, back.output
    down = run_cli(*project.args("down", "--volumes"))
    assert down.exit_code == 0, down.output


def rotate_passwords_with_readings_flowing(project, host: str | None = None) -> set[float]:
    """The write, read and admin passwords rotated at once while a board publishes at 10/s; every
    reading stored, the old read password refused, the new ones accepted. The values sent."""
    with steadily(
        lambda value: publish(project, {**SEED_READING, "valeur": value}, host=host), every=0.1
    ) as sent:
        time.sleep(2)
        project.write_secrets(
            INFLUXDB_WRITE_PASSWORD="rotated write 'pw'",
            INFLUXDB_READ_PASSWORD="rotated-read",
            INFLUXDB_ADMIN_PASSWORD="rotated admin $HOME",
        )
        plan = run_cli(*project.args("deploy", "--dry-run"))
        assert "stopping  telegraf (its InfluxDB account changes" in plan.output, plan.output
        assert "password of user telegraf" in plan.output and "rotated" not in plan.output
        deploy(project)
        time.sleep(3)
    stored = lambda: {p["valeur"] for p in readings(project)}  # noqa: E731
    wait_for(lambda: stored() >= set(sent), 60, f"all {len(sent)} readings through the rotation")
    assert readings(project, user="grafana", password="rotated-read")
    with pytest.raises(Exception, match="authorization failed"):
        readings(project, user="grafana", password="test-only-read")
    assert influx(project, "SHOW USERS", password="rotated admin $HOME")
    return set(sent)


def test_password_rotations_on_the_swarm_lose_no_reading(deploy_project, swarm):
    """The single host's promise on a swarm: the write, read and admin passwords rotated at once
    with readings flowing at 10/s. Telegraf is scaled to none before InfluxDB's converge (a batch
    refused with 401 is dropped); converge goes into InfluxDB's new task before its healthcheck
    (which needs the new password) can pass, with the previous admin password read from the old
    task's secrets."""
    project = deploy_project()
    project.edit("  platform: linux/amd64\n", "  platform: linux/amd64\n  swarm: {}\n")
    started, _ = deploy(project)
    wait_subscribed(project, since=started)
    rotate_passwords_with_readings_flowing(project)


def restore_keeps_one_influxdb_and_one_grafana(
    project, tmp_path, clients, node: str | None = None, host: str | None = None
) -> None:
    """Backup, `down --volumes`, a fresh deploy with a new reading, then restore: the readings of
    both and Grafana's own user back, and never two InfluxDBs or two Grafanas running at once,
    nor a plain container beside the swarm's tasks, on any node (clients: each node's Docker).
    node, host: the Docker URL and the address of the node running the broker, Telegraf and
    Grafana (else the tests' dockerd)."""
    import threading

    from test_backup import add_grafana_user, grafana_api

    from polysource.backup.archive import archives

    add_grafana_user(project, "teacher", url=node)
    before = {r["valeur"] for r in readings(project)}
    taken = run_cli(*project.args("backup", "--to", str(tmp_path / "backups")))
    assert taken.exit_code == 0, taken.output
    (archive,) = archives(tmp_path / "backups", project.ports["project"])

    down = run_cli(*project.args("down", "--volumes"))
    assert down.exit_code == 0, down.output
    wait_subscribed(project, url=node, since=deploy(project)[0])
    publish(project, {**SEED_READING, "valeur": 42.0}, host=host)
    wait_readings(project, 1)
    assert grafana_api(project, "/api/user", "teacher", "teacher-pw", url=node) == 401, "a fresh Grafana"

    name = project.ports["project"]
    most: dict[str, int] = {}
    plain: set[str] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            running = [
                c
                for client in clients
                for c in client.containers.list(filters={"label": f"polysource.project={name}"})
            ]
            for service in ("influxdb", "grafana"):
                count = sum(c.labels.get("polysource.service") == service for c in running)
                most[service] = max(most.get(service, 0), count)
            plain.update(  # a service's container outside the swarm (helpers have no service)
                c.name
                for c in running
                if "polysource.service" in c.labels and "com.docker.swarm.task.id" not in c.labels
            )
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        restored = run_cli(*project.args("restore", str(archive)))
    finally:
        done.set()
        watcher.join(10)
    assert restored.exit_code == 0, restored.output
    assert most == {"influxdb": 1, "grafana": 1}, most
    assert not plain, plain
    assert {r["valeur"] for r in readings(project)} == before | {42.0}
    wait_for(
        lambda: grafana_api(project, "/api/user", "teacher", "teacher-pw", url=node) == 200,
        60,
        "Grafana restored",
    )
    assert clients[0].services.list(filters={"label": f"polysource.project={name}"})


def test_restore_on_the_swarm_never_runs_a_second_influxdb_or_grafana(deploy_project, swarm, tmp_path):
    """Restore goes through the swarm's own executor: Grafana's service is scaled to none while its
    data is swapped (a task's container stopped by hand is replaced at once: a second Grafana on
    the same volume), and the stack is converged as swarm services, never as plain containers."""
    project = deploy_project()
    project.edit("  platform: linux/amd64\n", "  platform: linux/amd64\n  swarm: {}\n")
    wait_subscribed(project, since=deploy(project)[0])
    publish(project, SEED_READING)
    wait_readings(project, 1)
    restore_keeps_one_influxdb_and_one_grafana(project, tmp_path, [swarm])


def test_odd_names_and_passwords_and_a_downsample_change_on_the_swarm(deploy_project, swarm):
    """The single host's odd names on a swarm: the image's first-start setup stops half way on
    the database `lab-local` and the admin password `adm n*pass` (unquoted in its script, as the
    official image's); its task dies while converge is in it, and deploy follows the swarm into
    the next task (it said "no task running after 120 s"). Then a downsample change: shown by
    --dry-run, made true in the running task (tier, continuous query)."""
    from test_converge import ODD

    project = deploy_project(database="lab-local", secrets=ODD, influxdb_extra=", retention: 30d")
    project.edit("  platform: linux/amd64\n", "  platform: linux/amd64\n  swarm: {}\n")
    started, first = deploy(project)
    assert "converge  influxdb (not converged yet: database lab-local" in first.output, first.output
    wait_subscribed(project, since=started)
    publish(project, SEED_READING)
    (point,) = wait_readings(project, 1)
    assert point["valeur"] == 99.9
    assert influx(project, "SHOW USERS", password=ODD["INFLUXDB_ADMIN_PASSWORD"])

    project.edit("retention: 30d", "retention: 30d, downsample: [{every: 1m, keep: 104w}]")
    plan = run_cli(*project.args("deploy", "--dry-run"))
    assert "downsample none -> 1m means kept 104w" in plan.output, plan.output
    assert "keep      influxdb" in plan.output, "a tier is converged in the running task"
    deploy(project)
    (policy,) = [p for p in influx(project, "SHOW RETENTION POLICIES") if p["name"] == "rp_1m"]
    assert policy["duration"] == "17472h0m0s"
    assert influx(project, "SHOW CONTINUOUS QUERIES")
    assert "0 swarm service(s) created, updated or converged" in run_cli(*project.args("deploy")).output


def test_a_change_influxdb_2_cannot_take_is_refused_on_the_swarm_too(deploy_project, swarm):
    """InfluxDB 2 keeps the operator token it was set up with: a new INFLUXDB_TOKEN is refused
    before anything changes, as on one host (the swarm path did not check)."""
    project = deploy_project(influx_version=2)
    project.edit("  platform: linux/amd64\n", "  platform: linux/amd64\n  swarm: {}\n")
    deploy(project)
    name = project.ports["project"]
    before = {s.id: s.version for s in swarm.services.list(filters={"label": f"polysource.project={name}"})}
    project.write_secrets(INFLUXDB_TOKEN="another-token-entirely")
    for args in (("deploy", "--dry-run"), ("deploy",)):
        result = run_cli(*project.args(*args))
        assert result.exit_code == 1, result.output
        assert "INFLUXDB_TOKEN differs from the operator token" in result.output
    after = {s.id: s.version for s in swarm.services.list(filters={"label": f"polysource.project={name}"})}
    assert after == before, "a service changed"


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
        out_of_any_swarm(manager)
        out_of_any_swarm(worker)
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
        for container in worker.containers.list(all=True):  # tasks the swarm had not removed yet
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
        for volume in worker.volumes.list():
            volume.remove(force=True)
        fresh_gateway_bridge(manager)
        fresh_gateway_bridge(worker)
        node.stop()


def test_one_inventory_one_deploy_across_two_nodes(deploy_project, two_nodes, tmp_path):
    """InfluxDB on the machine with the disk, the broker, Telegraf and Grafana on the other; the
    overlay network between them; Grafana converged, its dashboards written, backed up and
    restored through the worker's own Docker API; passwords rotated with readings flowing from
    the worker's broker; `down --volumes` empties both nodes."""
    manager, worker, node = two_nodes
    project = deploy_project()
    project.edit(  # boards reach the broker on the second node: its certificate is for that address
        "  platform: linux/amd64\n",
        f"  platform: linux/amd64\n  address: {node.address}\n  swarm:\n"
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

    # Grafana's dashboards were written into its volume on the worker, through the worker's API.
    name = project.ports["project"]
    rendered = (project.output / "grafana/dashboards" / f"{name}-tests.json").read_bytes()
    (grafana,) = worker.containers.list(
        filters={"label": [f"polysource.project={name}", "polysource.service=grafana"]}
    )
    stream, _ = grafana.get_archive(f"/etc/grafana/dashboards/{name}-tests.json")
    assert rendered in b"".join(stream)

    rotate_passwords_with_readings_flowing(project, host=node.address)
    restore_keeps_one_influxdb_and_one_grafana(project, tmp_path, [manager, worker], node.url, node.address)

    down = run_cli(*project.args("down", "--volumes"))
    assert down.exit_code == 0, down.output
    left = [v.name for v in worker.volumes.list() if v.name.startswith(f"{name}_")]
    assert not left, f"down --volumes left the worker's volumes: {left}"


def test_status_says_when_the_swarm_came_back_from_a_power_cut(deploy_project, swarm, docker_process):
    """The Pi's power cut on a swarm: dockerd, containerd and every container killed at once, the
    engine started again; the swarm replaces each killed task with a new one (no restart count
    to read), and `status` says which came back from an unclean stop. After a clean restart of
    the engine (every service logs its clean stop) it says nothing of the kind."""
    project = deploy_project()
    project.edit("  platform: linux/amd64\n", "  platform: linux/amd64\n  swarm: {}\n")
    wait_subscribed(project, since=deploy(project)[0])
    services = ("influxdb", "mosquitto", "telegraf", "grafana")

    def notes() -> dict[str, str]:
        result = run_cli(*project.args("status"))
        rows = result.output.split("\n\n", 1)[0].splitlines()[1:] if result.exit_code == 0 else []
        return {row.split()[0]: row for row in rows if row.strip()}  # the engine may still be starting

    def back(unclean: bool) -> bool:
        found = notes()
        if not set(services) <= set(found):
            return False
        running = all(found[s].split()[2] == "running" for s in services)
        return running and all(("unclean stop" in found[s]) == unclean for s in services)

    docker_process.power_cut()
    try:
        wait_for(lambda: back(unclean=True), 120, "each service back, said to come from an unclean stop", 2)
    except AssertionError:
        print(run_cli(*project.args("status")).output)
        for service in swarm.services.list():
            for task in service.tasks():
                print(service.name, task.get("Slot"), task["CreatedAt"], task["Status"])
        raise
    note = notes()["mosquitto"]
    assert "from an unclean stop: killed, not stopped (a power cut? out of memory?)" in note, note
    wait_subscribed(project, since=time.time() - 60)
    publish(project, SEED_READING)
    assert wait_readings(project, 1)
    # `polysource watch` records it for the "Pi" dashboard, from the same tasks
    assert watched(project, "killed") == dict.fromkeys(services, 1)
    assert watched(project, "restarts") == dict.fromkeys(services, 1)  # the task the cut killed

    docker_process.restart()
    wait_for(lambda: back(unclean=False), 120, "each service back, with nothing said of an unclean stop", 2)
    assert watched(project, "killed") == dict.fromkeys(services, 0)
