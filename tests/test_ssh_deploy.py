"""The seed's own target, ssh://pi@raspberrypi.local, for real: a Debian OpenSSH server on
loopback, key authentication, a `pi` user in the docker group, the Docker SDK through the ssh
connection (paramiko: one SSH connection, a channel running `docker system dial-stdio` per
HTTP connection, the laptop's ~/.ssh keys, config and known_hosts), as deploy does it to a Pi."""

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from deploy_helpers import SEED_READING, container_ids, publish, wait_readings, wait_subscribed

from helpers import run_cli, service_rows
from polysource.runtime.engine import connect


def test_deploy_redeploy_status_logs_and_down_over_ssh(
    deploy_project, ssh_server, docker_engine, monkeypatch
):
    monkeypatch.setenv("HOME", str(ssh_server.home))
    project = deploy_project(host=ssh_server.url)
    assert ssh_server.url in project.inventory.read_text()

    started = time.time()
    first = run_cli(*project.args("deploy", "--timeout", "120"))
    assert first.exit_code == 0, first.output
    assert set(container_ids(project, docker_engine)) == {
        "influxdb",
        "mosquitto-passwd",
        "mosquitto",
        "telegraf",
        "grafana",
    }
    wait_subscribed(project, docker_engine, since=started)
    publish(project, SEED_READING)
    (point,) = wait_readings(project, 1)
    assert point["valeur"] == 99.9

    again = run_cli(*project.args("deploy"))
    assert again.exit_code == 0, again.output
    assert "0 change(s)" in again.output

    status = run_cli(*project.args("status"))
    assert status.exit_code == 0, status.output
    services = set(service_rows(status.output))
    assert services >= {"influxdb", "telegraf", "grafana"}

    logs = run_cli(*project.args("logs", "telegraf"))
    assert logs.exit_code == 0
    assert "Connected [ssl://mosquitto:8883]" in logs.output

    # The backup streams from the Pi through the same ssh connection, and restores through it.
    backup = run_cli(*project.args("backup", "--to", str(project.folder / "backups")))
    assert backup.exit_code == 0, backup.output
    (archive,) = (project.folder / "backups").glob("*.tar.gz")

    down = run_cli(*project.args("down", "--volumes"))
    assert down.exit_code == 0, down.output
    assert container_ids(project, docker_engine) == {}
    again = run_cli(*project.args("deploy", "--timeout", "120"))
    assert again.exit_code == 0, again.output
    restored = run_cli(*project.args("restore", str(archive)))
    assert restored.exit_code == 0, restored.output
    (point,) = wait_readings(project, 1)
    assert (point["valeur"], point["idCapteur"]) == (99.9, "Test_4G")
    down = run_cli(*project.args("down", "--volumes"))
    assert down.exit_code == 0, down.output
    log = (ssh_server.folder / "sshd.log").read_text()
    assert "Accepted publickey for pi" in log, "the deploy went through sshd, as the pi user"


def test_a_refused_ssh_login_is_a_clear_error(deploy_project, ssh_server, monkeypatch):
    monkeypatch.setenv("HOME", str(ssh_server.home))
    project = deploy_project()
    url = ssh_server.url.replace("pi@", "nobody@")
    result = run_cli(*project.args("deploy", "--dry-run", "--host", url))
    assert result.exit_code == 1
    assert f"cannot reach a Docker daemon at {url} (over ssh" in result.stderr
    assert "Traceback" not in result.output


def test_concurrent_requests_stay_within_sshds_sessions(ssh_server, docker_engine, monkeypatch):
    """sshd's MaxSessions (10, as on a Pi) bounds the HTTP connections to the Pi's Docker: many
    requests to distinct URLs, eight at a time, must not open an eleventh session."""
    monkeypatch.setenv("HOME", str(ssh_server.home))
    engine = connect(ssh_server.url)
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda i: engine.has_volume(f"polysource-absent-{i}"), range(80)))
    assert found == [False] * 80
    assert "no more sessions" not in (ssh_server.folder / "sshd.log").read_text()


def test_an_ssh_host_after_a_local_one_in_a_fresh_process(ssh_server, docker_engine):
    """A swarm manager on unix:// and a node over ssh:// in one command: the Docker SDK is first
    imported without its ssh transport (start-up time), which the ssh:// host then gets."""
    script = (
        "import sys\n"
        "from polysource.runtime.engine import connect\n"
        "local = connect(sys.argv[1])\n"
        "assert 'paramiko' not in sys.modules, 'paramiko imported for a unix:// host'\n"
        "remote = connect(sys.argv[2])\n"
        "print(local.api_version, remote.api_version)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, docker_engine, ssh_server.url],
        env={**os.environ, "HOME": str(ssh_server.home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.split()) == 2
