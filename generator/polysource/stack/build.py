"""From the validated inventory to the stack model: facts first, then the services using them."""

import hashlib
import ipaddress
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from polysource import secrets
from polysource.durations import seconds
from polysource.errors import PkiError
from polysource.inventory.certs import CaProblem, read_ca
from polysource.inventory.model import Broker, Inventory, Stream, published
from polysource.inventory.units import grafana_unit
from polysource.secrets import Secret
from polysource.services import (
    GRAFANA,
    INFLUXDB,
    LIFECYCLE,
    MOSQUITTO,
    TELEGRAF,
    check_platform,
    telegraf_names,
)
from polysource.stack import paths
from polysource.stack.devices import build_devices
from polysource.stack.model import (
    AlertFacts,
    BrokerFacts,
    BrokerTls,
    CaCert,
    Credential,
    DockerFacts,
    Endpoint,
    GrafanaFacts,
    Healthcheck,
    InfluxFacts,
    Mount,
    PublishedPort,
    SensorFacts,
    Series,
    Service,
    Smtp,
    Stack,
    StreamFacts,
    Tier,
    TierSource,
    url_host,
)
from polysource.stack.permissions import (
    board_permissions,
    managed_accounts,
    streams_without_identity,
    telegraf_permissions,
)
from polysource.stack.queries import dialect_for
from polysource.stack.throughput import batch_size, default_window
from polysource.topics import SENSOR, placeholders, shared, subscription


def build_stack(inventory: Inventory, inventory_dir: Path, inventory_file: str = "polysource.yml") -> Stack:
    """Every fact and service the inventory implies, services in dependency order."""
    host = inventory.target.address or target_host(inventory.target.docker_host)
    brokers = {
        name: _broker(inventory, inventory_dir, name, b, host) for name, b in inventory.brokers.items()
    }
    instances = inventory.telegraf.instances
    streams = {name: _stream(inventory.project, name, s, instances) for name, s in inventory.streams.items()}
    series = {
        sensor_id: Series(
            sensor_id,
            sensor.stream,
            streams[sensor.stream].measurement,
            streams[sensor.stream].field,
            streams[sensor.stream].sensor_tag,
        )
        for sensor_id, sensor in inventory.sensors.items()
    }
    sensors = _sensors(inventory, series)
    influx = _influx(inventory, host, streams)
    grafana = GrafanaFacts(
        Credential(inventory.grafana.admin_user, _secret(inventory.grafana.admin_password)),
        inventory.grafana.port,
        f"http://{url_host(host)}:{inventory.grafana.port}",
        _alerts(inventory),
    )
    used = [brokers[s.broker] for s in streams.values()]
    managed = next((b for b in brokers.values() if b.managed), None)
    services = [_influxdb_service(inventory, influx)]
    if managed:
        services += [_mosquitto_passwd(inventory, managed), _mosquitto(inventory, managed)]
    services += _telegrafs(inventory, used, influx, managed is not None)
    services.append(_grafana(inventory, influx, grafana))
    devices = build_devices(inventory, inventory_dir, brokers, streams, sensors)
    return Stack(
        inventory,
        inventory_dir,
        host,
        brokers,
        streams,
        series,
        influx,
        grafana,
        tuple(services),
        dialect_for(influx),
        devices,
        inventory_file,
        sensors,
        silent_after(inventory),
        DockerFacts(inventory.target.docker_host, inventory.target.platform, inventory.target.swarm),
        inventory.telegraf.instances,
        inventory.backup,
        batch_size(used),
        board_permissions(devices.values(), streams, brokers),
        telegraf_permissions(brokers, streams),
        streams_without_identity(devices.values(), streams),
        managed_accounts(inventory, brokers, streams, list(devices.values())),
    )


DEFAULT_SILENT_AFTER = 3  # intervals, when the inventory has no `alerts:`


def silent_after(inventory: Inventory) -> int:
    return inventory.alerts.silent_after if inventory.alerts else DEFAULT_SILENT_AFTER


