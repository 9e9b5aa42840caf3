"""The inventory stays the truth after the first deploy: InfluxDB's database, users, passwords and
retention and Grafana's admin password, converged on the stand-ins that behave like the official
images (first-start-only setup, unquoted substitutions, a temporary server during setup)."""

import time

from deploy_helpers import (
    SEED_READING,
    container_ids,
    containers,
    deploy,
    flux,
    influx,
    publish,
    readings,
    wait_readings,
    wait_subscribed,
)

from helpers import run_cli, steadily
from services import require, wait_for

ODD = {
    # the image's setup breaks on each: unquoted on a command line, inside '...' in InfluxQL
    "INFLUXDB_ADMIN_PASSWORD": "adm n*pass",
    "INFLUXDB_WRITE_PASSWORD": 'it\'s a "pass" word',
}


def grafana_login(project, user: str, password: str) -> int:
    """The HTTP status of Grafana's /api/user for that login, asked inside its container."""
    url = f"http://{user}:{password}@127.0.0.1:3000/api/user".replace(" ", "%20")
    code, out = containers(project)["grafana"].exec_run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url]
    )
    return int(out.decode())


def test_odd_names_and_passwords_work_then_every_setting_follows_the_inventory(deploy_project):
    project = deploy_project(database="lab-local", secrets=ODD)
    assert "lab-local" in project.inventory.read_text()
    started, first = deploy(project)
    assert "converge  influxdb (not converged yet: database lab-local" in first.output
    wait_subscribed(project, since=started)
    publish(project, SEED_READING)
    (point,) = wait_readings(project, 1)
    assert point["valeur"] == 99.9
    assert containers(project)["influxdb"].attrs["RestartCount"] >= 1, (
        "the image's setup failed and restarted"
    )

    # Rotate the write and read passwords: Telegraf and Grafana get them, and so does InfluxDB.
    project.write_secrets(INFLUXDB_WRITE_PASSWORD="rotated write 'pw'", INFLUXDB_READ_PASSWORD="rotated-read")
    plan = run_cli(*project.args("deploy", "--dry-run"))
    assert "converge  influxdb (password of user telegraf; password of user grafana)" in plan.output
    assert "rotated" not in plan.output
    started, _ = deploy(project)
    wait_subscribed(project, since=started)
    publish(project, {**SEED_READING, "valeur": 12.5})
    wait_readings(project, 2)
    assert len(readings(project, user="grafana", password="rotated-read")) == 2

    # Change the retention: converged in place, InfluxDB is not restarted for it.
    before = container_ids(project)
    project.edit("database: lab-local}", "database: lab-local, retention: 30d}")
    plan = run_cli(*project.args("deploy", "--dry-run"))
    assert "keep      influxdb" in plan.output
    assert (
        "converge  influxdb (retention 90d -> 30d (readings older than 30d will be deleted))" in plan.output
    )
    deploy(project)
    (policy,) = [p for p in influx(project, "SHOW RETENTION POLICIES") if p["default"]]
    assert policy["duration"] == "720h0m0s"
    assert container_ids(project)["influxdb"] == before["influxdb"]

    # Grafana's admin password and login, proven by logging in through Grafana's HTTP API.
    new = "new grafana admin"
    project.write_secrets(GRAFANA_ADMIN_PASSWORD=new)
    deploy(project)
    assert grafana_login(project, "admin", new) == 200
    assert grafana_login(project, "admin", "test-only-grafana") == 401
    project.edit(
        f"grafana: {{port: {project.ports['grafana']}",
        f"grafana: {{admin_user: boss, port: {project.ports['grafana']}",
    )
    plan = run_cli(*project.args("deploy", "--dry-run"))
    assert "converge  grafana (admin user admin -> boss; password of user boss)" in plan.output, plan.output
    deploy(project)
    assert (grafana_login(project, "boss", new), grafana_login(project, "admin", new)) == (200, 401)
    project.write_secrets(GRAFANA_ADMIN_PASSWORD="abc")
    short = run_cli(*project.args("deploy"))
    assert short.exit_code == 1 and "GRAFANA_ADMIN_PASSWORD: Grafana wants 4 characters" in short.output
    assert "abc" not in short.output and grafana_login(project, "boss", new) == 200

    # grafana cli prints success and changes nothing when its database has no user id 1 (Grafana
    # 11.x): deploy must see that the new password does not log in, and record nothing.
    grafana = containers(project)["grafana"]
    code, out = grafana.exec_run(["sed", "-i", 's/"id": 1,/"id": 7,/', "/var/lib/grafana/grafana.db"])
    assert code == 0, out
    project.write_secrets(GRAFANA_ADMIN_PASSWORD="one that never takes")
    failed = run_cli(*project.args("deploy", "--timeout", "60"))
    assert failed.exit_code == 1, failed.output
    assert "grafana: boss cannot log in with GRAFANA_ADMIN_PASSWORD" in failed.output
    assert "one that never takes" not in failed.output
    again = run_cli(*project.args("deploy", "--dry-run"))
    assert "converge  grafana (password of user boss)" in again.output, "a failed converge is not recorded"
    code, out = grafana.exec_run(["sed", "-i", 's/"id": 7,/"id": 1,/', "/var/lib/grafana/grafana.db"])
    project.write_secrets(GRAFANA_ADMIN_PASSWORD=new)

    # The admin password: set with the previous one, which the previous container still had.
    project.write_secrets(INFLUXDB_ADMIN_PASSWORD="the new admin one")
    deploy(project)
    assert influx(project, "SHOW DATABASES", password="the new admin one")

    # After all that, nothing left to do.
    ids = container_ids(project)
    last = run_cli(*project.args("deploy"))
    assert "0 change(s)" in last.output, last.output
    assert container_ids(project) == ids


