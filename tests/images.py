"""Stand-in images built FROM scratch out of the binaries on this machine (no registry here).

Each follows the official image's contract where the stack depends on it, flaws included, as
the images' entrypoints behave (shared/reference/images/NOTES.md, read from their sources; the
scripts below are written from that description, not copied):

- influxdb:1.8: setup only while the meta folder is missing; a temporary server on
  127.0.0.1:8086 (the port a naive healthcheck probes) during setup; statements built by plain
  substitution (`CREATE DATABASE $INFLUXDB_DB` unquoted) under `set -e`, and the admin password
  unquoted on the CLI's command line; a failed setup is never retried.
- influxdb:2.7: DOCKER_INFLUXDB_INIT_* read only while influxd.bolt is missing, setup on a
  temporary server on :9999; a failed setup deletes the bolt and engine files so the next start
  sets up again; influxd runs as uid 1000.
- telegraf: runs as the telegraf user (config files must be world-readable); curl inside.
- grafana: runs as 472; the admin account from GF_SECURITY_ADMIN_USER/PASSWORD only when it is
  first created; `grafana cli admin reset-admin-password --password-from-stdin` changes user id
  1's password and, like 11.x, prints success while changing nothing when there is no user id 1;
  /api/health, /api/user and /api/users/:id answer as Grafana's HTTP API (tests/standins/grafana,
  Go, built here). Real Grafana is not run.
- eclipse-mosquitto: the entrypoint's chown of /mosquitto, which fails on read-only mounts;
  mosquitto drops to uid 1883 before reading the password file.
"""

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

TAG = "polysource-test"
BUSYBOX = "/bin/busybox"
APPLETS = (
    "sh", "wget", "chown", "chmod", "cat", "sed", "sleep", "grep", "httpd", "kill", "ls", "mkdir",
    "mv", "rm", "sha256sum", "cut", "tr", "head", "printf", "test", "[", "true", "id", "env",
    "tar", "cp", "find", "wc", "sort", "date", "touch", "stat", "df",
)  # fmt: skip
NSSWITCH = b"passwd: files\ngroup: files\nhosts: files dns\n"

INFLUXDB1_ENTRYPOINT = r"""#!/bin/bash
# Stand-in for influxdb:1.8's entrypoint, as its contract is described (not its code).
set -e
meta="${INFLUXDB_META_DIR:-/var/lib/influxdb/meta}"
if [ -n "$INFLUXDB_ADMIN_USER" ] && [ ! -d "$meta" ]; then
  # the setup's temporary server listens where the healthcheck of a naive stack would probe
  INFLUXDB_HTTP_BIND_ADDRESS=127.0.0.1:8086 influxd & temp=$!
  create_admin="CREATE USER \"$INFLUXDB_ADMIN_USER\" WITH PASSWORD '$INFLUXDB_ADMIN_PASSWORD'"
  create_admin="$create_admin WITH ALL PRIVILEGES"
  tries=30
  until influx -host 127.0.0.1 -port 8086 -execute "$create_admin" > /dev/null 2>&1; do
    tries=$((tries - 1))
    if [ "$tries" -le 0 ]; then echo "influxdb init process failed." >&2; exit 1; fi
    echo "influxdb init process in progress..."
    sleep 1
  done
  # plain substitution, unquoted: the flaws the real script has
  as_admin="influx -host 127.0.0.1 -port 8086 -username ${INFLUXDB_ADMIN_USER}"
  as_admin="$as_admin -password ${INFLUXDB_ADMIN_PASSWORD} -execute "
  if [ -n "$INFLUXDB_DB" ]; then $as_admin "CREATE DATABASE $INFLUXDB_DB"; fi
  if [ -n "$INFLUXDB_WRITE_USER" ]; then
    $as_admin "CREATE USER \"$INFLUXDB_WRITE_USER\" WITH PASSWORD '$INFLUXDB_WRITE_USER_PASSWORD'"
    $as_admin "REVOKE ALL PRIVILEGES FROM \"$INFLUXDB_WRITE_USER\""
    if [ -n "$INFLUXDB_DB" ]; then $as_admin "GRANT WRITE ON \"$INFLUXDB_DB\" TO \"$INFLUXDB_WRITE_USER\""; fi
  fi
  if [ -n "$INFLUXDB_READ_USER" ]; then
    $as_admin "CREATE USER \"$INFLUXDB_READ_USER\" WITH PASSWORD '$INFLUXDB_READ_USER_PASSWORD'"
    $as_admin "REVOKE ALL PRIVILEGES FROM \"$INFLUXDB_READ_USER\""
    if [ -n "$INFLUXDB_DB" ]; then $as_admin "GRANT READ ON \"$INFLUXDB_DB\" TO \"$INFLUXDB_READ_USER\""; fi
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) . "$f";;
      *.iql) $as_admin "$(cat "$f")";;
    esac
  done
  kill -s TERM "$temp"
  wait "$temp" || true
  echo "influxdb init process done"
fi
exec influxd
"""

