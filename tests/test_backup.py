"""Backup and restore on the real dockerd with the stand-in images: every reading comes back
with its tags onto a fresh stack, none acknowledged before a live backup started is missing,
and a damaged or foreign archive restores nothing."""

import io
import json
import tarfile
import threading
import time
from datetime import UTC, datetime

import pytest
from deploy_helpers import (
    SEED_READING,
    client_for,
    containers,
    deploy,
    flux,
    influx,
    publish,
    readings,
    wait_readings,
    wait_subscribed,
    write_lines,
)

from helpers import run_cli
from polysource.backup.archive import (
    BackupError,
    archives,
    digest_file,
    extract_part,
    index,
    read_index,
    to_prune,
)
from services import wait_for


def grafana_file(project) -> bytes:
    stream, _ = containers(project)["grafana"].get_archive("/var/lib/grafana/grafana.db")
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        return tar.extractfile(tar.next()).read()


def grafana_api(
    project, path: str, user: str = "admin", password: str | None = None, body=None, url: str | None = None
) -> int:
    """HTTP status of a request to the Grafana in the stack (inside its container, on the Docker
    host at url: the tests' dockerd by default)."""
    password = password or project.secrets["GRAFANA_ADMIN_PASSWORD"]
    command = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", f"{user}:{password}"]
    if body is not None:
        command += ["-H", "Content-Type: application/json", "--data", json.dumps(body)]
    code, out = containers(project, url)["grafana"].exec_run([*command, f"http://127.0.0.1:3000{path}"])
    return int(out.decode())


def add_grafana_user(project, login: str, url: str | None = None) -> None:
    """Grafana's own data, made after the first deploy: what only a real restore brings back."""
    body = {"name": login, "email": f"{login}@example.org", "login": login, "password": "teacher-pw"}
    assert grafana_api(project, "/api/admin/users", body=body, url=url) == 200
    assert grafana_api(project, "/api/user", login, "teacher-pw", url=url) == 200


def key(row: dict) -> tuple:
    return (row["time"], row["idCapteur"], row["unite"], row["valeur"])


def test_backup_down_deploy_restore_brings_every_reading_back(deploy_project, tmp_path):
    project = deploy_project()
    wait_subscribed(project, since=deploy(project)[0])
    base = time.time_ns() - 3600 * 10**9
    # tag values as line protocol escapes them: a space, an equals sign, a comma
    sensors = [("Test_4G", "m"), ("Odd\\ sensor\\=1\\,x", "°C"), ("Test_4G", "m²")]
    lines = [
        f"capteurs,idCapteur={s},unite={u} valeur={i / 10} {base + i * 10**9}"
        for i in range(600)
        for s, u in [sensors[i % 3]]
    ]
    write_lines(project, lines)
    publish(project, SEED_READING)
    before = wait_readings(project, 601)
    add_grafana_user(project, "teacher")
    grafana_before = grafana_file(project)

    # A live backup while readings keep arriving: those acknowledged before it started are in it.
    acked_before_start: list[int] = []
    stop, started_at = threading.Event(), [0]

    def writer():
        n = 0
        while not stop.is_set():
            stamp = time.time_ns()
            write_lines(project, [f"capteurs,idCapteur=Live,unite=m valeur={n} {stamp}"])
            if not started_at[0]:
                acked_before_start.append(stamp)
            n += 1
            time.sleep(0.01)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    wait_for(lambda: len(acked_before_start) > 10, 30, "readings acknowledged before the backup")
    started_at[0] = 1
    result = run_cli(*project.args("backup", "--to", str(tmp_path / "backups")))
    stop.set()
    thread.join(10)
    assert result.exit_code == 0, result.output
    assert "grafana: paused while its SQLite files are copied" in result.output
    (archive,) = archives(tmp_path / "backups", project.ports["project"])
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        document = read_index(tar, str(archive))
    assert {"backup.json", "influxdb.tar", "grafana.tar", "output/manifest.json"} <= set(names)
    assert f"output/inventory/{project.inventory.name}" in names
    assert not any(project.secrets[k] in archive.read_bytes().decode("latin-1") for k in project.secrets)
    assert document["project"] == project.ports["project"]

    # The SD card dies: a fresh stack, which takes a reading before the restore.
    down = run_cli(*project.args("down", "--volumes"))
    assert down.exit_code == 0, down.output
    wait_subscribed(project, since=deploy(project)[0])
    publish(project, {**SEED_READING, "valeur": 42.0})
    (fresh,) = wait_readings(project, 1)
    assert grafana_api(project, "/api/user", "teacher", "teacher-pw") == 401, "a fresh Grafana"

    restored = run_cli(*project.args("restore", str(archive)))
    assert restored.exit_code == 0, restored.output
    assert grafana_api(project, "/api/user", "teacher", "teacher-pw") == 200, "Grafana's data restored"
    after = readings(project)
    rows = {key(r) for r in after}
    assert {key(r) for r in before} <= rows, "a reading of the backup is missing"
    assert key(fresh) in rows, "the fresh stack's own reading was lost"
    assert len(acked_before_start) > 10
    last = max(acked_before_start)
    (count,) = influx(
        project, f"SELECT count(valeur) FROM capteurs WHERE idCapteur = 'Live' AND time <= {last}"
    )
    assert count["count"] == len(acked_before_start), "a reading acknowledged before the backup is missing"
    assert grafana_file(project) == grafana_before

    # Restoring again adds nothing twice.
    again = run_cli(*project.args("restore", str(archive)))
    assert again.exit_code == 0, again.output
    assert len(readings(project)) == len(after)


