"""Rules that relate one part of the inventory to another, or to files beside it.

They read the raw YAML data, not the model, so they still run (and report) when some other part
of the file failed type checks: the user sees every problem in one go. Each rule only looks at
values of the type it expects and leaves wrong types to the model's messages.
"""

from collections.abc import Iterator
from pathlib import Path as FsPath
from typing import Any

from polysource import dashboard_names
from polysource.durations import seconds
from polysource.inventory.boards import BOARDS, GENERIC, WIRING_ROLES, pin_problems, with_overrides
from polysource.inventory.certs import CaProblem, read_ca
from polysource.inventory.model import RESERVED_KEYS
from polysource.services import ImageError, check_platform, telegraf_names
from polysource.topics import MAX_TOPIC_BYTES, PLACEHOLDER, SENSOR, level_problem, shared, subscription

Path = tuple[str | int, ...]
WINDOWS_RESERVED = frozenset(
    ["con", "prn", "aux", "nul"] + [f"{kind}{n}" for kind in ("com", "lpt") for n in range(1, 10)]
)
FLT_MAX = 3.4028234663852886e38  # the largest C float: what a board holds a reading in
Found = Iterator[tuple[Path, str]]


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _listed(value: Any) -> list[Any]:
    """A key that takes one item or a list of them (a broker's fallback), as a list."""
    return value if isinstance(value, list) else [value] if value else []


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def cross_problems(data: dict[str, Any], base: FsPath) -> Found:
    """(path, message) for every broken rule between fields, sections or files."""
    brokers = _mapping(data.get("brokers"))
    for name, broker in brokers.items():
        yield from _broker_problems(name, _mapping(broker), base)
    managed = [n for n, b in brokers.items() if _mapping(b).get("managed") is True]
    for name in managed[1:]:
        yield ("brokers", name, "managed"), f"the stack runs one broker; {managed[0]!r} is already managed"
    streams = _mapping(data.get("streams"))
    for name, stream in streams.items():
        yield from _stream_problems(name, _mapping(stream), brokers)
    yield from _stream_client_id_problems(streams)
    yield from _subscription_problems(data.get("project"), streams, _mapping(data.get("telegraf")))
    sensors = _mapping(data.get("sensors"))
    for name, sensor in sensors.items():
        yield from _sensor_problems(name, _mapping(sensor), streams)
    yield from _case_collisions(sensors)
    yield from _dashboard_name_collisions(data.get("project"), sensors, streams)
    yield from _device_problems(_mapping(data.get("devices")), streams, sensors, brokers, data.get("project"))
    yield from _port_problems(data)
    yield from _tier_problems(data)
    yield from _alert_problems(_mapping(data.get("alerts")), "alerts" in data)
    if "alerts" in data:
        yield from _rule_group_problems(_mapping(data.get("sensors")))
    yield from _user_problems(data)
    yield from _platform_problems(data)
    yield from _placement_problems(data)


