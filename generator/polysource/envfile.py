""".env as Docker Compose v2 reads it (`docker compose --env-file`), so deploy and Compose send the
same credentials: compose-go's dotenv grammar (compose v2.29.7 uses compose-go v2.2.0), and where
Compose would substitute a variable, a located refusal instead of a guess.

What Compose does, and so polysource:
- `KEY=VALUE` or `KEY: VALUE`, an optional `export `; `#` starts a comment line; blank lines;
  keys of letters, digits, `_ . [ ]`; a line `KEY` alone takes KEY from the environment.
- Unquoted: up to the end of the line, cut at ` #` (a space, then #), trailing spaces trimmed.
- `'single'`: literal, but `\\'` is a quote; may span lines.
- `"double"`: `\\n \\t \\\\ \\" \\$ \\0NNN` and the other C escapes (`\\0` before other than three
  octal digits loses its 0, as Compose rewrites it); may span lines.
- After either quote, only spaces and a ` # comment` (Compose would read more text as a key).
- In unquoted and double-quoted values `$$` is `$`; `$NAME` and `${...}` are variables Compose
  substitutes (defaults, errors): polysource refuses them, located, and says to write `$$` or
  single quotes; any other `$` stays. The last of duplicate keys wins.
"""

import re
import unicodedata
from collections.abc import Callable

from polysource.errors import Problem

SPACE = "\t\v\f\r \x85\xa0"  # compose-go's isSpace: a space, never a line break
ESCAPES = re.compile(r"\\(?:[abcfnrtv$\"\\]|0[0-9]{0,3})")
SIMPLE = {"a": "\a", "b": "\b", "c": "\\c", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


class EnvFileError(Exception):
    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


def _key_char(ch: str) -> bool:
    return ch in "_.[]" or unicodedata.category(ch)[0] in "LN"


def _unescape(match: re.Match[str]) -> str:
    text = match.group()
    code = text[1:]
    if code == "$":
        return "$$"  # Compose: `\$` is a literal $, as `$$` is
    if code.startswith("0"):  # \0NNN: Go's \NNN, three octal digits up to 377; else kept as written
        digits = code[1:]
        octal = len(digits) == 3 and all(d in "01234567" for d in digits) and int(digits, 8) <= 255
        return chr(int(digits, 8)) if octal else "\\" + digits  # Go's rewrite kept: \012 -> \12
    return SIMPLE.get(code, code)


def parse(text: str, path: str) -> dict[str, str]:
    """KEY -> value as Compose reads them (a line with KEY alone is left to the environment).
    EnvFileError, located, for what Compose would read otherwise or refuse; never shows a value."""
    values: dict[str, str] = {}
    pos, line = 0, 1

    def fail(at_line: int, message: str) -> EnvFileError:
        return EnvFileError(Problem(path, at_line, 1, "", message))

    size = len(text)
    while True:
        # the next statement: skip spaces and line breaks, and comment lines
        while pos < size and (text[pos].isspace()):
            line += text[pos] == "\n"
            pos += 1
        if pos >= size:
            return values
        if text[pos] == "#":
            end = text.find("\n", pos)
            pos = size if end < 0 else end
            continue
        start_line = line
        match = re.match(r"export[^\S\n]+", text[pos:])
        if match:
            pos += match.end()
        # the key: up to =, : or the end of the line
        i = pos
        while i < size and text[i] not in "=:\n":
            ch = text[i]
            if ch not in SPACE and not _key_char(ch):
                raise fail(start_line, f"unexpected character {ch!r} in a variable name")
            i += 1
        key = text[pos:i].rstrip()
        if not key:
            raise fail(start_line, "a line without a variable name before '='")
        if any(ch in SPACE for ch in key):
            raise fail(start_line, f"{key.split()[0]}...: a variable name cannot hold a space")
        if i >= size or text[i] == "\n":  # KEY alone: Compose takes it from the environment
            pos = i
            continue
        pos = i + 1
        while pos < size and text[pos] in SPACE:
            pos += 1
        quote = text[pos] if pos < size and text[pos] in "'\"" else ""
        if not quote:
            end = text.find("\n", pos)
            end = size if end < 0 else end
            value = text[pos:end].split(" #", 1)[0].rstrip()
            pos = end
            values[key] = _literal_dollars(value, key, start_line, fail)
            continue
        chars: list[str] = []
        escaped = False
        i = pos + 1
        while i < size:
            ch = text[i]
            line += ch == "\n"
            if ch != quote:
                if not escaped and ch == "\\":
                    escaped = True
                elif escaped:
                    escaped = False
                    chars += ["\\", ch]
                else:
                    chars.append(ch)
            elif escaped:
                escaped = False
                chars.append(ch)
            else:
                break
            i += 1
        else:
            raise fail(start_line, f"{key}: the quoted value is not closed")
        value = "".join(chars)
        if quote == '"':
            value = _literal_dollars(ESCAPES.sub(_unescape, value), key, start_line, fail)
        pos = i + 1
        rest_end = text.find("\n", pos)
        rest = text[pos : size if rest_end < 0 else rest_end]
        if rest.strip(SPACE) and not rest.lstrip(SPACE).startswith("#"):
            raise fail(
                start_line, f"{key}: text after the closing quote (Compose would read it as another key)"
            )
        values[key] = value


def _literal_dollars(value: str, key: str, line: int, fail: Callable[[int, str], EnvFileError]) -> str:
    """`$$` is `$`; `$NAME` and `${...}` are variables Compose substitutes (refused here); any
    other `$` (before a digit, a space, the end) stays, as compose-go's template leaves it."""
    out: list[str] = []
    i = 0
    while (at := value.find("$", i)) >= 0:
        out.append(value[i:at])
        after = value[at + 1 : at + 2]
        if after == "$":
            out.append("$")
            i = at + 2
            continue
        if after == "{" or (after.isascii() and (after.isalpha() or after == "_")):
            raise fail(
                line,
                f"{key}: '$' starts a variable that docker compose substitutes in .env; write $$ "
                "for a literal $, or put the value in single quotes",
            )
        out.append("$")
        i = at + 1
    out.append(value[i:])
    return "".join(out)


def quote(value: str) -> str:
    """A value written so that Compose (and so polysource) reads it back as it is."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$").replace("\n", "\\n")
    return f'"{escaped}"'