def test_a_restore_that_fails_at_grafana_leaves_the_previous_grafana_running(
    deploy_project, tmp_path, monkeypatch
):
    """The Grafana copy fails (Docker refusing it, a full card): first while staged, before
    anything running is touched; then in the swap itself, after the old data was moved aside."""
    import polysource.backup.run as restore_code

    project = deploy_project()
    wait_subscribed(project, since=deploy(project)[0])
    result = run_cli(*project.args("backup", "--to", str(tmp_path / "backups")))
    assert result.exit_code == 0, result.output
    (archive,) = archives(tmp_path / "backups", project.ports["project"])
    add_grafana_user(project, "kept")  # made after the backup: only the old data has it
    publish(project, SEED_READING)
    wait_readings(project, 1)
    before = grafana_file(project)

    # Another project's archive, intact: restore itself refuses it before touching anything.
    foreign = tmp_path / "other-20260101T000000Z.tar.gz"
    with tarfile.open(archive) as source, tarfile.open(foreign, "w:gz") as out:
        for member in source.getmembers():
            data = source.extractfile(member).read() if member.isfile() else b""
            if member.name == "backup.json":
                data = json.dumps({**json.loads(data), "project": "other"}).encode()
                member.size = len(data)
            out.addfile(member, io.BytesIO(data))
    refused = run_cli(*project.args("restore", str(foreign)))
    assert refused.exit_code == 1 and "is a backup of project 'other'" in refused.output, refused.output
    assert grafana_file(project) == before and len(readings(project)) == 1

    monkeypatch.setattr(restore_code, "STAGED_CHECK", "echo no space left on device >&2; exit 1")
    staged = run_cli(*project.args("restore", str(archive)))
    assert staged.exit_code == 1 and "could not be staged" in staged.output, staged.output
    assert "nothing was restored" in staged.output
    assert grafana_file(project) == before and containers(project)["grafana"].status == "running"

    monkeypatch.undo()
    monkeypatch.setattr(restore_code, "SWAP", restore_code.SWAP + " && exit 3")
    swapped = run_cli(*project.args("restore", str(archive)))
    assert swapped.exit_code == 1, swapped.output
    assert "its previous data was put back and it was started again" in swapped.output
    assert grafana_file(project) == before
    wait_for(lambda: grafana_api(project, "/api/user", "kept", "teacher-pw") == 200, 30, "the old Grafana")
    leftovers = [
        v
        for v in client_for(project).volumes.list()
        if v.name.startswith(project.ports["project"]) and ("-restore-" in v.name or "-kept-" in v.name)
    ]
    assert leftovers == [], [v.name for v in leftovers]


