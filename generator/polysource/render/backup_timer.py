"""A systemd user timer that runs `polysource backup` on the inventory's `backup.schedule`.

Installed on a machine that holds this repository and reaches the Pi's Docker (the laptop, a
school server), never on the Pi itself: a backup on the card it protects dies with it.
    cp output/backup/* ~/.config/systemd/user/ && systemctl --user enable --now <project>-backup.timer
WorkingDirectory defaults to ~/polysource; `systemctl --user edit <project>-backup.service`
changes it without touching these generated files.
"""

import os
from pathlib import Path

from polysource.render.header import header
from polysource.stack import Stack
from polysource.workspace import repository_root

BACKUP_DIR = "backup"


def unit_word(text: str) -> str:
    """One argument of a unit's command line: quoted, with systemd's % and $ specials escaped and
    control characters (a newline in a folder name) as C escapes, which systemd reads back."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    escaped = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in escaped)
    return f'"{escaped}"'


def render_backup_timer(stack: Stack, output: Path) -> dict[str, str]:
    schedule = stack.inventory.backup.schedule
    if schedule is None:
        return {}
    root = repository_root(output.resolve())
    inventory = os.path.relpath(stack.inventory_path.resolve(), root)
    rendered = os.path.relpath(output.resolve(), root)
    name = f"{stack.name}-backup"
    command = " ".join(unit_word(w) for w in ("backup", "-i", inventory, "-o", rendered))
    service = (
        header(stack.name)
        + "[Unit]\n"
        + f"Description=polysource backup of {stack.name}\n"
        + "Wants=network-online.target\nAfter=network-online.target\n\n"
        + "[Service]\nType=oneshot\n"
        + "WorkingDirectory=%h/polysource\n"
        + "Environment=PATH=%h/.local/bin:/usr/local/bin:/usr/bin:/bin\n"
        + f"ExecStart=/usr/bin/env polysource {command}\n"
    )
    timer = (
        header(stack.name)
        + "[Unit]\n"
        + f"Description=polysource backup of {stack.name}, on schedule\n\n"
        + "[Timer]\n"
        + f"OnCalendar={schedule}\n"
        + "Persistent=true\nRandomizedDelaySec=10m\n\n"
        + "[Install]\nWantedBy=timers.target\n"
    )
    return {f"{BACKUP_DIR}/{name}.service": service, f"{BACKUP_DIR}/{name}.timer": timer}