def _sensors(inventory: Inventory, series: dict[str, Series]) -> dict[str, SensorFacts]:
    """Each sensor's facts; a sensor a board reads reports at the board's interval (the rules
    refuse a sensor interval shorter than its board's)."""
    boards = {sensor_id: name for name, device in inventory.devices.items() for sensor_id in device.sensors}
    after = silent_after(inventory)
    facts = {}
    for sensor_id, sensor in inventory.sensors.items():
        board = boards.get(sensor_id)
        interval = inventory.devices[board].interval if board else sensor.interval
        interval_s = seconds(interval)
        facts[sensor_id] = SensorFacts(
            sensor_id,
            sensor.name,
            sensor.stream,
            sensor.group,
            sensor.unit,
            grafana_unit(sensor.unit),
            sensor.decimals,
            sensor.min,
            sensor.max,
            tuple(sorted(sensor.thresholds, key=lambda t: t.value)),
            interval,
            interval_s,
            int(interval_s * after),
            series[sensor_id],
            board,
        )
    return facts


def target_host(docker_host: str) -> str:
    """unix:// -> localhost; ssh://pi@raspberrypi.local -> raspberrypi.local; tcp://h:2376 -> h."""
    if docker_host.startswith(("unix://", "npipe://")):
        return "localhost"
    try:
        return urlsplit(docker_host).hostname or "localhost"
    except ValueError:
        return "localhost"


def _secret(reference: str) -> Secret:
    found = secrets.parse(reference)
    assert found is not None, "the model only accepts ${VAR} references here"
    return found


def _broker(inventory: Inventory, base: Path, name: str, broker: Broker, host: str) -> BrokerFacts:
    credential = None
    if broker.username is not None and broker.password is not None:
        credential = Credential(secrets.secret_or_text(broker.username), _secret(broker.password))
    if broker.managed:
        transport = broker.effective_transport
        tls, ca = None, None
        if transport.encrypted:
            folder = paths.pki_folder(inventory.project)
            tls = BrokerTls(base / folder, broker_names(inventory, host))
            ca = _ca(base, name, f"{folder}/{paths.PKI_CA}", managed=True)
        listeners = [Endpoint(name, host, broker.effective_port, transport, None)]
        listeners += [Endpoint(name, host, e.effective_port, e.transport, e.path) for e in broker.fallback]
        accounts = {user: _secret(broker.client_password(user)) for user in sorted(broker.clients)}
        inside = paths.MQTT_TLS_PORT if tls else paths.MQTT_PORT
        websocket = (paths.MQTT_WSS_PORT if tls else paths.MQTT_WS_PORT) if broker.fallback else None
        return BrokerFacts(
            name,
            True,
            (f"{transport.scheme}://mosquitto:{inside}",),
            tuple(listeners),  # the main listener, then websockets when asked
            credential,
            ca,
            accounts,
            broker.window or default_window(True, broker.host),
            tls,
            inside,
            websocket,
        )
    assert broker.host is not None
    main = Endpoint(name, broker.host, broker.effective_port, broker.transport, broker.path)
    fallbacks = [Endpoint(name, broker.host, e.effective_port, e.transport, e.path) for e in broker.fallback]
    ca = _ca(base, name, broker.ca_file) if broker.ca_file else None
    endpoints = (main, *fallbacks)
    window = broker.window or default_window(False, broker.host)
    return BrokerFacts(name, False, tuple(e.url for e in endpoints), endpoints, credential, ca, window=window)


def broker_names(inventory: Inventory, host: str) -> tuple[str, ...]:
    """What the managed broker's certificate is for: the name boards and the laptop reach the
    Docker host by, a swarm's other nodes (its routing mesh publishes the port on each), the
    service's name Telegraf reaches it by, and localhost (its healthcheck)."""
    swarm = inventory.target.swarm
    nodes = [target_host(url) for url in swarm.nodes.values()] if swarm else []
    return tuple(dict.fromkeys((host, *nodes, "mosquitto", "localhost")))


def _ca(base: Path, broker: str, file: str, managed: bool = False) -> CaCert:
    """A broker's pinned CA, and where Telegraf reads it. The managed broker's is made by render
    (polysource.pki); any other trouble was found by the inventory's rules."""
    relative = f"{paths.CERTS_DIR}/{broker}-ca.pem"
    try:
        ders = tuple(read_ca(base, file))
    except CaProblem as problem:
        hint = " (`polysource render` makes the stack's CA)" if managed else ""
        raise PkiError(f"brokers.{broker}: {problem}{hint}") from None
    return CaCert(ders, f"{paths.TELEGRAF_DIR}/{relative}", f"{paths.TELEGRAF_MOUNT}/{relative}")


