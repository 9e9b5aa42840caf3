"""systemd user timers that run polysource on a schedule: `backup` on the inventory's
`backup.schedule`, and `watch` every minute (the containers' restarts into InfluxDB).

The backup timer belongs on a machine that holds this repository and reaches the Pi's Docker
(the laptop, a school server), never on the Pi itself: a backup on the card it protects dies
with it. The watch timer may run on the Pi (its clone of the repository) or beside the backup.
    cp output/backup/* ~/.config/systemd/user/ && systemctl --user enable --now <project>-backup.timer
    cp output/watch/* ~/.config/systemd/user/ && systemctl --user enable --now <project>-watch.timer
WorkingDirectory is ~/polysource for a git repository (its clone there), the folder itself when it
is not one; `systemctl --user edit <project>-backup.service` changes it without touching these
generated files. `loginctl enable-linger USER` once, or a
user's timers stop with their last session.
"""

import os
from pathlib import Path

from polysource.render.header import header
from polysource.stack import Stack
from polysource.workspace import repository_root

WATCH_EVERY = "1min"


def unit_word(text: str) -> str:
    """One argument of a unit's command line: quoted, with systemd's % and $ specials escaped and
    what is not printable (a newline, a zero-width space, a byte that is not UTF-8 in a folder
    name) as `\\xHH` per UTF-8 byte, as systemd-escape writes them and systemd reads them back."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    escaped = "".join(ch if ch.isprintable() else _bytes_escaped(ch) for ch in escaped)
    return f'"{escaped}"'


def _bytes_escaped(ch: str) -> str:
    # surrogateescape: a file name's undecodable byte comes back as itself
    return "".join(f"\\x{byte:02x}" for byte in ch.encode("utf-8", "surrogateescape"))


HOME_CLONE = "%h/polysource"


def working_directory(output: Path) -> str:
    """Where the units run: in a git repository, its clone on that machine (~/polysource unless
    `systemctl --user edit` says otherwise); in a plain folder, that folder itself, since the
    inventory and output/ are named relative to it. A folder systemd could not be given as is
    (not printable) keeps the default."""
    root = repository_root(output.resolve())
    if (root / ".git").exists():
        return HOME_CLONE
    text = str(root)
    return text.replace("%", "%%") if text.isprintable() else HOME_CLONE


def _units(stack: Stack, output: Path, command: str, when: str, schedule: str) -> dict[str, str]:
    """COMMAND/PROJECT-COMMAND.service (one run, paths relative to the repository's root) and its
    timer."""
    root = repository_root(output.resolve())
    inventory = os.path.relpath(stack.inventory_path.resolve(), root)
    rendered = os.path.relpath(output.resolve(), root)
    name = f"{stack.name}-{command}"
    words = " ".join(unit_word(w) for w in (command, "-i", inventory, "-o", rendered))
    service = (
        header(stack.name)
        + "[Unit]\n"
        + f"Description=polysource {command} of {stack.name}\n"
        + "Wants=network-online.target\nAfter=network-online.target\n\n"
        + "[Service]\nType=oneshot\n"
        + f"WorkingDirectory={working_directory(output)}\n"
        + "Environment=PATH=%h/.local/bin:/usr/local/bin:/usr/bin:/bin\n"
        + f"ExecStart=/usr/bin/env polysource {words}\n"
    )
    timer = (
        header(stack.name)
        + "[Unit]\n"
        + f"Description=polysource {command} of {stack.name}, {when}\n\n"
        + "[Timer]\n"
        + schedule
        + "\n[Install]\nWantedBy=timers.target\n"
    )
    return {f"{command}/{name}.service": service, f"{command}/{name}.timer": timer}


def render_backup_timer(stack: Stack, output: Path) -> dict[str, str]:
    schedule = stack.backup.schedule
    if schedule is None:
        return {}
    timing = f"OnCalendar={schedule}\nPersistent=true\nRandomizedDelaySec=10m\n"
    return _units(stack, output, "backup", "on schedule", timing)


def render_watch_timer(stack: Stack, output: Path) -> dict[str, str]:
    """Every minute from a minute after boot; AccuracySec keeps it near the minute."""
    timing = f"OnBootSec={WATCH_EVERY}\nOnUnitActiveSec={WATCH_EVERY}\nAccuracySec=5s\n"
    return _units(stack, output, "watch", "every minute", timing)
