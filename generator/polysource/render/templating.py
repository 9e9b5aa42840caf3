"""The Jinja environment over the templates shipped in the package."""

import json
from functools import cache

import jinja2

from polysource.resources import templates_dir
from polysource.secrets import Secret


def toml_string(value: object) -> str:
    """A TOML basic string; JSON's escaping is a valid subset of TOML's, plus DEL, which TOML
    (unlike JSON) requires escaped."""
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


def telegraf_string(value: object) -> str:
    """A TOML string for telegraf.conf, arriving as written: Telegraf expands $VAR and ${VAR}
    in the whole file before parsing it (its envvar.go, compose-go's template), and reads $$ as $.
    A secret (a Secret, or a reference built on purpose, see `toml`) is the one thing expanded."""
    if isinstance(value, Secret):
        return toml_string(value.reference)
    return toml_string(str(value).replace("$", "$$"))


def c_string(text: object) -> str:
    """A C string literal: ASCII only, with octal escapes (never ambiguous, unlike \\x)."""
    out = []
    for byte in str(text).encode():
        char = chr(byte)
        if char in '"\\':
            out.append("\\" + char)
        elif 32 <= byte < 127 and char != "?":  # ? : no trigraphs
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def c_comment(text: object) -> str:
    """Text inside a C comment: printable ASCII, never closing it (a sensor may be named */)."""
    return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in str(text)).replace("*/", "*?")


def c_float(value: float) -> str:
    """A C float literal (the rules keep it within FLT_MAX)."""
    return f"{float(value)!r}f" if "e" in repr(float(value)) or "." in repr(float(value)) else f"{value}.0f"


def pin(value: int | None) -> str:
    """A GPIO in words, for comments and READMEs."""
    return "none" if value is None else f"IO{value}"


def c_pin(value: int | None) -> str:
    return "-1" if value is None else str(value)


def py_literal(value: object) -> str:
    """A MicroPython literal (repr of str, bytes, numbers, tuples, None is valid there)."""
    return repr(value)


def example_value(decimals: int) -> str:
    return f"{12.5:.{decimals}f}"


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
    env.filters["toml"] = toml_string  # as is: a reference Telegraf (or Compose) expands on purpose
    env.filters["tg"] = telegraf_string
    env.filters["c_string"] = c_string
    env.filters["py"] = py_literal
    env.filters["c_comment"] = c_comment
    env.filters["c_float"] = c_float
    env.filters["pin"] = pin
    env.filters["cpin"] = c_pin
    env.filters["example_value"] = example_value
    return env


def render_template(name: str, **context: object) -> str:
    return environment().get_template(name).render(**context)