def client_id(project: str, name: str, stream: Stream) -> str:
    """Stable across restarts, new when the topic changes.

    A persistent session keeps its first subscription, so a changed topic needs a new session.
    """
    if stream.client_id:
        return stream.client_id
    digest = hashlib.sha256(stream.topic.encode()).hexdigest()[:8]
    return f"polysource-{project}-{name}-{digest}"


def _last(path: str) -> str:
    """The name Telegraf's json_v2 gives a value found at a dotted path: its last key."""
    return path.split(".")[-1]


def _stream(project: str, name: str, stream: Stream, instances: int) -> StreamFacts:
    levels = placeholders(stream.topic)
    fmt = stream.format
    topic_filter = subscription(stream.topic)
    return StreamFacts(
        name=name,
        broker=stream.broker,
        topic=stream.topic,
        subscription=shared(project, topic_filter, instances),
        topic_filter=topic_filter,
        instances=instances,
        qos=stream.qos,
        client_id=client_id(project, name, stream),
        measurement=stream.measurement or name,
        value_path=fmt.value,
        field=_last(fmt.value),
        sensor_path=fmt.sensor,
        unit_path=fmt.unit,
        time_path=fmt.time,
        sensor_tag=_last(fmt.sensor) if fmt.sensor else SENSOR,
        topic_tags="/".join(level or "_" for level in levels) if any(levels) else None,
        tag_paths=tuple(p for p in (fmt.sensor, fmt.unit) if p),
    )


def _tiers(inventory: Inventory, streams: dict[str, StreamFacts]) -> tuple[Tier, ...]:
    db = inventory.storage.influxdb
    tiers = []
    for tier in db.downsample:
        sources = []
        for name, stream in streams.items():
            chosen = [s for s, sensor in inventory.sensors.items() if sensor.stream == name]
            if tier.groups:
                chosen = [s for s in chosen if inventory.sensors[s].group in tier.groups]
                if not chosen:
                    continue
            kept = tuple(sorted(chosen)) if tier.groups else ()
            sources.append(TierSource(stream.measurement, stream.field, stream.sensor_tag, kept))
        name = f"rp_{tier.every}" if db.version == 1 else f"{db.database}_{tier.every}"
        tiers.append(Tier(tier.every, tier.keep, name, tuple(sources)))
    return tuple(tiers)


def _influx_outside(publish: str | None, host: str) -> str | None:
    """Where the laptop can reach a published InfluxDB: the address it is bound to, or the Docker
    host's name when bound to every interface; None when not published, or bound to a loopback
    address of another machine."""
    if not publish:
        return None
    address, port = published(publish)
    if address and ipaddress.ip_address(address).is_loopback and host not in ("localhost", address):
        return None
    unspecified = not address or ipaddress.ip_address(address).is_unspecified
    return f"http://{url_host(host if unspecified else address)}:{port}"


def _influx(inventory: Inventory, host: str, streams: dict[str, StreamFacts]) -> InfluxFacts:
    db = inventory.storage.influxdb
    admin = Credential(db.admin_user, _secret(db.admin_password))
    if db.version == 1:
        writer = Credential(db.write_user, _secret(db.write_password))
        reader = Credential(db.read_user, _secret(db.read_password))
    else:
        writer = reader = Credential(None, _secret(db.token))
    return InfluxFacts(
        version=db.version,
        database=db.database,
        organization=db.organization,
        retention=db.retention,
        published=published(db.publish) if db.publish else None,
        url_inside=f"http://influxdb:{paths.INFLUX_PORT}",
        url_outside=_influx_outside(db.publish, host),
        admin=admin,
        writer=writer,
        reader=reader,
        tiers=_tiers(inventory, streams),
    )


def _image(inventory: Inventory, service: str) -> str:
    target = inventory.target
    if service in target.images:
        return target.images[service]
    return check_platform(service, target.platform, inventory.storage.influxdb.version)


