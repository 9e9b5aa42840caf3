"""The managed broker's TLS: a CA the stack makes and keeps beside the inventory, and the server
certificate deploy issues from it, for the names boards and Telegraf use, renewed before expiry.

Beside the inventory, never in output/ (`pki/<project>/`): `ca.pem`, public, committed, pinned by
the boards' firmware and Telegraf; `ca.key`, the CA's key (mode 0600, git-ignored: back it up,
it signs every renewal); `server.pem` and `server.key`, what the broker serves (git-ignored,
issued again by deploy). Keys are written to a new file (never through a symlink) and renamed
into place: an interrupted write leaves the old one.
"""

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from polysource.errors import PkiError
from polysource.regular_files import NotReadable, read_regular
from polysource.stack.model import BrokerTls

CA_DAYS = 20 * 365  # the boards pin it: replacing it means flashing every board again
SERVER_DAYS = 825
RENEW_DAYS = 90  # deploy issues a new server certificate when fewer days are left
MAX_BYTES = 100_000
GITIGNORE = (
    "# polysource: keys stay on this machine (back ca.key up); ca.pem is committed.\n*.key\nserver.pem\n"
)


@dataclass(frozen=True)
class Issued:
    """The server certificate and key the broker gets, and whether deploy just made them."""

    cert_pem: str
    key_pem: str
    not_after: datetime.datetime
    renewed: bool
    folder: Path  # where it is kept


def make_ca(folder: Path, project: str, now: datetime.datetime) -> bool:
    """Make the CA when the folder has none; False when one is there already. A CA key without
    its certificate is never replaced (boards may pin the certificate that went with it)."""
    ca, key = folder / "ca.pem", folder / "ca.key"
    if _exists(ca):
        return False
    if _exists(key):
        raise PkiError(f"{key} has no ca.pem beside it: restore ca.pem from git, or remove both for a new CA")
    _folder(folder)
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"polysource {project} broker CA")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(private.public_key()), critical=False)
        .sign(private, hashes.SHA256())
    )
    _write(key, _key_pem(private), secret=True)
    _write(ca, certificate.public_bytes(serialization.Encoding.PEM), secret=False)
    return True


def server_certificate(tls: BrokerTls, now: datetime.datetime, save: bool = True) -> Issued:
    """The broker's certificate: the one kept when it is this CA's, for exactly these names, and
    more than RENEW_DAYS from expiry; else a new one signed with ca.key (saved unless `save` is
    False: a dry run)."""
    ca = _certificate(tls.folder / "ca.pem")
    kept = _kept(tls, ca, now)
    if kept is not None:
        return kept
    ca_key = _private_key(tls.folder / "ca.key", "the CA's key: it signs the broker's certificate")
    if ca_key.public_key() != ca.public_key():
        raise PkiError(f"{tls.folder / 'ca.key'} is not the key of {tls.folder / 'ca.pem'}")
    private = ec.generate_private_key(ec.SECP256R1())
    not_after = now + datetime.timedelta(days=SERVER_DAYS)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, tls.names[0])]))
        .issuer_name(ca.subject)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(_alt_names(tls.names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_pem, key_pem = certificate.public_bytes(serialization.Encoding.PEM), _key_pem(private)
    if save:
        _write(tls.folder / "server.key", key_pem, secret=True)
        _write(tls.folder / "server.pem", cert_pem, secret=False)
    return Issued(cert_pem.decode(), key_pem.decode(), not_after, True, tls.folder)


def _kept(tls: BrokerTls, ca: x509.Certificate, now: datetime.datetime) -> Issued | None:
    """The saved server certificate, when it can still be served."""
    if not _exists(tls.folder / "server.pem") or not _exists(tls.folder / "server.key"):
        return None
    cert = _certificate(tls.folder / "server.pem")
    key = _private_key(tls.folder / "server.key", "the broker's key")
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return None  # a new CA: its boards would refuse the old certificate
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    if set(names) != set(_alt_names(tls.names)) or key.public_key() != cert.public_key():
        return None
    if cert.not_valid_after_utc - now < datetime.timedelta(days=RENEW_DAYS):
        return None
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    return Issued(pem, _key_pem(key).decode(), cert.not_valid_after_utc, False, tls.folder)


def _alt_names(names: tuple[str, ...]) -> list[x509.GeneralName]:
    found: list[x509.GeneralName] = []
    for name in names:
        try:
            found.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            found.append(x509.DNSName(name))
    return found


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _exists(path: Path) -> bool:
    return path.is_symlink() or path.exists()


def _read(path: Path) -> bytes:
    try:
        return read_regular(path, MAX_BYTES)
    except FileNotFoundError:
        raise PkiError(f"{path} is missing") from None
    except NotReadable as why:
        raise PkiError(f"{path} {why}") from None


def _certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(_read(path))
    except ValueError:
        raise PkiError(f"{path} is not a PEM certificate") from None


def _private_key(path: Path, what: str) -> ec.EllipticCurvePrivateKey:
    if not _exists(path):
        raise PkiError(
            f"{path} is missing ({what}): copy it from the machine that made the CA, or remove "
            f"{path.parent} and render again (a new CA: every board must then be flashed again)"
        )
    try:
        key = serialization.load_pem_private_key(_read(path), password=None)
    except (ValueError, TypeError):
        raise PkiError(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"{path} is not an EC key (polysource makes P-256 keys)")
    return key


def _folder(folder: Path) -> None:
    """The pki folder, made when missing (0700), with its .gitignore; never through a symlink."""
    for part in (folder.parent, folder):
        if part.is_symlink():
            raise PkiError(f"{part} is a symbolic link: the CA's key is written in a real folder only")
        try:
            part.mkdir(mode=0o700, exist_ok=True)
        except OSError as error:
            raise PkiError(f"cannot make {part}: {error.strerror}") from None
        if not part.is_dir():
            raise PkiError(f"{part} is not a folder")
    if not _exists(folder / ".gitignore"):
        _write(folder / ".gitignore", GITIGNORE.encode(), secret=False)


def _write(path: Path, data: bytes, secret: bool) -> None:
    """A new file beside `path`, renamed over it: never written through a link, never half there."""
    if path.parent.is_symlink() or not path.parent.is_dir():
        raise PkiError(f"{path.parent} is not a folder")
    partial = path.with_name(f".{path.name}.new")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        partial.unlink(missing_ok=True)
        fd = os.open(partial, flags, 0o600 if secret else 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise PkiError(f"cannot write {path}: {error.strerror}") from None