def _broker_problems(name: str, broker: dict[str, Any], base: FsPath) -> Found:
    here = ("brokers", name)
    managed = broker.get("managed") is True
    if managed:
        if "host" in broker:
            yield (*here, "host"), "a managed broker runs in the stack: drop host"
        insecure = broker.get("insecure_lan") is True
        if broker.get("transport", "tcp" if insecure else "tls") != ("tcp" if insecure else "tls"):
            yield (
                (*here, "transport"),
                "plain tcp on a managed broker needs insecure_lan: true (passwords in clear on the LAN)"
                if broker.get("transport") == "tcp"
                else "a managed broker listens with tls (the stack's CA), or tcp with insecure_lan: true",
            )
        listeners = _listed(broker.get("fallback"))
        websocket = "ws" if insecure else "wss"
        if len(listeners) > 1 or any(_mapping(e).get("transport") != websocket for e in listeners):
            yield (
                (*here, "fallback"),
                f"a managed broker's second listener is websockets: fallback: {{transport: {websocket}}}"
                + ("" if insecure else " (TLS, as its main listener)"),
            )
        if "ca_file" in broker:
            yield (
                (*here, "ca_file"),
                "a managed broker's CA is the stack's own (pki/ beside the inventory): drop ca_file",
            )
        if "username" not in broker or "password" not in broker:
            yield here, "a managed broker needs username and password (no anonymous MQTT)"
        user = broker.get("username")
        if isinstance(user, str) and (user.startswith("${") or user != user.strip()):
            yield (
                (*here, "username"),
                "the managed broker's own account is named in its acl_file (output/): write it as "
                "text, without a ${VAR} or surrounding blanks",
            )
        if isinstance(user, str) and user in _mapping(broker.get("clients")):
            yield (
                (*here, "clients", user),
                f"{user!r} is the stack's own account on this broker (Telegraf's): name the board's another",
            )
    else:
        if not broker.get("host"):
            yield here, "host is required unless the broker is managed"
        if broker.get("clients"):
            yield (*here, "clients"), "device accounts are for a managed broker; a cloud broker has its own"
        if "insecure_lan" in broker:
            yield (*here, "insecure_lan"), "insecure_lan is for a managed broker; choose a transport instead"
    if ("username" in broker) != ("password" in broker) and not managed:
        yield here, "username and password go together"
    ca_file = broker.get("ca_file")
    if isinstance(ca_file, str) and not managed:
        transports = [broker.get("transport", "tls")]
        transports += [_mapping(endpoint).get("transport") for endpoint in _listed(broker.get("fallback"))]
        if not any(t in ("tls", "wss") for t in transports):
            yield (*here, "ca_file"), "a CA is used with transport tls or wss only"
        try:
            read_ca(base, ca_file)
        except CaProblem as problem:
            yield (*here, "ca_file"), str(problem)


def _stream_problems(name: str, stream: dict[str, Any], brokers: dict[str, Any]) -> Found:
    broker = stream.get("broker")
    if isinstance(broker, str) and broker not in brokers:
        yield ("streams", name, "broker"), _unknown("broker", broker, brokers)
    topic = stream.get("topic")
    if isinstance(topic, str) and topic:
        yield from ((("streams", name, "topic"), m) for m in topic_problems(topic, stream))
        managed = isinstance(broker, str) and _mapping(brokers.get(broker)).get("managed") is True
        if managed and topic != topic.strip():
            yield (
                ("streams", name, "topic"),
                "starts or ends with a blank, which the managed broker's acl_file cannot hold",
            )


def _stream_client_id_problems(streams: dict[str, Any]) -> Found:
    """Two subscriptions with one client id on one broker knock each other off in a loop."""
    owners: dict[tuple[str, str], str] = {}
    for name, stream in streams.items():
        stream = _mapping(stream)
        client_id, broker = stream.get("client_id"), stream.get("broker")
        if isinstance(client_id, str) and isinstance(broker, str):
            if (broker, client_id) in owners:
                yield (
                    ("streams", name, "client_id"),
                    f"client id {client_id!r} is stream {owners[broker, client_id]!r}'s too, on the same "
                    "broker: each subscription needs its own",
                )
            owners.setdefault((broker, client_id), name)


def _subscription_problems(project: Any, streams: dict[str, Any], telegraf: dict[str, Any]) -> Found:
    """MQTT's limit measured on what Telegraf sends: the filter, with the `$share/<project>/`
    prefix when several Telegrafs share the subscriptions."""
    instances = telegraf.get("instances", 1)
    if not isinstance(project, str) or not isinstance(instances, int) or isinstance(instances, bool):
        return
    for name, stream in streams.items():
        topic = _mapping(stream).get("topic")
        if not isinstance(topic, str) or len(topic.encode()) > MAX_TOPIC_BYTES:
            continue  # the model says so for the topic itself
        sent = shared(project, subscription(topic), instances)
        if len(sent.encode()) > MAX_TOPIC_BYTES:
            yield (
                ("streams", name, "topic"),
                f"Telegraf would subscribe to {len(sent.encode()):,} bytes ({sent[:20]}...), over MQTT's "
                f"{MAX_TOPIC_BYTES:,}: shorten the topic",
            )