def _env(credential: Credential) -> dict[str, str | Secret]:
    """A credential's secrets, each under its own name, for configs that say ${VAR}."""
    return {secret.var: secret for secret in credential.secrets}


# Ready means ready to serve the stack: a write (of nothing) by Telegraf's own account into the
# database, on the container's address, not 127.0.0.1: during the image's first-start setup a
# temporary server answers on 127.0.0.1:8086. The credentials travel from the environment to
# curl's standard input, never on a command line.
INFLUX1_HEALTH = (
    "printf 'Authorization: Basic %s\\n' \"$(printf '%s:%s' \"$INFLUXDB_WRITE_USER\" "
    '"$INFLUXDB_WRITE_USER_PASSWORD" | base64 -w0)" | curl -fsS -o /dev/null -H @- -X POST '
    "--data-binary '' \"http://$HOSTNAME:{port}/write?db={database}\""
)
INFLUX2_HEALTH = (
    "printf 'Authorization: Token %s\\n' \"$DOCKER_INFLUXDB_INIT_ADMIN_TOKEN\" | curl -fsS -o /dev/null "
    "-H @- -X POST --data-binary '' "
    '"http://$HOSTNAME:{port}/api/v2/write?org=$DOCKER_INFLUXDB_INIT_ORG&bucket=$DOCKER_INFLUXDB_INIT_BUCKET"'
)


def _influxdb_service(inventory: Inventory, influx: InfluxFacts) -> Service:
    env: dict[str, str | Secret]
    if influx.version == 1:
        # The image's first-start setup reads these (see deploy's converge for every later start).
        env = {
            "INFLUXDB_DB": influx.database,
            "INFLUXDB_HTTP_AUTH_ENABLED": "true",
            "INFLUXDB_REPORTING_DISABLED": "true",
            "INFLUXDB_ADMIN_USER": str(influx.admin.user),
            "INFLUXDB_ADMIN_PASSWORD": influx.admin.password,
            "INFLUXDB_WRITE_USER": str(influx.writer.user),
            "INFLUXDB_WRITE_USER_PASSWORD": influx.writer.password,
            "INFLUXDB_READ_USER": str(influx.reader.user),
            "INFLUXDB_READ_USER_PASSWORD": influx.reader.password,
        }
        mounts: tuple[Mount, ...] = (
            Mount(paths.INFLUXDB1_DATA, volume=paths.INFLUXDB_VOLUME, read_only=False),
        )
        health = INFLUX1_HEALTH.format(port=paths.INFLUX_PORT, database=influx.database)
    else:
        env = {
            "DOCKER_INFLUXDB_INIT_MODE": "setup",
            "DOCKER_INFLUXDB_INIT_USERNAME": str(influx.admin.user),
            "DOCKER_INFLUXDB_INIT_PASSWORD": influx.admin.password,
            "DOCKER_INFLUXDB_INIT_ORG": influx.organization,
            "DOCKER_INFLUXDB_INIT_BUCKET": influx.database,
            "DOCKER_INFLUXDB_INIT_RETENTION": "0s" if influx.retention == "inf" else influx.retention,
            "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN": influx.writer.password,
            "INFLUXD_REPORTING_DISABLED": "true",  # influxd --reporting-disabled: no telemetry
        }
        mounts = (
            Mount(paths.INFLUXDB2_DATA, volume=paths.INFLUXDB_VOLUME, read_only=False),
            Mount(paths.INFLUXDB2_CONFIG, volume=paths.INFLUXDB2_CONFIG_VOLUME, read_only=False),
        )
        health = INFLUX2_HEALTH.format(port=paths.INFLUX_PORT)
    return Service(
        name="influxdb",
        image=_image(inventory, "influxdb"),
        environment=env,
        ports=(PublishedPort(influx.published[1], paths.INFLUX_PORT, influx.published[0]),)
        if influx.published
        else (),
        mounts=mounts,
        healthcheck=Healthcheck(("CMD-SHELL", health)),
        mem_limit="300m",
        lifecycle=LIFECYCLE[f"{INFLUXDB}{influx.version}"],
    )


