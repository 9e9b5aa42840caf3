"""`status` tells each sensor's last reading and flags the silent ones, read from the real
InfluxDB that the real Telegraf writes to."""

import time

from deploy_helpers import SEED_READING, deploy, publish, wait_readings, wait_subscribed

from helpers import run_cli


def sensor_lines(output: str) -> dict[str, str]:
    lines = output.split("SENSOR", 1)[1].splitlines()[1:]
    return {line.split()[0]: line for line in lines if line and not line[0].isdigit()}


def test_status_flags_a_sensor_that_stops_publishing(deploy_project):
    project = deploy_project()
    project.edit(
        "  Test_4G: {stream: capteurs,",
        "  Other: {stream: capteurs, unit: m, interval: 2s}\n"
        "  Never: {stream: capteurs, unit: m}\n"
        "  Test_4G: {stream: capteurs, interval: 2s,",
    )
    wait_subscribed(project, since=deploy(project)[0])
    publish(project, SEED_READING)
    publish(project, {**SEED_READING, "idCapteur": "Other", "valeur": 7.5})
    wait_readings(project, 2)
    first = run_cli(*project.args("status"))
    assert first.exit_code == 0, first.output
    rows = sensor_lines(first.output)
    assert rows["Test_4G"].split()[-1] == "ok" and "99.9 m" in rows["Test_4G"]
    assert rows["Other"].split()[-1] == "ok" and "7.5 m" in rows["Other"]
    assert rows["Never"].endswith("NEVER") and "none in 30 days" in rows["Never"]

    # Other stops; Test_4G goes on. Three of Other's 2 s intervals later, it is flagged.
    time.sleep(7)
    publish(project, {**SEED_READING, "valeur": 50.0})
    wait_readings(project, 3)
    later = run_cli(*project.args("status"))
    rows = sensor_lines(later.output)
    assert rows["Other"].endswith("SILENT"), later.output
    assert rows["Test_4G"].split()[-1] == "ok" and "50 m" in rows["Test_4G"]
    assert "3 sensor(s), 2 silent" in later.output
    # the real free space of the filesystem holding InfluxDB's volume, as df sees it here
    import re
    import shutil

    found = re.search(
        r"disk: ([\d.]+) (GB|MB) free of ([\d.]+) (GB|MB) where InfluxDB keeps its data", later.output
    )
    assert found, later.output
    total = float(found[3]) * (1e9 if found[4] == "GB" else 1e6)
    from services import tools_dir

    real = shutil.disk_usage(tools_dir()).total  # the tests' dockerd keeps its volumes below it
    assert abs(total - real) / real < 0.05, (total, real)