def test_rotating_telegrafs_password_loses_no_reading(deploy_project):
    """InfluxDB's output drops what InfluxDB refuses: Telegraf must not write with the old
    password once InfluxDB has the new one. Readings flow at 10/s through the whole rotation."""
    project = deploy_project()
    started, _ = deploy(project)
    wait_subscribed(project, since=started)
    with steadily(lambda value: publish(project, {**SEED_READING, "valeur": value}), every=0.1) as sent:
        time.sleep(2)
        project.write_secrets(INFLUXDB_WRITE_PASSWORD="rotated while readings flow")
        plan = run_cli(*project.args("deploy", "--dry-run"))
        assert "stopping  telegraf (its InfluxDB account changes" in plan.output, plan.output
        deploy(project)
        time.sleep(3)
    # QoS 1 is at least once: around Telegraf's restart a reading may be stored twice, never lost
    stored = lambda: {p["valeur"] for p in readings(project)}  # noqa: E731
    wait_for(lambda: stored() >= set(sent), 60, f"all {len(sent)} readings")
    assert stored() == set(sent)


def test_influxdb_is_healthy_only_once_ready_to_serve_the_stack(deploy_project, docker_engine, tmp_path):
    """Not while the image's setup runs a temporary server on 127.0.0.1:8086, and not while the
    database or Telegraf's account is missing."""
    from polysource.deploy.apply import probe_command
    from polysource.deploy.converge import convergers
    from polysource.deploy.run import secret_values
    from polysource.deploy.spec import desired_containers
    from polysource.pipeline import fresh_files, load_stack
    from polysource.runtime.engine import connect

    project = deploy_project()
    stack = load_stack(project.inventory)
    values, _ = secret_values(stack)
    spec = next(
        s
        for s in desired_containers(stack, fresh_files(project.inventory, project.output), values)
        if s.service.name == "influxdb"
    )
    engine = connect(docker_engine)
    from polysource.deploy.apply import ensure_network

    network = ensure_network(engine, project.ports["project"])
    init = tmp_path / "init"
    init.mkdir()
    (init / "slow.sh").write_text("sleep 8\n")  # a long setup, as on a Pi's SD card
    kwargs = spec.create_kwargs(network, engine.api_version)
    kwargs.pop("ports")
    from docker.types import Mount

    kwargs["mounts"] = [m for m in kwargs["mounts"]] + [
        Mount("/docker-entrypoint-initdb.d", str(init), type="bind")
    ]
    kwargs["name"] = f"{spec.name}-probe"
    box = engine.create(**kwargs)
    try:
        box.start()
        health = probe_command(spec.service.healthcheck)
        naive = ["sh", "-c", "curl -fsS -o /dev/null http://127.0.0.1:8086/ping"]
        naive_passed_during_setup = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = b"init process done" in box.logs(tail=200)
            if not done and box.run(naive)[0] == 0:
                naive_passed_during_setup = True
            if box.run(health)[0] == 0:
                finished = b"init process done" in box.logs(tail=200)  # read after: no race
                assert finished, "healthy while the setup's temporary server was answering"
                break
            time.sleep(0.2)
        else:
            raise AssertionError("never healthy")
        assert naive_passed_during_setup, "the stand-in's temporary server answered on 127.0.0.1:8086"
    finally:
        box.remove(force=True)

    # A database the image's setup cannot create: not healthy until deploy converges it.
    broken = deploy_project(database="lab-local")
    stack = load_stack(broken.inventory)
    values, _ = secret_values(stack)
    spec = next(
        s
        for s in desired_containers(stack, fresh_files(broken.inventory, broken.output), values)
        if s.service.name == "influxdb"
    )
    kwargs = spec.create_kwargs(network, engine.api_version)
    kwargs.pop("ports")
    kwargs["name"] = f"{spec.name}-probe2"
    box = engine.create(**kwargs)
    try:
        box.start()
        converger = convergers(stack, values)["influxdb"]
        from polysource.deploy.apply import _probe

        wait_for(lambda: _probe(box, converger.answers), 60, "the real server, after the failed setup")
        assert box.run(probe_command(spec.service.healthcheck))[0] != 0
        converger.apply(box, None, [])
        wait_for(
            lambda: box.run(probe_command(spec.service.healthcheck))[0] == 0, 10, "healthy after converge"
        )
    finally:
        box.remove(force=True)


