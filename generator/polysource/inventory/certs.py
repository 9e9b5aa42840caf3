"""CA files named by the inventory: certificates only, from inside the inventory's folder.

A `ca_file` is copied into output/ (and into each board's firmware), so whatever it names ends
up in a git diff: a `.env`, a private key or `/etc/shadow` must never get through. Only PEM
certificate blocks that OpenSSL accepts are kept, re-encoded, and nothing of a refused file is
ever shown.
"""

import base64
import binascii
import re
import ssl
from pathlib import Path

from polysource.regular_files import IsAFolder, NotReadable, TooLarge, read_regular

MAX_BYTES = 1_000_000
BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)


class CaProblem(Exception):
    """Why a ca_file cannot be used (never including its content)."""


def read_ca(base: Path, name: str) -> list[bytes]:
    """The DER certificates of the PEM file `name`, relative to the inventory folder `base`."""
    try:
        root = base.resolve()
        path = (base / name).resolve()
    except (OSError, ValueError) as error:  # a NUL byte, a symlink loop, ...
        raise CaProblem(f"{name!r} is not a usable path ({error})") from None
    if not path.is_relative_to(root):
        raise CaProblem(f"{name} is outside the inventory's folder; copy the CA next to the inventory")
    try:
        data = read_regular(path, MAX_BYTES)
    except FileNotFoundError:
        raise CaProblem(f"no such file: {base / name}") from None
    except IsAFolder:
        raise CaProblem(f"{base / name} is a folder; name the PEM file inside it") from None
    except TooLarge:
        raise CaProblem(f"{base / name} is over 1 MB: not a CA certificate file") from None
    except NotReadable as why:
        raise CaProblem(f"{base / name} {why}") from None
    blocks = BLOCK.findall(data)
    kinds = {kind.decode() for kind, _ in blocks}
    if kinds - {"CERTIFICATE"}:
        raise CaProblem(
            f"{base / name} holds a {sorted(kinds - {'CERTIFICATE'})[0]}: a CA file holds certificates only"
        )
    if not blocks:
        raise CaProblem(f"{base / name} is not a PEM certificate (no BEGIN CERTIFICATE block)")
    ders = []
    for _, body in blocks:
        try:
            der = base64.b64decode(b"".join(body.split()), validate=True)
            ssl.create_default_context(cadata=der)
        except (binascii.Error, ValueError, ssl.SSLError):
            raise CaProblem(f"{base / name} holds a certificate OpenSSL cannot read") from None
        ders.append(der)
    return ders


def pem(ders: list[bytes]) -> bytes:
    """Certificates as a canonical PEM file."""
    return "".join(ssl.DER_cert_to_PEM_cert(der) for der in ders).encode()