def topic_problems(topic: str, stream: dict[str, Any]) -> Iterator[str]:
    levels = topic.split("/")
    names = [m.group(1) for level in levels if (m := PLACEHOLDER.match(level))]
    if any(("+" in s or "#" in s) for s in levels):
        yield "write {name} levels instead of MQTT wildcards, so they can become tags"
    if any(("{" in s or "}" in s) and not PLACEHOLDER.match(s) for s in levels):
        yield "a placeholder fills a whole topic level, e.g. polysource/{site}/{sensor}"
    if len(names) != len(set(names)):
        yield "each {name} may appear once in the topic"
    if topic.startswith("$"):
        yield "topics starting with $ belong to the broker ($SYS, $share)"
    fmt = _mapping(stream.get("format"))
    sensor_key = fmt.get("sensor")
    if sensor_key and SENSOR in names:
        yield "the sensor id comes from the topic ({sensor}) or from format.sensor, not both"
    if not sensor_key and SENSOR not in names:
        yield "name the sensor: a {sensor} topic level, or format.sensor for the JSON key"
    reserved = sorted(set(names) & (RESERVED_KEYS | {"topic"}))
    if reserved:
        yield f"{{{reserved[0]}}} would be a tag InfluxDB or Telegraf reserves; rename the level"
    # Telegraf tags every reading with its topic; levels and format keys add the others.
    tags = ["topic", *(n for n in names if n not in reserved)]
    tags += [v.split(".")[-1] for k, v in fmt.items() if k in ("sensor", "unit") and isinstance(v, str)]
    value = fmt.get("value", "value")
    if isinstance(value, str) and value.split(".")[-1] in tags:
        yield f"the value's name {value.split('.')[-1]!r} is also a tag's name: rename the key or level"
    if len(tags) != len(set(tags)):
        yield "two tags would have the same name (`topic`, a topic level or a format key)"
    time_key = fmt.get("time")
    others = [v for k, v in fmt.items() if k in ("value", "sensor", "unit")]
    if isinstance(time_key, str) and time_key in others:
        yield f"the time key {time_key!r} is also the value's, the sensor's or the unit's key"
    yield from _overlapping_paths(fmt)


def _overlapping_paths(fmt: dict[str, Any]) -> Iterator[str]:
    """Two format paths where one is the object holding the other (`value: data`, `sensor:
    data.id`): one JSON value cannot be both a reading and an object."""
    paths = [
        (k, v) for k, v in fmt.items() if k in ("value", "sensor", "unit", "time") and isinstance(v, str)
    ]
    for i, (key, path) in enumerate(paths):
        for other_key, other in paths[i + 1 :]:
            inner, outer = (path, other) if len(path) >= len(other) else (other, path)
            if inner.startswith(outer + "."):
                yield (
                    f"format.{key} ({path!r}) and format.{other_key} ({other!r}) overlap: {outer!r} "
                    "would be an object holding the other, not a value"
                )


def _sensor_problems(name: str, sensor: dict[str, Any], streams: dict[str, Any]) -> Found:
    stream = sensor.get("stream")
    if isinstance(stream, str) and stream not in streams:
        yield ("sensors", name, "stream"), _unknown("stream", stream, streams)
    low, high = _number(sensor.get("min")), _number(sensor.get("max"))
    if low is not None and high is not None and low >= high:
        yield ("sensors", name, "max"), f"max ({sensor['max']}) must be above min ({sensor['min']})"
    thresholds = sensor.get("thresholds")
    seen: dict[float, int] = {}
    for i, threshold in enumerate(thresholds if isinstance(thresholds, list) else []):
        value = _number(_mapping(threshold).get("value"))
        if value is not None and seen.setdefault(value, i) != i:
            yield (
                ("sensors", name, "thresholds", i, "value"),
                f"{value:g} is already thresholds[{seen[value]}]: one alert rule per threshold",
            )


