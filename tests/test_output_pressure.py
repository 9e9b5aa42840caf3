"""The output folder under pressure: signals while render stages its files, `--check` during
another render's swap, a git conflict in the committed manifest, a restrictive umask. Nothing
render stages outlives it, output/ is never missing, and containers' users can read it."""

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from test_hostile_inputs import DEVICE_FOR_SECRETS as DEVICE

import polysource
from helpers import MINIMAL, run_cli, write_inventory

PACKAGE_ROOT = str(Path(polysource.__file__).resolve().parents[1])
SECRET = '#define PS_SECRET_PASSWORD "the board\'s"\n'
# render in a process of its own, told to stop (sleep) once staging holds the user's secrets.h
SLOW_STAGING = """
import shutil, sys, time
from polysource import workspace
copy = shutil.copy2
def slow(*args, **kwargs):
    result = copy(*args, **kwargs)
    print("staged", flush=True)
    time.sleep(30)
    return result
workspace.shutil.copy2 = slow
from polysource.cli import main
main(sys.argv[1:])
"""


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": PACKAGE_ROOT, "BOARD_PASSWORD": "x", "MQTT_PASSWORD": "y"}


def rendered(tmp_path: Path, text: str = MINIMAL + DEVICE) -> tuple[Path, Path]:
    inventory = write_inventory(tmp_path, text)
    output = tmp_path / "out"
    result = run_cli("render", "-i", str(inventory), "-o", str(output))
    assert result.exit_code == 0, result.output
    if "devices:" in text:
        (output / "devices/salle1/secrets.h").write_text(SECRET)
    return inventory, output


def staged_render(inventory: Path, output: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_STAGING, "render", "-i", str(inventory), "-o", str(output)],
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "staged", process.stderr.read() if process.stderr else ""
    return process


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".out."))


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_while_staging_leaves_nothing_behind(tmp_path, number):
    """SIGTERM (systemd stopping a unit, a CI timeout) while staging left a folder holding a copy
    of the board's secrets.h, which no later render removed."""
    inventory, output = rendered(tmp_path)
    inventory.write_text(inventory.read_text().replace("unit: m}", "unit: m, min: 1}"))
    process = staged_render(inventory, output)
    process.send_signal(number)
    assert process.wait(30) != 0
    assert leftovers(tmp_path) == [], "a staging folder outlived the render"
    assert (output / "devices/salle1/secrets.h").read_text() == SECRET


def test_what_a_sigkill_leaves_is_removed_by_the_next_render(tmp_path):
    inventory, output = rendered(tmp_path)
    inventory.write_text(inventory.read_text().replace("unit: m}", "unit: m, min: 1}"))
    process = staged_render(inventory, output)
    process.kill()
    process.wait(30)
    assert [n for n in leftovers(tmp_path) if "staging" in n], "SIGKILL leaves its staging folder"
    result = run_cli("render", "-i", str(inventory), "-o", str(output))
    assert result.exit_code == 0, result.output
    assert leftovers(tmp_path) == []
    assert (output / "devices/salle1/secrets.h").read_text() == SECRET


def renders_alternating(tmp_path: Path, inventory: Path, output: Path, count: int) -> subprocess.Popen:
    """A process rendering two inventories into output/ in turn, count times: every one a swap."""
    (tmp_path / "b").mkdir()
    other = write_inventory(tmp_path / "b", MINIMAL.replace("unit: m}", "unit: m, min: 1}"))
    script = (
        "import sys\nfrom polysource.cli import main\n"
        f"for i in range({count}):\n"
        "    try:\n        main(['render', '-i', sys.argv[1 + i % 2], '-o', sys.argv[3]])\n"
        "    except SystemExit:\n        pass\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", script, str(inventory), str(other), str(output)],
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_output_is_never_missing_while_renders_swap_it(tmp_path):
    """Two renames left a moment with no output/ (a SIGKILL there, or a reader then, found none):
    one atomic exchange leaves none."""
    inventory, output = rendered(tmp_path, MINIMAL)
    process = renders_alternating(tmp_path, inventory, output, 40)
    missing = 0
    while process.poll() is None:
        missing += not os.path.lexists(output)
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""
    assert missing == 0, f"output/ was missing {missing} time(s)"


def test_check_during_another_renders_swap_is_never_a_traceback(tmp_path):
    inventory, output = rendered(tmp_path, MINIMAL)
    writer = renders_alternating(tmp_path, inventory, output, 30)
    checks = []
    while writer.poll() is None:
        checks.append(
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "polysource",
                    "render",
                    "-i",
                    str(inventory),
                    "-o",
                    str(output),
                    "--check",
                ],
                env=env(),
                capture_output=True,
                text=True,
            )
        )
    assert writer.returncode == 0
    assert checks and all(c.returncode in (0, 1) and "Traceback" not in c.stderr for c in checks), [
        c.stderr[-300:] for c in checks if c.returncode not in (0, 1) or "Traceback" in c.stderr
    ]


def test_a_manifest_with_git_conflict_markers_is_stale_not_foreign(tmp_path):
    """output/ is committed: a merge leaves markers in manifest.json, and render refused the
    folder as holding files polysource did not write."""
    inventory, output = rendered(tmp_path)
    manifest = output / "manifest.json"
    text = manifest.read_text()
    lines = text.splitlines(keepends=True)
    middle = len(lines) // 2
    manifest.write_text(
        "".join(lines[:middle])
        + "<<<<<<< HEAD\n"
        + "".join(lines[middle : middle + 1])
        + "=======\n"
        + "".join(lines[middle : middle + 1]).replace('"', '"', 1)
        + ">>>>>>> other-branch\n"
        + "".join(lines[middle + 1 :])
    )
    result = run_cli("render", "-i", str(inventory), "-o", str(output))
    assert result.exit_code == 0, result.output
    assert manifest.read_text() == text
    assert (output / "devices/salle1/secrets.h").read_text() == SECRET


def test_folders_and_files_are_readable_by_the_containers_users_whatever_the_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        _, output = rendered(tmp_path)
    finally:
        os.umask(previous)
    for path in output.rglob("*"):
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.name == "secrets.h":
            continue
        assert mode == (0o755 if path.is_dir() else 0o644), f"{path}: {oct(mode)}"