def test_a_damaged_or_unknown_archive_restores_nothing(tmp_path):
    part = tmp_path / "influxdb.tar"
    part.write_bytes(b"x" * 1000)
    document = index("demo", datetime.now(UTC), {"version": 1}, [digest_file(part)])
    archive = tmp_path / "demo-20260101T000000Z.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in (("backup.json", document), ("influxdb.tar", b"x" * 999 + b"y")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with tarfile.open(archive) as tar:
        found = read_index(tar, "a")
        with pytest.raises(BackupError, match="checksum"):
            extract_part(tar, "influxdb.tar", found["parts"]["influxdb.tar"], io.BytesIO(), "a")
    with tarfile.open(tmp_path / "empty.tar", "w"):
        pass
    with (
        tarfile.open(tmp_path / "empty.tar") as tar,
        pytest.raises(BackupError, match="not a polysource backup"),
    ):
        read_index(tar, "empty.tar")


def test_prune_keeps_the_newest(tmp_path):
    for day in range(1, 6):
        (tmp_path / f"demo-2026010{day}T030000Z.tar.gz").write_bytes(b"")
    (tmp_path / "demo-notes.txt").write_text("mine")
    (tmp_path / "other-20260101T030000Z.tar.gz").write_bytes(b"")
    assert [p.name for p in to_prune(tmp_path, "demo", 2)] == [
        f"demo-2026010{d}T030000Z.tar.gz" for d in (1, 2, 3)
    ]


@pytest.mark.parametrize("version", [1, 2])
def test_restore_after_the_plan_changed_and_of_an_empty_archive(deploy_project, tmp_path, version):
    """A tier dropped since the backup is skipped and named; a tier added since is computed from
    the restored readings; an archive taken before the first reading restores to nothing."""
    from test_downsample import MEAN, minutes_of_readings

    project = deploy_project(influx_version=version, influxdb_extra=", retention: 30d")
    deploy(project)
    empty = run_cli(*project.args("backup", "--to", str(tmp_path / "empty")))
    assert empty.exit_code == 0, empty.output
    (empty_archive,) = archives(tmp_path / "empty", project.ports["project"])
    restored_empty = run_cli(*project.args("restore", str(empty_archive)))
    assert restored_empty.exit_code == 0, restored_empty.output

    project.edit("retention: 30d", "retention: 30d, downsample: [{every: 1m, keep: 104w}]")
    deploy(project)
    start = (int(time.time()) // 600) * 600 - 1800
    write_lines(project, minutes_of_readings(start, 20), "s")
    result = run_cli(*project.args("backup", "--to", str(tmp_path / "backups")))
    assert result.exit_code == 0, result.output
    (archive,) = archives(tmp_path / "backups", project.ports["project"])

    project.edit("every: 1m, keep: 104w", "every: 5m, keep: 104w")  # the plan changes
    assert run_cli(*project.args("down", "--volumes")).exit_code == 0
    deploy(project)
    restored = run_cli(*project.args("restore", str(archive)))
    assert restored.exit_code == 0, restored.output
    if version == 2:
        assert "skipped polysource_1m: no such tier in the inventory now" in restored.output
    assert "polysource_5m recomputed from the restored readings" in restored.output.replace(
        "rp_5m", "polysource_5m"
    )
    if version == 1:
        rows = influx(project, 'SELECT "valeur" FROM "rp_5m"."capteurs"')
    else:
        rows = [
            {"valeur": float(r["_value"])}
            for r in flux(
                project,
                'from(bucket: "polysource_5m") |> range(start: -2h)'
                ' |> filter(fn: (r) => r._field == "valeur")',
            )
        ]
    assert len(rows) == 4 and {r["valeur"] for r in rows} == {MEAN}, rows
