"""A .env read as Docker Compose v2 reads it (`docker compose --env-file`, which the generated
compose file tells users to run): for every line shape of the corpus, polysource's value is the
one the real Compose binary prints, or polysource refuses the line (located, never showing the
value) where Compose would substitute a variable. python-dotenv, a well-kept parser, is run over
the same corpus: where it reads otherwise is listed (README)."""

import json
import subprocess

import pytest

from polysource import envfile
from polysource.errors import SecretsError
from polysource.secrets import read_dotenv

# (name, the .env's text for KEY, or None where it is one of several lines)
CORPUS = {
    "plain": "KEY=s3cret\n",
    "spaces around": "KEY =  s3cret  \n",
    "export": "export KEY=s3cret\n",
    "yaml style": "KEY: s3cret\n",
    "empty": "KEY=\n",
    "inline comment": "KEY=s3cret # rotated\n",
    "hash without space": "KEY=s3c#ret\n",
    "tab before hash": "KEY=s3cret\t# kept\n",
    "double quoted": 'KEY="s3cret"\n',
    "double quoted, comment": 'KEY="s3cret" # rotated\n',
    "double quoted, comment no space": 'KEY="s3cret"# rotated\n',
    "double quoted escapes": 'KEY="p\\"w\\\\x\\n\\t"\n',
    "double quoted octal": 'KEY="\\0101\\012\\0"\n',
    "double quoted unknown escape": 'KEY="a\\qb\\c"\n',
    "double quoted multi-line": 'KEY="line one\nline two"\n',
    "double quoted hash": 'KEY="s3c # ret"\n',
    "double quoted dollar escaped": 'KEY="p\\$w"\n',
    "double quoted $$": 'KEY="p$$w"\n',
    "single quoted": "KEY='s3cret'\n",
    "single quoted literal": "KEY='p\"w\\\\x\\n $w'\n",
    "single quoted quote": "KEY='it\\'s'\n",
    "single quoted multi-line": "KEY='a\nb'\n",
    "unquoted $$": "KEY=pa$$word\n",
    "a $ at the end": "KEY=price$\n",
    "a $ before a digit or a space": 'KEY="a$1 b$ c"\n',
    "unquoted quotes inside": "KEY=a'b\"c\n",
    "windows line ending": "KEY=s3cret\r\n",
    "duplicate: the last": "KEY=first\nKEY=second\n",
    "comment lines": "# KEY=no\n\n   # indented\nKEY=yes\n",
    "non-ASCII": "KEY=mot de passe é ü 密码\n",
    "BOM-less unicode quotes": "KEY=«x»\n",
}
# Compose substitutes (or refuses) these: polysource refuses them, located
REFUSED = {
    "unquoted variable": "KEY=pa$word\n",
    "braced variable": "KEY=${HOME}\n",
    "a default": "KEY=${PW:-s3cret}\n",
    "double quoted variable": 'KEY="pa$word"\n',
    "text after the closing quote": 'KEY="s3cret"x\n',
    "unterminated quote": 'KEY="s3cret\n',
    "a space in the name": "MY KEY=x\n",
    "a dash in the name": "MY-KEY=x\n",
}


def compose_reads(tmp_path, text: str) -> dict[str, str] | None:
    """KEY as Compose v2 reads the file (None: Compose refuses it, or leaves KEY unset)."""
    from services import compose_binary

    folder = tmp_path / "compose"
    folder.mkdir(exist_ok=True)
    (folder / "test.env").write_bytes(text.encode())
    (folder / "compose.yml").write_text(
        "services:\n  x:\n    image: busybox\n    environment:\n      KEY: ${KEY-__unset__}\n"
    )
    done = subprocess.run(
        [str(compose_binary()), "--env-file", "test.env", "-f", "compose.yml", "config", "--format", "json"],
        cwd=folder,
        env={"PATH": "/usr/bin:/bin", "HOME": str(folder)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        return None
    value = json.loads(done.stdout)["services"]["x"]["environment"]["KEY"]
    # `config` prints a literal $ as $$, so that its output reads back as a compose file
    return None if value == "__unset__" else {"KEY": value.replace("$$", "$")}


def ours(tmp_path, text: str) -> dict[str, str]:
    path = tmp_path / ".env"
    path.write_bytes(text.encode())
    return read_dotenv(path)


@pytest.mark.parametrize("name", CORPUS)
def test_each_line_shape_reads_as_compose_reads_it(tmp_path, name):
    text = CORPUS[name]
    assert ours(tmp_path, text) == compose_reads(tmp_path, text), name


@pytest.mark.parametrize("name", REFUSED)
def test_what_compose_substitutes_or_refuses_is_refused_located(tmp_path, name):
    text = REFUSED[name]
    with pytest.raises(SecretsError) as refused:
        ours(tmp_path, text)
    message = str(refused.value)
    assert message.startswith(f"{tmp_path / '.env'}:1:"), message
    for secret in ("s3cret", "pa", "word", "price"):
        assert f"={secret}" not in message and f"'{secret}" not in message
    compose = compose_reads(tmp_path, text)
    literal = text.split("=", 1)[-1].strip().strip('"')
    assert compose is None or compose["KEY"] != literal, (name, compose)


def test_a_value_written_by_quote_reads_back_as_itself(tmp_path):
    """What the tests (and a user following the README) write: every character, both readers."""
    value = 'it\'s a "pass" word $HOME \\n # x \\\\ é\nline two\t'
    text = f"KEY={envfile.quote(value)}\n"
    assert ours(tmp_path, text) == {"KEY": value}
    assert compose_reads(tmp_path, text) == {"KEY": value}


def test_python_dotenv_differs_where_the_readme_says(tmp_path):
    """python-dotenv agrees on the plain shapes and differs on these (README, "How .env is read")."""
    from dotenv import dotenv_values

    differs = []
    for name, text in CORPUS.items():
        path = tmp_path / f"{len(differs)}-{abs(hash(name))}.env"
        path.write_bytes(text.encode())
        theirs = {k: v for k, v in dotenv_values(path, interpolate=True).items() if v is not None}
        if theirs != ours(tmp_path, text):
            differs.append(name)
    assert differs == PYTHON_DOTENV_DIFFERS


PYTHON_DOTENV_DIFFERS = [
    "yaml style",
    "tab before hash",
    "double quoted octal",
    "double quoted dollar escaped",
    "double quoted $$",
    "single quoted literal",
    "unquoted $$",
]