def _case_collisions(sensors: dict[str, Any]) -> Found:
    """Each group is a dashboard file: two groups spelled alike but for case would be one file on
    a macOS or Windows checkout."""
    spelled: dict[str, str] = {}
    for name, sensor in sensors.items():
        group = _mapping(sensor).get("group")
        if not isinstance(group, str):
            continue
        first = spelled.setdefault(group.casefold(), group)
        if first != group:
            yield (
                ("sensors", name, "group"),
                f"group {group!r} differs from {first!r} only by case: one dashboard file on "
                "macOS and Windows; spell them alike",
            )


def _dashboard_name_collisions(project: Any, sensors: dict[str, Any], streams: dict[str, Any]) -> Found:
    """Every name render gives a dashboard (uid, file) or an overview variable, reserved once: a
    second owner is refused where it is written, naming the first (a group `climat-2` beside a
    group `climat` of 49 sensors, whose second page is PROJECT-climat-2: one would be lost)."""
    if not isinstance(project, str):
        return
    groups: dict[str, int] = {}
    first_sensor: dict[str, str] = {}
    for name, sensor in sensors.items():
        group = _mapping(sensor).get("group", "default")
        if isinstance(group, str):
            groups[group] = groups.get(group, 0) + 1
            first_sensor.setdefault(group, name)
    for owner, name, first in dashboard_names.collisions(project, groups, list(streams)):
        kind, _, key = owner.partition(":")
        if kind == "group":
            sensor = first_sensor[key]
            where = (
                ("sensors", sensor, "group") if "group" in _mapping(sensors[sensor]) else ("sensors", sensor)
            )
            yield (
                where,
                f"group {key!r} would be dashboard {name}, which is {first}'s already: rename the group",
            )
        else:
            yield (
                ("streams", key),
                f"its overview variable would be {name}, which is {first}'s: rename the stream",
            )


def _device_problems(
    devices: dict[str, Any],
    streams: dict[str, Any],
    sensors: dict[str, Any],
    brokers: dict[str, Any],
    project: Any,
) -> Found:
    carried: dict[str, str] = {}
    for name, device in devices.items():
        device = _mapping(device)
        here = ("devices", name)
        if name.split(".")[0] in WINDOWS_RESERVED:
            yield (
                here,
                f"{name!r} is a name Windows reserves for a device: its firmware folder cannot exist there",
            )
        stream_name = device.get("stream")
        if not isinstance(stream_name, str):
            continue
        if stream_name not in streams:
            yield (*here, "stream"), _unknown("stream", stream_name, streams)
            continue
        stream = _mapping(streams[stream_name])
        listed = device.get("sensors")
        for i, sensor in enumerate(listed if isinstance(listed, list) else []):
            if not isinstance(sensor, str):
                continue
            if sensor not in sensors:
                yield (*here, "sensors", i), _unknown("sensor", sensor, sensors)
            elif _mapping(sensors[sensor]).get("stream") != stream_name:
                yield (
                    (*here, "sensors", i),
                    f"sensor {sensor!r} belongs to another stream than {stream_name!r}",
                )
            elif sensor in carried:
                yield (*here, "sensors", i), f"sensor {sensor!r} is already read by board {carried[sensor]!r}"
            else:
                carried[sensor] = name
        topic = stream.get("topic")
        tags = _mapping(device.get("tags"))
        if isinstance(topic, str):
            levels = {m.group(1) for level in topic.split("/") if (m := PLACEHOLDER.match(level))} - {SENSOR}
            for missing in sorted(levels - set(tags)):
                yield (*here, "tags"), f"the topic {topic} needs tags: {{{missing}: VALUE}} for this board"
            for extra in sorted(set(tags) - levels):
                yield (*here, "tags", extra), f"the topic {topic} has no {{{extra}}} level"
            for key, value in tags.items():
                if isinstance(value, str) and (why := level_problem(value)):
                    yield (*here, "tags", key), f"the value {why}"
        yield from _interval_problems(name, device, listed, sensors)
        yield from _device_account(here, device, _mapping(brokers.get(str(stream.get("broker")))))
        yield from _board_problems(here, device)
        for sensor in listed if isinstance(listed, list) else []:
            for bound in ("min", "max"):
                value = _number(_mapping(sensors.get(sensor) if isinstance(sensor, str) else None).get(bound))
                if value is not None and abs(value) > FLT_MAX:
                    yield (
                        ("sensors", sensor, bound),
                        f"board {name!r} holds readings in a C float: {bound} must be within ±3.4e38",
                    )
    yield from _client_id_problems(devices, project)


