"""Each board's firmware folder: devices/<board>/ (deploy does not ship it to the Pi).

The Arduino sketch and its config header, polysource_link (TLS + MQTT in portable C), a
secrets.example.h, PlatformIO settings, a README; and the same board in MicroPython.
"""

import ssl

from polysource.render.templating import render_template
from polysource.resources import templates_dir
from polysource.secrets import Secret
from polysource.stack import Stack
from polysource.stack.model import DeviceFacts
from polysource.stack.paths import DEVICES_DIR

LIBRARY = ("polysource_link.h", "polysource_link.c", "polysource_field.h", "polysource_field.c")
MICROPYTHON_LIBRARY = ("polysource_link.py", "polysource_field.py")
TINYGSM = {"sim800": "SIM800", "sim7000": "SIM7000SSL", "sim7080": "SIM7080", "sim7600": "SIM7600"}
TINYGSM |= {"a7672x": "A7672X", "bg96": "BG96"}
GITIGNORE = (
    "# The board's secrets stay out of git (and polysource render keeps them).\nsecrets.h\nsecrets.py\n"
)


def _der_lines(ders: tuple[bytes, ...]) -> list[str]:
    data = b"".join(ders)
    return [", ".join(f"0x{b:02x}" for b in data[i : i + 16]) + "," for i in range(0, len(data), 16)]


def _pem_lines(ders: tuple[bytes, ...]) -> list[str]:
    pem = "".join(ssl.DER_cert_to_PEM_cert(der) for der in ders)
    return [line + "\n" for line in pem.splitlines()]


def render_device(stack: Stack, device: DeviceFacts) -> dict[str, str | bytes]:
    """Relative path (inside output/) -> content, for one board."""
    user = device.credential.user
    context = {
        "project": stack.name,
        "d": device,
        "tinygsm": TINYGSM.get(device.modem, ""),
        "username_secret": user.reference if isinstance(user, Secret) else None,
        "ca_der_lines": _der_lines(device.ca.ders) if device.ca else [],
        "ca_pem_lines": _pem_lines(device.ca.ders) if device.ca else [],
        "ca_ders": tuple(device.ca.ders) if device.ca else (),
        "permission": stack.permissions[device.name],
        "managed": stack.brokers[stack.streams[device.stream].broker].managed,
        "no_identity": stack.streams_without_identity,
    }
    folder = f"{DEVICES_DIR}/{device.name}"
    files: dict[str, str | bytes] = {
        f"{folder}/polysource_config.h": render_template("device/polysource_config.h.j2", **context),
        f"{folder}/{device.name}.ino": render_template("device/board.ino.j2", **context),
        f"{folder}/secrets.example.h": render_template("device/secrets.example.h.j2", **context),
        f"{folder}/platformio.ini": render_template("device/platformio.ini.j2", **context),
        f"{folder}/README.md": render_template("device/README.md.j2", **context),
        f"{folder}/.gitignore": GITIGNORE,
        f"{folder}/micropython/polysource_config.py": render_template(
            "device/polysource_config.py.j2", **context
        ),
        f"{folder}/micropython/main.py": render_template("device/main.py.j2", **context),
        f"{folder}/micropython/secrets.example.py": render_template(
            "device/secrets.example.py.j2", **context
        ),
    }
    library = templates_dir() / "device"
    for name in LIBRARY:
        files[f"{folder}/{name}"] = (library / name).read_bytes()
    for name in MICROPYTHON_LIBRARY:
        files[f"{folder}/micropython/{name}"] = (library / name).read_bytes()
    return files


def render_devices(stack: Stack) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {}
    for device in stack.devices.values():
        files |= render_device(stack, device)
    return files