def _mosquitto_passwd(inventory: Inventory, broker: BrokerFacts) -> Service:
    """Writes Mosquitto's password file (and its TLS certificate and key) into a volume at deploy
    time, from the secrets.

    The plain `user:password` lines are written by the shell's printf (a builtin: no command
    line holds them), in a file only root can read, then hashed in place by `mosquitto_passwd -U`.
    """
    assert broker.credential is not None
    accounts = [(broker.credential.user, broker.credential.password), *broker.device_accounts.items()]
    env: dict[str, str | Secret] = {}
    tmp = f"{paths.MOSQUITTO_PASSWD}.new"
    steps = ["umask 077", f": > {tmp}"]
    for i, (user, password) in enumerate(accounts):
        env[f"MQTT_USER_{i}"] = user if isinstance(user, Secret) else str(user)
        env[f"MQTT_PASSWORD_{i}"] = password
        steps.append(f'printf \'%s:%s\\n\' "$MQTT_USER_{i}" "$MQTT_PASSWORD_{i}" >> {tmp}')
    uid = paths.MOSQUITTO_UID
    steps += [f"mosquitto_passwd -U {tmp}", f"chown {uid}:{uid} {tmp}", f"mv {tmp} {paths.MOSQUITTO_PASSWD}"]
    if broker.tls:  # the certificate and key polysource.pki issued, from the environment
        for var, secret, path in (
            ("MQTT_TLS_CERT", broker.tls.cert, paths.MOSQUITTO_CERT),
            ("MQTT_TLS_KEY", broker.tls.key, paths.MOSQUITTO_KEY),
        ):
            env[var] = secret
            steps += [
                f"printf '%s\\n' \"${var}\" > {path}.new",
                f"chown {uid}:{uid} {path}.new",
                f"mv {path}.new {path}",
            ]
    return Service(
        name="mosquitto-passwd",
        image=_image(inventory, "mosquitto"),
        command=("sh", "-ec", "; ".join(steps)),
        environment=env,
        mounts=(Mount(paths.MOSQUITTO_AUTH, volume=paths.MOSQUITTO_AUTH_VOLUME, read_only=False),),
        mem_limit="32m",
        one_shot=True,
    )


# Alive, speaking MQTT (over TLS, with a certificate the stack's CA signed for localhost), and
# refusing anonymous clients: no secret needed to tell.
MOSQUITTO_HEALTH = (
    "mosquitto_sub -h localhost -p {port}{tls} -t '$SYS/broker/uptime' -C 1 -W 3 2>&1 | grep -q 'not authori'"
)


def _mosquitto(inventory: Inventory, broker: BrokerFacts) -> Service:
    tls = f" --cafile {paths.MOSQUITTO_CA_INSIDE}" if broker.tls else ""
    return Service(
        name="mosquitto",
        image=_image(inventory, "mosquitto"),
        ports=tuple(
            PublishedPort(endpoint.port, inside)
            for endpoint, inside in zip(
                broker.endpoints, (broker.inside_port, broker.websocket_port), strict=False
            )
            if inside
        ),
        mounts=(
            Mount(paths.MOSQUITTO_CONFIG_MOUNT, config=paths.MOSQUITTO_DIR),
            Mount(paths.MOSQUITTO_AUTH, volume=paths.MOSQUITTO_AUTH_VOLUME),
            Mount(paths.MOSQUITTO_DATA, volume=paths.MOSQUITTO_DATA_VOLUME, read_only=False),
        ),
        depends_on={"mosquitto-passwd": "service_completed_successfully"},
        healthcheck=Healthcheck(("CMD-SHELL", MOSQUITTO_HEALTH.format(port=broker.inside_port, tls=tls))),
        mem_limit="64m",
        lifecycle=LIFECYCLE[MOSQUITTO],
    )


def _telegrafs(
    inventory: Inventory, brokers: list[BrokerFacts], influx: InfluxFacts, managed: bool
) -> list[Service]:
    """One Telegraf, or several sharing the subscriptions, each told its number."""
    one = _telegraf(inventory, brokers, influx, managed)
    instances = inventory.telegraf.instances
    if instances == 1:
        return [one]
    return [
        replace(
            one, name=name, environment=dict(sorted({**one.environment, paths.INSTANCE_VAR: str(n)}.items()))
        )
        for n, name in enumerate(telegraf_names(instances), 1)
    ]