def _interval_problems(name: str, device: dict[str, Any], listed: Any, sensors: dict[str, Any]) -> Found:
    """A board sends each of its sensors once per its own interval: a sensor that says it reports
    more often would be silent by its own measure between two of the board's readings."""
    board_s = _duration(device.get("interval", "60s"))
    for sensor in listed if isinstance(listed, list) else []:
        given = _mapping(sensors.get(sensor) if isinstance(sensor, str) else None).get("interval")
        sensor_s = _duration(given)
        if board_s is not None and sensor_s is not None and sensor_s < board_s:
            yield (
                ("sensors", sensor, "interval"),
                f"board {name!r} sends it every {device.get('interval', '60s')}: an interval of {given} "
                "cannot be kept (drop it: a sensor a board reads reports at the board's interval)",
            )


def _client_id_problems(devices: dict[str, Any], project: Any) -> Found:
    """Two boards with one client id knock each other off the broker, in a loop."""
    owners: dict[str, str] = {}
    for name, device in devices.items():
        given = _mapping(device).get("client_id")
        client_id = given if isinstance(given, str) else f"{project}-{name}"
        if client_id in owners:
            where = ("devices", name, "client_id") if isinstance(given, str) else ("devices", name)
            yield (
                where,
                f"client id {client_id!r} is board {owners[client_id]!r}'s too: each board needs its own",
            )
        owners.setdefault(client_id, name)


def _board_problems(here: Path, device: dict[str, Any]) -> Found:
    """The board preset against the modem named, and its pins (overrides included) against its chip."""
    board = BOARDS.get(str(device.get("board", GENERIC)))
    if board is None:
        return
    modem = device.get("modem")
    if board.modem and isinstance(modem, str) and modem not in (board.modem, "wifi"):
        yield (*here, "modem"), f"the {board.name} carries the {board.modem} modem, not {modem}"
    pins = _mapping(device.get("pins"))
    overrides = {
        role: value
        for role, value in pins.items()
        if role in WIRING_ROLES
        and (value is None or (isinstance(value, int) and not isinstance(value, bool)))
    }
    for role in ("rx", "tx", "baud"):
        if role in overrides and overrides[role] is None:
            yield (*here, "pins", role), f"the modem's UART needs its {role}"
            return
    if modem == "wifi" or (board.modem is None and modem is None):
        return
    wiring = with_overrides(board, overrides)
    for role, why in pin_problems(board, wiring).items():
        yield ((*here, "pins", role) if role in pins else (*here, "board")), why


def _client_password(client: Any) -> Any:
    """A client's password reference, written alone or in its mapping."""
    return _mapping(client).get("password") if isinstance(client, dict) else client


