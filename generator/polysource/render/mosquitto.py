"""mosquitto.conf and its acl_file for a broker the stack runs itself."""

from polysource.render.header import header
from polysource.render.templating import render_template
from polysource.stack import Stack, paths
from polysource.stack.durability import MAX_QUEUED


def render_mosquitto(stack: Stack) -> str:
    broker = stack.managed_broker
    assert broker is not None, "rendered only for a managed broker"
    return render_template(
        "mosquitto.conf.j2",
        project=stack.name,
        port=broker.inside_port,
        websocket_port=broker.websocket_port,
        tls=broker.tls is not None,
        names=", ".join(broker.tls.names) if broker.tls else "",
        certfile=paths.MOSQUITTO_CERT,
        keyfile=paths.MOSQUITTO_KEY,
        max_queued=MAX_QUEUED,
        window=broker.window,
        save_every=stack.broker_save_every,
        password_file=paths.MOSQUITTO_PASSWD,
        acl_file=paths.MOSQUITTO_ACL_INSIDE,
        data=paths.MOSQUITTO_DATA,
    )


def render_acl(stack: Stack) -> str:
    """Mosquitto's acl_file: each account's `topic` lines (no %-patterns: `topic` lines are read
    as written), one account after another. An account absent here may do nothing."""
    lines = [
        header(stack.name).rstrip("\n"),
        "# Each account may publish (write) or receive (read) what is listed under it, nothing else.",
        "# Mosquitto drops the rest silently: a refused publish is still acknowledged, a",
        "# subscription outside these topics is granted and receives nothing.",
    ]
    for account in stack.broker_accounts:
        lines += ["", f"# {account.user}: {account.role}"]
        if not account.write and not account.read:
            continue
        lines.append(f"user {account.user}")
        lines += [f"topic write {topic}" for topic in account.write]
        lines += [f"topic read {topic}" for topic in account.read]
    return "\n".join(lines) + "\n"
