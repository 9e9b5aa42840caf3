"""InfluxDB 1.x init script: the retention the inventory asks for (v2 takes it from env)."""

from polysource.durations import seconds
from polysource.stack import Stack
from polysource.templating import render_template


def render_retention(stack: Stack) -> str:
    db = stack.inventory.storage.influxdb
    duration = "INF" if db.retention == "inf" else db.retention
    # InfluxDB's own shard-group defaults: 1d below 6 months of retention, 7d above.
    shard = "1d" if seconds(db.retention) <= 180 * 86400 else "7d"
    return render_template(
        "retention.iql.j2", project=stack.name, database=db.database, duration=duration, shard=shard
    )
