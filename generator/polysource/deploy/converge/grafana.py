"""Grafana: the admin's password, proven by logging in through its HTTP API from inside the
container."""

import base64
import json
from typing import Any

from polysource.errors import DeployError
from polysource.runtime.influx import Exec
from polysource.secrets import SecretValues
from polysource.stack import paths
from polysource.stack.model import GrafanaFacts

GRAFANA_RESET = (
    'printf "%s\\n" "$POLYSOURCE_PASSWORD" | grafana cli '
    '--homepath "${GF_PATHS_HOME:-/usr/share/grafana}" '
    '--config "${GF_PATHS_CONFIG:-/etc/grafana/grafana.ini}" '
    "admin reset-admin-password --password-from-stdin"
)


# Grafana's HTTP API from inside its container: curl reads its options (the Authorization
# header, a body) from standard input, so no credential is on a command line.
GRAFANA_API = (
    'printf "%s\\n" "$POLYSOURCE_CURL" | curl -sS -K - -w "\\n%{{http_code}}" '
    '"http://127.0.0.1:{port}$POLYSOURCE_PATH"'
)


def _curl_quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def grafana_api(
    box: Exec, login: tuple[str, str], path: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON answer) of a request to Grafana's API as login; PUT when a body is given."""
    token = base64.b64encode(":".join(login).encode()).decode()
    config = [f"header = {_curl_quoted('Authorization: Basic ' + token)}"]
    if body is not None:
        config += ['request = "PUT"', 'header = "Content-Type: application/json"']
        config.append(f"data = {_curl_quoted(json.dumps(body))}")
    env = {"POLYSOURCE_CURL": "\n".join(config), "POLYSOURCE_PATH": path}
    code, output = box.run(["sh", "-c", GRAFANA_API.format(port=paths.GRAFANA_PORT)], env)
    text, _, status = output.rstrip("\n").rpartition("\n")
    if code != 0 or not status.isdigit():
        raise DeployError(f"grafana: its HTTP API does not answer in its container: {output.strip()[-300:]}")
    try:
        answer = json.loads(text) if text.strip() else {}
    except ValueError:
        answer = {}
    return int(status), answer if isinstance(answer, dict) else {}


def _logs_in(box: Exec, user: str, password: str) -> bool:
    status, me = grafana_api(box, (user, password), "/api/user")
    return status == 200 and me.get("login") == user


def converge_grafana(
    box: Exec, grafana: GrafanaFacts, values: SecretValues, recorded: dict[str, Any] | None
) -> None:
    """The inventory's admin logs in with the inventory's password, proven by logging in.

    Grafana reads GF_SECURITY_ADMIN_* once, when it creates the account. The password is reset
    with `grafana cli` (which prints success on several failure paths, so its exit status proves
    nothing); a changed admin_user renames the account (user id 1) through the HTTP API.
    """
    user, password = str(grafana.admin.user), values[grafana.admin.password]
    if _logs_in(box, user, password):
        return
    code, output = box.run(["sh", "-c", GRAFANA_RESET], {"POLYSOURCE_PASSWORD": password})
    previous = ((recorded or {}).get("settings") or {}).get("admin user")
    if previous and previous != user and _logs_in(box, previous, password):
        _, account = grafana_api(box, (previous, password), "/api/users/1")
        rename = {"login": user, "email": account.get("email", ""), "name": account.get("name", "")}
        status, answer = grafana_api(box, (previous, password), "/api/users/1", rename)
        if status != 200:
            raise DeployError(
                f"grafana: renaming the admin account {previous} -> {user} was refused: "
                f"HTTP {status} {answer.get('message', '')}".rstrip()
            )
    if not _logs_in(box, user, password):
        said = output.strip().splitlines()[-1][-200:] if output.strip() else "no output"
        raise DeployError(
            f"grafana: {user} cannot log in with {grafana.admin.password.var} after "
            f"`grafana cli admin reset-admin-password` (exit {code}: {said}); nothing was recorded "
            "(does the admin account still exist? polysource logs grafana)"
        )