def _telegraf(
    inventory: Inventory, brokers: list[BrokerFacts], influx: InfluxFacts, managed: bool
) -> Service:
    env: dict[str, str | Secret] = {}
    for broker in brokers:
        if broker.credential:
            env |= _env(broker.credential)
    env |= _env(influx.writer)
    depends = {"influxdb": "service_healthy"}
    if managed:
        depends["mosquitto"] = "service_healthy"
    return Service(
        name=TELEGRAF,
        image=_image(inventory, TELEGRAF),
        environment=dict(sorted(env.items())),
        mounts=(
            Mount(paths.TELEGRAF_MOUNT, config=paths.TELEGRAF_DIR),
            Mount(paths.TELEGRAF_DATA_MOUNT, volume=paths.INFLUXDB_VOLUME, read_only=True),
        ),
        depends_on=depends,
        healthcheck=Healthcheck(
            ("CMD", "curl", "-fsS", "-o", "/dev/null", f"http://localhost:{paths.TELEGRAF_HEALTH_PORT}/"),
            start_period="10s",
        ),
        mem_limit="128m",
        lifecycle=LIFECYCLE[TELEGRAF],
    )


def _alerts(inventory: Inventory) -> AlertFacts | None:
    alerts = inventory.alerts
    if alerts is None:
        return None
    smtp = None
    if alerts.smtp is not None:
        smtp = Smtp(alerts.smtp.host, alerts.smtp.user, _secret(alerts.smtp.password), alerts.smtp.sender)
    webhook = _secret(alerts.webhook) if alerts.webhook else None
    return AlertFacts(webhook, tuple(alerts.email), smtp, alerts.silent_after, alerts.pending)


def _alert_env(alerts: AlertFacts | None) -> dict[str, str | Secret]:
    """The webhook URL under its own name (the contact point says ${VAR}); Grafana's mail server."""
    if alerts is None:
        return {}
    env: dict[str, str | Secret] = {}
    if alerts.webhook:
        env[alerts.webhook.var] = alerts.webhook
    if alerts.smtp:
        env |= {
            "GF_SMTP_ENABLED": "true",
            "GF_SMTP_HOST": alerts.smtp.host,
            "GF_SMTP_USER": alerts.smtp.user,
            "GF_SMTP_PASSWORD": alerts.smtp.password,
            "GF_SMTP_FROM_ADDRESS": alerts.smtp.sender,
        }
    return env


def _grafana(inventory: Inventory, influx: InfluxFacts, grafana: GrafanaFacts) -> Service:
    return Service(
        name="grafana",
        image=_image(inventory, "grafana"),
        environment={
            "GF_SECURITY_ADMIN_USER": str(grafana.admin.user),
            "GF_SECURITY_ADMIN_PASSWORD": grafana.admin.password,
            "GF_AUTH_ANONYMOUS_ENABLED": "false",
            "GF_USERS_ALLOW_SIGN_UP": "false",
            "GF_ANALYTICS_REPORTING_ENABLED": "false",
            **_env(influx.reader),
            **_alert_env(grafana.alerts),
        },
        ports=(PublishedPort(grafana.port, paths.GRAFANA_PORT),),
        mounts=(
            Mount(paths.GRAFANA_DATA, volume=paths.GRAFANA_VOLUME, read_only=False),
            Mount(paths.GRAFANA_PROVISIONING_MOUNT, config=paths.GRAFANA_PROVISIONING_DIR),
            # The dashboard provider re-reads this folder every 30 s: no restart needed.
            Mount(paths.GRAFANA_DASHBOARDS_MOUNT, config=paths.GRAFANA_DASHBOARDS_DIR, live=True),
        ),
        depends_on={"influxdb": "service_healthy"},
        healthcheck=Healthcheck(
            ("CMD", "wget", "-q", "-O", "/dev/null", f"http://localhost:{paths.GRAFANA_PORT}/api/health")
        ),
        mem_limit="256m",
        lifecycle=LIFECYCLE[GRAFANA],
    )
