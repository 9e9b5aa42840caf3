"""`polysource watch` records Docker's view of the containers in the real InfluxDB (1.8 and 2.7):
a container Docker restarted is counted, as the "Pi" dashboard and the restart-loop rule read it."""

import pytest
from deploy_helpers import containers, deploy, flux, influx

from helpers import run_cli
from services import wait_for

RESTARTS_FLUX = (
    'from(bucket: "polysource") |> range(start: -1h) |> filter(fn: (r) =>'
    ' r._measurement == "pi_container" and r.service == "telegraf" and r._field == "restarts")'
)


@pytest.mark.parametrize("version", [1, 2])
def test_watch_counts_a_restart_docker_made(deploy_project, version):
    project = deploy_project(influx_version=2) if version == 2 else deploy_project()
    deploy(project)
    box = containers(project)["telegraf"]
    before = box.attrs.get("RestartCount", 0)
    code, out = box.exec_run(["sh", "-c", "kill 1"])  # Telegraf exits: Docker's policy restarts it
    assert code in (0, 137), out  # 137: Telegraf gone before `sh` returned, the exec killed with it

    def restarted() -> bool:
        box.reload()
        return box.attrs.get("RestartCount", 0) > before and box.status == "running"

    wait_for(restarted, 60, "Docker restarting Telegraf")
    shown = run_cli(*project.args("status"))
    (row,) = [line for line in shown.output.splitlines() if line.startswith("telegraf ")]
    assert f"restarted {before + 1} time(s): polysource logs telegraf" in row, shown.output
    result = run_cli(*project.args("watch"))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith(f"pi_container,service=telegraf restarts={before + 1}i") for line in lines)
    if version == 1:
        query = 'SELECT "restarts", "running" FROM "pi_container" WHERE "service" = \'telegraf\''
        assert [(r["restarts"], r["running"]) for r in influx(project, query)] == [(before + 1, 1)]
        services = influx(project, 'SHOW TAG VALUES FROM "pi_container" WITH KEY = "service"')
        assert {r["value"] for r in services} >= {"influxdb", "grafana", "telegraf"}
    else:
        assert [int(r["_value"]) for r in flux(project, RESTARTS_FLUX)] == [before + 1]
