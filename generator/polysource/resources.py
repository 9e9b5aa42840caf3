"""Files shipped inside the package: the templates, and the device library and CA they carry."""

from importlib import resources
from pathlib import Path


def templates_dir() -> Path:
    """Inside an installed wheel the templates sit in the package; in a checkout, at the top."""
    packaged = Path(str(resources.files("polysource"))) / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "templates"