def _device_account(here: Path, device: dict[str, Any], broker: dict[str, Any]) -> Found:
    if broker.get("managed") is True:
        clients = _mapping(broker.get("clients"))
        user = device.get("username")
        if user not in clients:
            known = ", ".join(sorted(clients)) or "none: add one under the broker's clients"
            yield (*here, "username"), f"a managed broker's board logs in as one of its clients ({known})"
        elif "password" in device and device["password"] != _client_password(clients[user]):
            yield (
                (*here, "password"),
                f"the managed broker's account {user!r} has the password {_client_password(clients[user])}",
            )
        return
    if "username" not in device or "password" not in device:
        yield here, "a board needs its own username and password on the broker"
    transports = [broker.get("transport", "tls")]
    transports += [_mapping(e).get("transport") for e in _listed(broker.get("fallback"))]
    if broker and not any(t in ("tcp", "tls") for t in transports):
        yield here, "the board speaks MQTT over TCP or TLS, and this broker has neither endpoint"


def _tier_problems(data: dict[str, Any]) -> Found:
    influx = _mapping(_mapping(data.get("storage")).get("influxdb"))
    tiers = influx.get("downsample")
    named = (_mapping(s).get("group", "default") for s in _mapping(data.get("sensors")).values())
    groups = {g for g in named if isinstance(g, str)}
    seen: set[str] = set()
    for i, tier in enumerate(tiers if isinstance(tiers, list) else []):
        tier = _mapping(tier)
        here = ("storage", "influxdb", "downsample", i)
        every, keep = tier.get("every"), tier.get("keep")
        every_s, keep_s = _duration(every), _duration(keep)
        if every_s is not None and keep_s is not None and every_s >= keep_s:
            yield (*here, "keep"), f"keep ({keep}) must be longer than every ({every})"
        if isinstance(every, str) and every in seen:
            yield (*here, "every"), f"another tier already takes means over {every}"
        seen.add(str(every))
        listed = tier.get("groups")
        for j, group in enumerate(listed if isinstance(listed, list) else []):
            if isinstance(group, str) and group not in groups:
                yield (*here, "groups", j), _unknown("group", group, dict.fromkeys(groups))


def _duration(value: Any) -> float | None:
    try:
        return seconds(value) if isinstance(value, str) else None
    except (ValueError, KeyError):
        return None


def _alert_problems(alerts: dict[str, Any], present: bool) -> Found:
    if not present:
        return
    if not alerts.get("webhook") and not alerts.get("email"):
        yield ("alerts",), "name where alerts go: webhook (a ${VAR} URL) or email (addresses)"
    if alerts.get("email") and not alerts.get("smtp"):
        yield ("alerts", "email"), "email needs smtp: {host, user, password, sender} for Grafana to send it"


GRAFANA_NAME_BYTES = 190  # Grafana refuses a longer alert rule group name (or rule title)


def _rule_group_problems(sensors: dict[str, Any]) -> Found:
    """Each sensor group is an alert rule group: Grafana keeps its name within 190 bytes ($ doubled,
    as the provisioning file writes it)."""
    for name, sensor in sensors.items():
        group = _mapping(sensor).get("group")
        if isinstance(group, str) and len(group.replace("$", "$$").encode()) > GRAFANA_NAME_BYTES:
            yield (
                ("sensors", name, "group"),
                f"with alerts, the group is a Grafana rule group: at most {GRAFANA_NAME_BYTES} bytes",
            )


