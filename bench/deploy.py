"""polysource deploy against `docker-compose up -d` (Debian's docker-compose) on the same rendered
file and the same dockerd: first deploy, no-op deploy, one-sensor-change deploy. Prints a table
of seconds and ratios; asserts nothing.

    bash scripts/services.sh && apt-get install docker-compose && python bench/deploy.py
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from images import build_all  # noqa: E402

from conftest import DEPLOY_SECRETS, deploy_inventory, stand_in_binaries  # noqa: E402
from helpers import write_inventory  # noqa: E402
from services import DockerEngine, free_port  # noqa: E402


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def run_scenario(tool: str, engine: DockerEngine, images: dict[str, str], folder: Path) -> list[float]:
    import docker

    ports = {
        "project": f"b{uuid.uuid4().hex[:6]}",
        "mqtt": free_port(),
        "influxdb": free_port(),
        "grafana": free_port(),
    }
    folder.mkdir()
    (folder / ".env").write_text("".join(f"{k}={v}\n" for k, v in DEPLOY_SECRETS.items()))
    inventory = write_inventory(folder, deploy_inventory(engine.url, images, ports), "stack.yml")
    polysource = [sys.executable, "-m", "polysource"]
    env = {**os.environ, "DOCKER_HOST": engine.url}
    render = [*polysource, "render", "-i", str(inventory), "-o", str(folder / "output")]
    subprocess.run(render, check=True, capture_output=True)
    if tool == "polysource":
        command = [*polysource, "deploy", "-i", str(inventory), "-o", str(folder / "output")]
        down = [*polysource, "down", "--volumes", "-i", str(inventory), "-o", str(folder / "output")]
    else:
        compose = ["docker-compose", "-p", ports["project"], "-f", "output/docker-compose.yml"]
        command = [*compose, "--env-file", str(folder / ".env"), "up", "-d", "--remove-orphans"]
        down = [*compose, "--env-file", str(folder / ".env"), "down", "--volumes"]
    times = [timed(command, env, folder), timed(command, env, folder)]
    text = inventory.read_text().replace(
        'name: "Test 4G", unit: m,', 'name: "Test 4G", unit: m, interval: 10s,'
    )
    inventory.write_text(text)
    subprocess.run(render, check=True, capture_output=True)
    client = docker.DockerClient(base_url=engine.url)
    ids = {c.name: c.id for c in client.containers.list(all=True)}
    times.append(timed(command, env, folder))
    recreated = sorted(c.name for c in client.containers.list(all=True) if ids.get(c.name) != c.id)
    print(f"{tool}: one-sensor change re-created {', '.join(recreated) or 'nothing'}")
    if tool == "docker-compose":  # compose does not wait for health: wait, as deploy does
        start = time.perf_counter()
        while any(
            c.attrs["State"].get("Health", {}).get("Status") not in (None, "healthy")
            for c in client.containers.list(
                filters={"label": f"com.docker.compose.project={ports['project']}"}
            )
        ):
            time.sleep(0.2)
        times.append(time.perf_counter() - start)
    subprocess.run(down, env=env, cwd=folder, capture_output=True)
    return times


def main() -> None:
    import docker

    if not shutil.which("docker-compose"):
        raise SystemExit("docker-compose not found: apt-get install docker-compose")
    engine = DockerEngine().start()
    tmp = Path(tempfile.mkdtemp(prefix="polysource-bench-"))
    try:
        images = build_all(docker.DockerClient(base_url=engine.url), stand_in_binaries())
        ours = run_scenario("polysource", engine, images, tmp / "polysource")
        theirs = run_scenario("docker-compose", engine, images, tmp / "compose")
    finally:
        engine.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'scenario':<22} {'polysource s':>12} {'compose s':>10} {'ratio':>6}")
    for i, name in enumerate(("first deploy", "no-op deploy", "one-sensor change")):
        print(f"{name:<22} {ours[i]:>12.2f} {theirs[i]:>10.2f} {ours[i] / theirs[i]:>6.2f}")
    print(f"\ncompose returns before its services are healthy; it took {theirs[3]:.2f} s more to get there")
    print("after the one-sensor change (polysource's figures include that wait).")
    print("compose project names its containers differently; both ran the same rendered definitions.")


if __name__ == "__main__":
    main()