def test_running_but_not_writing_is_reported_and_fixed_by_deploy(deploy_project):
    """Telegraf's InfluxDB output drops a batch refused with 401 (and acknowledges it): its Docker
    health cannot tell, its heartbeat in InfluxDB can; InfluxDB's own healthcheck (Telegraf's
    account writes) goes red, and deploy converges it again."""
    project = deploy_project()
    started, _ = deploy(project)
    wait_subscribed(project, since=started)

    def status_note() -> str:
        result = run_cli(*project.args("status"))
        assert result.exit_code == 0, result.output
        return result.output

    wait_for(lambda: influx(project, 'SELECT * FROM "internal_write"'), 30, "Telegraf's first heartbeat")
    assert "not writing" not in status_note()
    influx(project, "SET PASSWORD FOR \"telegraf\" = 'changed by hand'")  # behind the inventory's back

    try:
        wait_for(
            lambda: "running but not writing: its last write reached InfluxDB" in status_note(), 90, "note"
        )
    finally:
        print(status_note())
        print(containers(project)["telegraf"].logs(tail=20).decode())
    wait_for(
        lambda: containers(project)["influxdb"].attrs["State"]["Health"]["Status"] == "unhealthy", 60, "red"
    )
    plan = run_cli(*project.args("deploy", "--dry-run"))
    assert "converge  influxdb (unhealthy: checking its database, users and passwords again)" in plan.output
    deploy(project)
    publish(project, SEED_READING)
    wait_readings(project, 1)
    wait_for(lambda: "not writing" not in status_note(), 30, "telegraf writing again")


