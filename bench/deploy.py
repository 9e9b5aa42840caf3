"""polysource deploy against Docker Compose v2.29.7's `up -d --wait` on the same rendered file and
the same dockerd: first deploy (to ready), no-op deploy, one-sensor-change deploy. Prints a table
of seconds and the ratios the targets are about; asserts nothing.

    bash scripts/services.sh
    GOBIN=~/.cache/polysource/compose-2.29.7 go install github.com/docker/compose/v2/cmd@v2.29.7
    python bench/deploy.py [--repeat 3]
"""

import json
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


BREAKDOWNS: list[list[tuple[str, float]]] = []


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
        compose = [str(COMPOSE), "-p", ports["project"], "-f", "output/docker-compose.yml"]
        command = [*compose, "--env-file", str(folder / ".env"), "up", "-d", "--wait", "--remove-orphans"]
        down = [*compose, "--env-file", str(folder / ".env"), "down", "--volumes"]
    times = [timed(command, env, folder), timed(command, env, folder)]
    if tool == "polysource":
        BREAKDOWNS.append(noop_steps(inventory, folder / "output", env))
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
    subprocess.run(down, env=env, cwd=folder, capture_output=True)
    return times


COMPOSE = Path.home() / ".cache/polysource/compose-2.29.7/cmd"

# A no-op deploy's steps, timed one by one with the product's own functions in a fresh interpreter
# (what `polysource deploy` runs, in its order; the plan's reads run in parallel, as deploy's do).
STEPS = """
import json, sys, time
from pathlib import Path
marks = [("start", time.perf_counter())]
def mark(name): marks.append((name, time.perf_counter()))
import polysource.cli, polysource.deploy.executor
from polysource.deploy.run import secret_values
from polysource.deploy import run
from polysource.deploy.spec import desired_containers
from polysource.pipeline import current_files, load_stack
from polysource.runtime.engine import connect
mark("import polysource (pydantic, PyYAML; not grafanalib nor Jinja)")
inventory, output = Path(sys.argv[1]), Path(sys.argv[2])
stack = load_stack(inventory)
mark("inventory: YAML, validation, stack model")
files, stale = current_files(stack, output)
assert not stale, stale
mark("output/ current (manifest's digest of the render's inputs, every file's hash)")
values, _ = secret_values(stack)
run.check_secret_values(stack, values)
mark("secrets: .env read, values checked")
engine = connect(stack.docker.host)
target = run.Target(stack, desired_containers(stack, files, values), engine, values)
mark("import the Docker SDK, connect, container specs")
actions, recorded = run.plan(target)
mark("plan: list the containers, read converge records and live config markers (in parallel)")
assert not any(a.changes for a in actions), [a.lines() for a in actions]
print(json.dumps([(name, at - marks[i][1]) for i, (name, at) in enumerate(marks[1:])]))
"""


def noop_steps(inventory: Path, output: Path, env: dict[str, str]) -> list[tuple[str, float]]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", "pass"], env=env)
    python = time.perf_counter() - start
    assert done.returncode == 0
    found = subprocess.run(
        [sys.executable, "-c", STEPS, str(inventory), str(output)], env=env, capture_output=True, text=True
    )
    if found.returncode != 0:
        raise SystemExit(f"the no-op breakdown failed:\n{found.stderr}")
    return [("python interpreter start", python), *(tuple(step) for step in json.loads(found.stdout))]


def main() -> None:
    import argparse
    import statistics

    import docker

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    repeat = parser.parse_args().repeat
    if not COMPOSE.exists():
        raise SystemExit(f"{COMPOSE} not found: see this script's docstring")
    # Bytecode for polysource's modules, as `pip install` writes it (this machine's environment
    # sets PYTHONDONTWRITEBYTECODE, which would compile every module on every run: +0.2 s).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "generator/polysource")], check=True)
    engine = DockerEngine().start()
    tmp = Path(tempfile.mkdtemp(prefix="polysource-bench-"))
    runs: dict[str, list[list[float]]] = {"polysource": [], "compose v2": []}
    try:
        images = build_all(docker.DockerClient(base_url=engine.url), stand_in_binaries())
        for n in range(repeat):
            for tool in runs:
                runs[tool].append(run_scenario(tool, engine, images, tmp / f"{tool.replace(' ', '-')}-{n}"))
    finally:
        engine.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    ours = [statistics.median(r[i] for r in runs["polysource"]) for i in range(3)]
    theirs = [statistics.median(r[i] for r in runs["compose v2"]) for i in range(3)]
    print(f"median of {repeat} runs, seconds")
    print(f"{'scenario':<22} {'polysource':>10} {'compose v2':>10} {'ratio':>6}  target")
    targets = ("ratio <= 1", "ratio <= 0.3", "polysource < 1 s")
    for i, name in enumerate(("first deploy (ready)", "no-op deploy", "one-sensor change")):
        print(f"{name:<22} {ours[i]:>10.2f} {theirs[i]:>10.2f} {ours[i] / theirs[i]:>6.2f}  {targets[i]}")
    print()
    print(f"where a polysource no-op deploy spends its time (median of {repeat}, seconds):")
    for i, (name, _) in enumerate(BREAKDOWNS[0]):
        print(f"  {statistics.median(b[i][1] for b in BREAKDOWNS):>6.3f}  {name}")
    print()
    print("compose v2 re-creates nothing on the sensor change: it does not see config file contents;")
    print("polysource re-creates Telegraf with the new telegraf.conf and waits until it is ready.")


if __name__ == "__main__":
    main()
