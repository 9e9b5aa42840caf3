"""Every sensor's latest reading as one tile: a user's own dashboard, written with grafanalib.

polysource render runs this file (it is Python) and writes its dashboard beside the generated
ones; `polysource.views` gives it the inventory's sensors and their queries, and tiles without a
datasource get the stack's InfluxDB.
"""

from grafanalib.core import Dashboard, GridPos, Stat, Time
from grafanalib.influxdb import InfluxDBTarget

from polysource.views import sensors, stack

WIDTH, HEIGHT, PER_ROW = 6, 4, 4

dashboard = Dashboard(
    title=f"{stack().name}: at a glance",
    description="Latest reading of every sensor (inventory/dashboards/at-a-glance.dashboard.py).",
    tags=["polysource", "custom"],
    time=Time("now-6h", "now"),
    refresh="30s",
    panels=[
        Stat(
            title=sensor.name,
            description=f"{sensor.id}, every {sensor.interval_s} s",
            targets=[InfluxDBTarget(refId="A", query=sensor.query)],
            format=sensor.unit or "none",
            reduceCalc="lastNotNull",
            gridPos=GridPos(h=HEIGHT, w=WIDTH, x=WIDTH * (i % PER_ROW), y=HEIGHT * (i // PER_ROW)),
        )
        for i, sensor in enumerate(sensors())
    ],
).auto_panel_ids()
