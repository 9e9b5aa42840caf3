"""InfluxDB's HTTP API, for the tests' own InfluxDB servers (run on this machine, not in a stack):
what a query answers, parsed as polysource parses the CLI's answers in a stack's container."""

import base64
import json
import urllib.parse
import urllib.request
from typing import Any

from polysource.runtime.influx import flux_rows, influxql_rows


def influxql(
    url: str, database: str | None, login: tuple[str, str] | None, text: str
) -> list[dict[str, Any]]:
    """InfluxDB 1.x /query (POST, basic auth), times in seconds."""
    params = urllib.parse.urlencode({"q": text, "epoch": "s", **({"db": database} if database else {})})
    request = urllib.request.Request(f"{url}/query", data=params.encode())
    if login:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(login).encode()).decode())
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return influxql_rows(json.loads(answer.read()))


def flux(url: str, organization: str, token: str, text: str) -> list[dict[str, Any]]:
    """InfluxDB 2.x /api/v2/query, answered as annotated CSV."""
    request = urllib.request.Request(
        f"{url}/api/v2/query?org={urllib.parse.quote(organization)}",
        data=json.dumps({"query": text}).encode(),
        headers={
            "Authorization": f"Token {token}",
            "Content-Type": "application/json",
            "Accept": "application/csv",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return flux_rows(answer.read().decode())