INFLUXDB2_ENTRYPOINT = r"""#!/bin/sh
# Stand-in for influxdb:2.7's entrypoint: setup once, on a temporary server on :9999.
set -e
export INFLUXD_BOLT_PATH=/var/lib/influxdb2/influxd.bolt INFLUXD_ENGINE_PATH=/var/lib/influxdb2/engine
export INFLUX_CONFIGS_PATH=/etc/influxdb2/influx-configs INFLUXD_REPORTING_DISABLED=true
chown -R 1000:1000 /var/lib/influxdb2 /etc/influxdb2
as_influxdb="/usr/bin/setpriv --reuid 1000 --regid 1000 --clear-groups"
if [ ! -f "$INFLUXD_BOLT_PATH" ] && [ "$DOCKER_INFLUXDB_INIT_MODE" = setup ]; then
  for var in USERNAME PASSWORD ORG BUCKET; do
    eval "value=\${DOCKER_INFLUXDB_INIT_$var}"
    [ -n "$value" ] || { echo "missing parameter: DOCKER_INFLUXDB_INIT_$var" >&2; exit 1; }
  done
  # A failed setup deletes what it wrote, so that the next start sets up again (the real
  # entrypoint's EXIT trap): a half-made bolt file would be taken for a finished setup.
  trap 'echo "cleaning bolt and engine files to prevent conflicts on retry" >&2
        rm -rf "$INFLUXD_BOLT_PATH" "$INFLUXD_ENGINE_PATH"/*' EXIT
  $as_influxdb influxd --http-bind-address 127.0.0.1:9999 & temp=$!
  until wget -q -O /dev/null http://127.0.0.1:9999/health; do sleep 0.2; done
  $as_influxdb influx setup --host http://127.0.0.1:9999 --force \
    --username "$DOCKER_INFLUXDB_INIT_USERNAME" --password "$DOCKER_INFLUXDB_INIT_PASSWORD" \
    --org "$DOCKER_INFLUXDB_INIT_ORG" --bucket "$DOCKER_INFLUXDB_INIT_BUCKET" \
    --retention "${DOCKER_INFLUXDB_INIT_RETENTION:-0}" --token "$DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"
  kill "$temp"; wait "$temp" || true
  trap - EXIT
fi
exec $as_influxdb influxd --http-bind-address :8086
"""

TELEGRAF_ENTRYPOINT = """#!/bin/sh
# Like the official image: drop to the telegraf user; /etc/telegraf is not chowned.
exec /usr/bin/setpriv --reuid 999 --regid 999 --clear-groups "$@"
"""

GRAFANA_ENTRYPOINT = r"""#!/bin/sh
# Like the image's run.sh: the server, as the grafana user (the image's USER).
exec grafana server --homepath "$GF_PATHS_HOME"
"""

GRAFANA_SOURCE = Path(__file__).parent / "standins" / "grafana"


def grafana_binary() -> Path:
    """The Grafana stand-in (tests/standins/grafana, Go), built once per source under ~/.cache."""
    import hashlib

    files = sorted(GRAFANA_SOURCE.glob("*"))
    digest = hashlib.sha256(b"".join(f.name.encode() + f.read_bytes() for f in files)).hexdigest()[:16]
    binary = Path.home() / ".cache" / "polysource" / "standins" / f"grafana-{digest}"
    if not binary.exists():
        binary.parent.mkdir(parents=True, exist_ok=True)
        partial = binary.with_name(binary.name + ".partial")
        env = {**os.environ, "CGO_ENABLED": "0"}
        subprocess.run(["go", "build", "-o", str(partial), "."], cwd=GRAFANA_SOURCE, env=env, check=True)
        partial.replace(binary)
    return binary