def _port_problems(data: dict[str, Any]) -> Found:
    """Host ports the stack publishes must differ, or the second service cannot start."""
    influx = _mapping(_mapping(data.get("storage")).get("influxdb"))
    grafana = _mapping(data.get("grafana"))
    published: list[tuple[Path, Any]] = [(("grafana", "port"), grafana.get("port", 3000))]
    publish = influx.get("publish")
    if (isinstance(publish, int) and not isinstance(publish, bool)) or (
        isinstance(publish, str) and publish.rpartition(":")[2].isdigit()
    ):
        port = int(str(publish).rpartition(":")[2])
        published.append((("storage", "influxdb", "publish"), port))
        if _mapping(data.get("target")).get("swarm") is not None and ":" in str(publish):
            yield (
                ("storage", "influxdb", "publish"),
                "a swarm publishes on every interface of its nodes: write the port alone",
            )
    for name, broker in _mapping(data.get("brokers")).items():
        broker = _mapping(broker)
        if broker.get("managed") is True:
            insecure = broker.get("insecure_lan") is True
            published.append((("brokers", name, "port"), broker.get("port", 1883 if insecure else 8883)))
            fallback = broker.get("fallback")
            for i, endpoint in enumerate(_mapping(e) for e in _listed(fallback)):
                if not endpoint:
                    continue
                default = 8080 if endpoint.get("transport") == "ws" else 8884
                index = (i,) if isinstance(fallback, list) else ()
                published.append(
                    (("brokers", name, "fallback", *index, "port"), endpoint.get("port", default))
                )
    seen: dict[int, Path] = {}
    host = _mapping(data.get("target")).get("docker_host")
    ssh = _ssh_port(host) if isinstance(host, str) else None
    for path, port in published:
        if not isinstance(port, int) or isinstance(port, bool):
            continue
        if port == ssh:
            yield path, f"port {port} is the target's SSH ({host}): deploy reaches the Pi through it"
        elif port in seen:
            yield path, f"port {port} is already published by {'.'.join(map(str, seen[port]))}"
        seen.setdefault(port, path)


def _ssh_port(docker_host: str) -> int | None:
    """The port sshd listens on at an ssh:// target (22 unless the URL says)."""
    if not docker_host.startswith("ssh://"):
        return None
    authority = docker_host[len("ssh://") :].split("/", 1)[0].rsplit("@", 1)[-1]
    _, colon, port = authority.rpartition(":")
    if colon and port.isdigit() and "]" not in port:
        return int(port)
    return 22


def _user_problems(data: dict[str, Any]) -> Found:
    influx = _mapping(_mapping(data.get("storage")).get("influxdb"))
    version = influx.get("version", 1)
    if version != 1 or isinstance(version, bool):
        return
    users: dict[str, Path] = {}
    for key, default in (("admin_user", "admin"), ("write_user", "telegraf"), ("read_user", "grafana")):
        user = influx.get(key, default)
        if isinstance(user, str) and user in users:
            yield (
                ("storage", "influxdb", key),
                f"{user!r} is already the {users[user][-1]}: each role has its own user",
            )
        elif isinstance(user, str):
            users[user] = ("storage", "influxdb", key)


def _platform_problems(data: dict[str, Any]) -> Found:
    target = _mapping(data.get("target"))
    platform = target.get("platform", "linux/arm64")
    overrides = _mapping(target.get("images"))
    version = _mapping(_mapping(data.get("storage")).get("influxdb")).get("version", 1)
    managed = any(_mapping(b).get("managed") is True for b in _mapping(data.get("brokers")).values())
    services = ["telegraf", "influxdb", "grafana"] + (["mosquitto"] if managed else [])
    for service in services:
        if (
            service in overrides
            or not isinstance(platform, str)
            or type(version) is not int
            or version not in (1, 2)
        ):
            continue
        try:
            check_platform(service, platform, influxdb_version=version)
        except ImageError as error:
            yield ("target", "platform"), str(error)


def _placement_problems(data: dict[str, Any]) -> Found:
    """Swarm placement names services the stack runs."""
    placement = _mapping(_mapping(_mapping(data.get("target")).get("swarm")).get("placement"))
    managed = any(_mapping(b).get("managed") is True for b in _mapping(data.get("brokers")).values())
    instances = _mapping(data.get("telegraf")).get("instances", 1)
    count = instances if type(instances) is int and 1 <= instances <= 8 else 1
    services = ["influxdb", "grafana", "telegraf", *telegraf_names(count)] + (
        ["mosquitto"] if managed else []
    )
    for name in placement:
        if isinstance(name, str) and name not in services:
            yield ("target", "swarm", "placement", name), _unknown("service", name, dict.fromkeys(services))


def _unknown(kind: str, name: str, known: dict[str, Any]) -> str:
    names = ", ".join(sorted(map(str, known))) or "none defined"
    return f"unknown {kind} {name!r} (known: {names})"
