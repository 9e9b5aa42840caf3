"""The Jinja environment over the templates shipped in the package."""

import json
from functools import cache
from importlib import resources
from pathlib import Path

import jinja2


def templates_dir() -> Path:
    """Inside an installed wheel the templates sit in the package; in a checkout, at the top."""
    packaged = Path(str(resources.files("polysource"))) / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "templates"


def toml_string(value: object) -> str:
    """A TOML basic string; JSON's escaping is a valid subset of TOML's, plus DEL, which TOML
    (unlike JSON) requires escaped."""
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["toml"] = toml_string
    return env


def render_template(name: str, **context: object) -> str:
    return environment().get_template(name).render(**context)