MOSQUITTO_ENTRYPOINT = """#!/bin/sh
# Like eclipse-mosquitto's: chown everything (fails, harmlessly, on read-only mounts).
chown -R 1883:1883 /mosquitto 2>/dev/null || true
exec "$@"
"""


class ImageContext:
    """A build context in memory: files, then a Dockerfile."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buffer, mode="w")  # noqa: SIM115 - closed in fileobj()
        self.added: set[str] = set()

    def add_bytes(self, path: str, data: bytes, mode: int = 0o755) -> None:
        name = path.lstrip("/")
        if name in self.added:
            return
        self.added.add(name)
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = mode
        self.tar.addfile(info, io.BytesIO(data))

    def add_binary(self, source: str | Path, target: str | None = None) -> None:
        """A binary and the shared libraries ldd lists, at their own paths."""
        source = str(source)
        self.add_bytes(f"rootfs/{target or source}", Path(source).read_bytes())
        ldd = subprocess.run(["ldd", source], capture_output=True, text=True).stdout
        for line in ldd.splitlines():
            parts = [p for p in line.split() if p.startswith("/")]
            for lib in parts[:1]:
                self.add_bytes(f"rootfs/{lib}", Path(os.path.realpath(lib)).read_bytes())

    def add_base(self, users: str = "") -> None:
        """busybox's applets, real curl and base64 (as in the Debian-based images), /tmp, users."""
        self.add_bytes("rootfs/bin/busybox", Path(BUSYBOX).read_bytes())
        for applet in APPLETS:
            link = tarfile.TarInfo(f"rootfs/bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            self.tar.addfile(link)
        self.add_binary(shutil.which("curl") or "/usr/bin/curl", "/usr/bin/curl")
        self.add_binary("/usr/bin/base64")
        self.add_binary("/usr/bin/setpriv")  # util-linux's, as in the Debian-based official images
        self.add_bytes("rootfs/etc/nsswitch.conf", NSSWITCH, 0o644)
        self.add_bytes("rootfs/etc/passwd", f"root:x:0:0::/root:/bin/sh\n{users}".encode(), 0o644)
        groups = "".join(f"{u.split(':')[0]}:x:{u.split(':')[3]}:\n" for u in users.splitlines() if u)
        self.add_bytes("rootfs/etc/group", f"root:x:0:\n{groups}".encode(), 0o644)
        for folder, mode in (("tmp", 0o1777), ("root", 0o700)):
            info = tarfile.TarInfo(f"rootfs/{folder}")
            info.type, info.mode = tarfile.DIRTYPE, mode
            self.tar.addfile(info)

    def fileobj(self, dockerfile: str) -> io.BytesIO:
        self.add_bytes("Dockerfile", dockerfile.encode(), 0o644)
        self.tar.close()
        self.buffer.seek(0)
        return self.buffer


def build(client, name: str, context: ImageContext, dockerfile: str) -> str:
    tag = f"{TAG}/{name}:latest"
    client.images.build(fileobj=context.fileobj(dockerfile), custom_context=True, tag=tag, rm=True)
    return tag


def build_all(client, binaries: dict[str, Path]) -> dict[str, str]:
    """service -> image tag, for the inventory's target.images.

    binaries: telegraf, influxd, influx (1.8), influxd2, influx2 (2.7), mosquitto,
    mosquitto_passwd, mosquitto_sub (2.0.21) paths.
    """
    images = {}

    ctx = ImageContext()
    ctx.add_base("telegraf:x:999:999::/etc/telegraf:/bin/sh\n")
    ctx.add_bytes("rootfs/usr/bin/telegraf", binaries["telegraf"].read_bytes())
    ctx.add_bytes("rootfs/entrypoint.sh", TELEGRAF_ENTRYPOINT.encode())
    images["telegraf"] = build(
        client,
        "telegraf",
        ctx,
        'FROM scratch\nCOPY rootfs/ /\nENTRYPOINT ["/entrypoint.sh"]\nCMD ["telegraf"]\n',
    )

    ctx = ImageContext()
    ctx.add_base()
    ctx.add_binary("/bin/bash")
    ctx.add_binary(binaries["influxd"], "/usr/bin/influxd")
    ctx.add_binary(binaries["influx"], "/usr/bin/influx")
    ctx.add_bytes("rootfs/entrypoint.sh", INFLUXDB1_ENTRYPOINT.encode())
    images["influxdb"] = build(
        client,
        "influxdb",
        ctx,
        "FROM scratch\nCOPY rootfs/ /\n"
        "ENV PATH=/usr/bin:/bin INFLUXDB_META_DIR=/var/lib/influxdb/meta "
        "INFLUXDB_DATA_DIR=/var/lib/influxdb/data INFLUXDB_DATA_WAL_DIR=/var/lib/influxdb/wal "
        "INFLUXDB_BIND_ADDRESS=127.0.0.1:8088\n"
        'RUN ["/bin/busybox", "mkdir", "-p", "/var/lib/influxdb"]\n'
        "VOLUME /var/lib/influxdb\n"  # as the official image declares
        'ENTRYPOINT ["/entrypoint.sh"]\n',
    )

    if binaries.get("influxd2") and binaries.get("influx2"):
        ctx = ImageContext()
        ctx.add_base("influxdb:x:1000:1000::/var/lib/influxdb2:/bin/sh\n")
        ctx.add_binary(binaries["influxd2"], "/usr/bin/influxd")
        ctx.add_binary(binaries["influx2"], "/usr/bin/influx")
        ctx.add_bytes("rootfs/entrypoint.sh", INFLUXDB2_ENTRYPOINT.encode())
        images["influxdb2"] = build(
            client,
            "influxdb2",
            ctx,
            "FROM scratch\nCOPY rootfs/ /\n"
            "ENV PATH=/usr/bin:/bin INFLUX_CONFIGS_PATH=/etc/influxdb2/influx-configs\n"
            'RUN ["/bin/busybox", "mkdir", "-p", "/var/lib/influxdb2", "/etc/influxdb2"]\n'
            "VOLUME /var/lib/influxdb2 /etc/influxdb2\n"  # as the official image declares
            'ENTRYPOINT ["/entrypoint.sh"]\n',
        )

    ctx = ImageContext()
    ctx.add_base("mosquitto:x:1883:1883::/mosquitto:/bin/sh\n")
    ctx.add_binary(binaries["mosquitto"], "/usr/sbin/mosquitto")
    for tool in ("mosquitto_passwd", "mosquitto_sub"):
        ctx.add_binary(binaries[tool], f"/usr/bin/{tool}")
    ctx.add_bytes("rootfs/docker-entrypoint.sh", MOSQUITTO_ENTRYPOINT.encode())
    images["mosquitto"] = build(
        client,
        "mosquitto",
        ctx,
        "FROM scratch\nCOPY rootfs/ /\nENV PATH=/usr/sbin:/usr/bin:/bin\n"
        'RUN ["/bin/busybox", "mkdir", "-p", "/mosquitto/config", "/mosquitto/data", "/mosquitto/auth"]\n'
        'RUN ["/bin/busybox", "chown", "-R", "1883:1883", "/mosquitto"]\n'
        'VOLUME ["/mosquitto/data", "/mosquitto/log"]\n'  # as the official image declares
        'ENTRYPOINT ["/docker-entrypoint.sh"]\n'
        'CMD ["/usr/sbin/mosquitto", "-c", "/mosquitto/config/mosquitto.conf"]\n',
    )

    grafana = grafana_binary()
    for variant, health in (("grafana", ""), ("grafana-unhealthy", " STANDIN_UNHEALTHY=1")):
        ctx = ImageContext()
        ctx.add_base("grafana:x:472:0::/usr/share/grafana:/bin/sh\n")
        ctx.add_bytes("rootfs/run.sh", GRAFANA_ENTRYPOINT.encode())
        ctx.add_bytes("rootfs/usr/bin/grafana", grafana.read_bytes())
        images[variant] = build(
            client,
            variant,
            ctx,
            "FROM scratch\nCOPY rootfs/ /\n"
            f"ENV PATH=/usr/bin:/bin GF_PATHS_HOME=/usr/share/grafana{health}\n"
            'RUN ["/bin/busybox", "mkdir", "-p", "/var/lib/grafana", "/usr/share/grafana"]\n'
            'RUN ["/bin/busybox", "chown", "472:0", "/var/lib/grafana"]\n'
            'USER 472:0\nENTRYPOINT ["/run.sh"]\n',
        )
    return images
