"""What each account on a broker needs, and nothing more: a board's account publishes its
readings' topics, Telegraf's subscribes to its streams. A cloud broker takes these as a
credential's permission (HiveMQ Cloud: the Access Management tab of the cluster's console), said
in each board's README and by `polysource doctor`.

One topic filter per account (a HiveMQ Cloud Serverless credential holds one permission, with
one filter): the narrowest that covers every topic. Where that filter also covers another
board's topics, or a stream's topic names neither board nor sensor (the seed's single
`polysource/capteurs`), a topic rule cannot stop one board posing as another: the stack says
which, once.
"""

from collections.abc import Iterable
from typing import TYPE_CHECKING

from polysource.inventory.model import Inventory
from polysource.secrets import Secret
from polysource.stack.model import Account, BrokerFacts, Credential, DeviceFacts, Permission, StreamFacts
from polysource.topics import covering_filter, matches, placeholders

if TYPE_CHECKING:
    from polysource.stack.model import Stack


def _account(user: str | Secret | None) -> str:
    """The account as the inventory writes it (a name, or its ${VAR} reference)."""
    if isinstance(user, Secret):
        return user.reference
    return user or "(no username)"


def hivemq_cloud(host: str | None) -> bool:
    """A HiveMQ Cloud cluster: its host names end in .hivemq.cloud."""
    return bool(host) and str(host).lower().rstrip(".").endswith(".hivemq.cloud")


def where(broker: BrokerFacts) -> str:
    """Whose words the permission is said in: HiveMQ Cloud's console, the stack's Mosquitto, others."""
    if broker.managed:
        return "managed"
    return "hivemq-cloud" if broker.endpoints and hivemq_cloud(broker.endpoints[0].host) else "cloud"


def board_permissions(
    devices: Iterable[DeviceFacts], streams: dict[str, StreamFacts], brokers: dict[str, BrokerFacts]
) -> dict[str, Permission]:
    """Per board, its account's permission: the topics of every board using that account."""
    by_account: dict[tuple[str, str], list[DeviceFacts]] = {}
    for device in devices:
        key = (streams[device.stream].broker, _account(device.credential.user))
        by_account.setdefault(key, []).append(device)
    found: dict[str, Permission] = {}
    for (broker, account), boards in by_account.items():
        topics = tuple(dict.fromkeys(r.topic for d in boards for r in d.readings))
        topic_filter = covering_filter(list(topics))
        others = [
            d.name
            for (other_broker, other_account), group in by_account.items()
            if other_broker == broker and other_account != account
            for d in group
            if any(matches(topic_filter, r.topic) for r in d.readings)
        ]
        permission = Permission(
            broker,
            account,
            topic_filter,
            topics,
            publish=True,
            qos=max(d.qos for d in boards),
            boards=tuple(d.name for d in boards),
            also_covers=tuple(others),
            where=where(brokers[broker]),
        )
        found |= {d.name: permission for d in boards}
    return found


def telegraf_permissions(
    brokers: dict[str, BrokerFacts], streams: dict[str, StreamFacts]
) -> dict[str, Permission]:
    """Per broker with an account, Telegraf's: subscribe to its streams' filters."""
    found = {}
    for name, broker in brokers.items():
        mine = [s for s in streams.values() if s.broker == name]
        if broker.credential is None or not mine:
            continue
        filters = tuple(dict.fromkeys(s.topic_filter for s in mine))
        found[name] = Permission(
            name,
            _account(broker.credential.user),
            covering_filter(list(filters)),
            filters,
            publish=False,
            qos=max(s.qos for s in mine),
            shared=any(s.subscription.startswith("$share/") for s in mine),
            where=where(broker),
        )
    return found


def streams_without_identity(
    devices: Iterable[DeviceFacts], streams: dict[str, StreamFacts]
) -> tuple[str, ...]:
    """Streams boards publish on whose topic has no level naming a board or a sensor: every
    board sends to the same topic, so no topic rule tells them apart."""
    used = {device.stream for device in devices}
    return tuple(
        name for name, stream in streams.items() if name in used and not any(placeholders(stream.topic))
    )


def describe(stack: "Stack") -> list[str]:
    """render's warnings: each stream whose boards no topic rule tells apart, once, and each
    account on a cloud broker whose one filter also covers another account's boards (the managed
    broker's acl_file lists exact topics)."""
    lines = [
        f"warning: stream {name}: every board publishes to {stack.streams[name].topic}, so no topic "
        f"rule on the broker stops one board posing as another (the sensor id is only in the "
        f"payload); a topic with a {{sensor}} level, such as {stack.streams[name].topic}/{{sensor}}, "
        "lets each board's account name its own sensors"
        for name in stack.streams_without_identity
    ]
    seen: set[tuple[str, str]] = set()
    for permission in stack.permissions.values():
        key = (permission.broker, permission.account)
        if permission.also_covers and permission.where != "managed" and key not in seen:
            seen.add(key)
            lines.append(
                f"warning: account {permission.account} on broker {permission.broker}: its one topic "
                f"filter {permission.topic_filter} also covers the topics of "
                f"{', '.join(permission.also_covers)}: give each board its own topic level (a tag)"
            )
    return lines


def managed_accounts(
    inventory: Inventory,
    brokers: dict[str, BrokerFacts],
    streams: dict[str, StreamFacts],
    devices: list[DeviceFacts],
) -> tuple[Account, ...]:
    """The managed broker's accounts and rights: Telegraf receives its streams; a client
    publishes its boards' topics and what the inventory adds (`publish:`), receives only what
    it lists (`subscribe:`); an account with none of these may do nothing."""
    name, broker = next(((n, b) for n, b in brokers.items() if b.managed), (None, None))
    if name is None or broker is None or broker.credential is None:
        return ()
    model = inventory.brokers[name]
    mine = [s for s in streams.values() if s.broker == name]
    accounts = [
        Account(
            str(broker.credential.user),
            broker.credential.password,
            (),
            tuple(dict.fromkeys(s.topic_filter for s in mine)),
            "Telegraf",
        )
    ]
    for user, password in broker.device_accounts.items():
        boards = [d for d in devices if streams[d.stream].broker == name and d.credential.user == user]
        publish, subscribe = model.client_rights(user)
        topics = [r.topic for d in boards for r in d.readings]
        role = (
            ", ".join(
                filter(
                    None,
                    [
                        f"boards {', '.join(d.name for d in boards)}" if boards else "",
                        "the inventory's publish/subscribe" if publish or subscribe else "",
                    ],
                )
            )
            or "nothing: no board, no publish or subscribe in the inventory"
        )
        accounts.append(
            Account(
                user,
                password,
                tuple(dict.fromkeys([*topics, *publish])),
                tuple(dict.fromkeys(subscribe)),
                role,
            )
        )
    return tuple(accounts)


def publisher(stack: "Stack", sensor: str, broker: str, topic: str) -> Credential | None:
    """The account a field tool publishes a sensor's reading with. On the managed broker: the
    account of the board that reads the sensor, else one whose rights cover the topic (None: no
    account may); elsewhere the broker's own (Telegraf's)."""
    facts = stack.brokers[broker]
    if not facts.managed:
        return facts.credential
    reading_board = [
        d.credential.user
        for d in stack.devices.values()
        if any(r.sensor == sensor and r.topic == topic for r in d.readings)
    ]
    allowed = [a for a in stack.broker_accounts if any(matches(w, topic) for w in a.write)]
    allowed.sort(key=lambda a: a.user not in reading_board)
    return Credential(allowed[0].user, allowed[0].password) if allowed else None