def test_influxdb2_converges_bucket_retention_and_refuses_a_new_token(deploy_project):
    project = deploy_project(influx_version=2, database="capteurs")
    started, first = deploy(project)
    assert "converge  influxdb (not converged yet: organization lab, bucket capteurs" in first.output
    wait_subscribed(project, since=started)
    publish(project, SEED_READING)

    text = 'from(bucket: "capteurs") |> range(start: -1h) |> filter(fn: (r) => r._measurement == "capteurs")'
    wait_for(lambda: flux(project, text), 30, "the seed reading in InfluxDB 2")
    verified = run_cli(*project.args("verify", "Test_4G", "--timeout", "20")[:-2])
    assert verified.exit_code == 0, verified.output  # the Flux path, through the container's CLI
    assert verified.output.splitlines()[-1].split()[:2] == ["ok", "stored"]

    project.edit("database: capteurs,", "database: capteurs, retention: 7d,")
    plan = run_cli(*project.args("deploy", "--dry-run"))
    assert "converge  influxdb (retention 90d -> 7d" in plan.output
    deploy(project)
    buckets = containers(project)["influxdb"].exec_run(
        ["influx", "bucket", "list", "--name", "capteurs", "--json", "--host", "http://localhost:8086"],
        environment={"INFLUX_TOKEN": project.secrets["INFLUXDB_TOKEN"]},
    )
    assert '"everySeconds": 604800' in buckets.output.decode()

    ids = container_ids(project)
    project.write_secrets(INFLUXDB_TOKEN="another-token-entirely")
    result = run_cli(*project.args("deploy"))
    assert result.exit_code == 1
    assert "INFLUXDB_TOKEN differs from the operator token" in result.stderr
    assert "nothing was changed" in result.stderr
    assert container_ids(project) == ids


def test_the_influxdb2_stand_in_forgets_a_failed_setup_as_the_image_does(docker_engine, test_images):
    """The image's entrypoint deletes the bolt and engine files when its setup fails (an EXIT
    trap), so the next start sets up again instead of taking a half-made database for a
    finished one. influx setup refuses a password under 8 characters: the first start fails;
    with a good one, the same volume is set up."""
    import uuid

    import docker

    require("influxdb2" in test_images, "influxdb 2.x (built by scripts/services.sh)")
    client = docker.DockerClient(base_url=docker_engine)
    volume = client.volumes.create(f"t{uuid.uuid4().hex[:8]}-influxdb2")
    env = {
        "DOCKER_INFLUXDB_INIT_MODE": "setup",
        "DOCKER_INFLUXDB_INIT_USERNAME": "admin",
        "DOCKER_INFLUXDB_INIT_ORG": "lab",
        "DOCKER_INFLUXDB_INIT_BUCKET": "polysource",
        "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN": "test-only-operator-token",
    }
    mounts = [docker.types.Mount("/var/lib/influxdb2", volume.name)]

    def listing() -> str:
        return client.containers.run(
            test_images["influxdb2"], ["ls", "/var/lib/influxdb2"], entrypoint=[], mounts=mounts, remove=True
        ).decode()

    try:
        failed = client.containers.run(
            test_images["influxdb2"], environment={**env, "DOCKER_INFLUXDB_INIT_PASSWORD": "short"},
            mounts=mounts, detach=True,
        )  # fmt: skip
        assert failed.wait(timeout=60)["StatusCode"] != 0
        assert b"cleaning bolt and engine files" in failed.logs()
        failed.remove()
        assert "influxd.bolt" not in listing()
        good = client.containers.run(
            test_images["influxdb2"], environment={**env, "DOCKER_INFLUXDB_INIT_PASSWORD": "long enough"},
            mounts=mounts, detach=True,
        )  # fmt: skip
        try:
            check = 'curl -fsS -H "Authorization: Token test-only-operator-token" http://127.0.0.1:8086/api/v2/buckets'
            wait_for(lambda: good.exec_run(["sh", "-c", check])[0] == 0, 60, "InfluxDB 2 set up on the retry")
            assert b'"name":"polysource"' in good.exec_run(["sh", "-c", check])[1].replace(b" ", b"")
        finally:
            good.remove(force=True)
    finally:
        volume.remove(force=True)
