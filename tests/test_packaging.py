"""A plain `pip install .` (a wheel, not an editable install) must carry the templates."""

import subprocess
import sys
import zipfile

from helpers import ROOT


def test_wheel_ships_the_templates(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("polysource-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in sorted((ROOT / "templates").rglob("*.*")):
        assert f"polysource/templates/{template.relative_to(ROOT / 'templates').as_posix()}" in names
    assert "polysource/cli.py" in names
