"""Small local images built FROM scratch out of the binaries on this machine (no registry here).

Each honours the contract of the official image it stands in for, as far as the stack uses it:
the same command, config paths, data folders, init environment and healthcheck tools.
"""

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

TAG = "polysource-test"
BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "wget", "chown", "chmod", "cat", "sed", "sleep", "base64", "grep", "httpd", "kill", "ls")

# curl as the official images' healthchecks call it (curl -fsS URL), on busybox's wget.
CURL_SHIM = '#!/bin/sh\nfor url; do :; done\nexec wget -q -O /dev/null "$url"\n'

# What the influxdb:1.8 image's init does with its environment, on first start only.
INFLUXDB_ENTRYPOINT = r"""#!/bin/sh
set -e
q() {  # q USER PASSWORD STATEMENT
  body=$(printf 'q=%s' "$3" | sed 's/%/%25/g; s/&/%26/g; s/+/%2B/g; s/ /%20/g')
  if [ -n "$1" ]; then
    auth="Authorization: Basic $(printf '%s:%s' "$1" "$2" | base64)"
    wget -q -O /dev/null --header "$auth" --post-data "$body" http://127.0.0.1:8087/query
  else
    wget -q -O /dev/null --post-data "$body" http://127.0.0.1:8087/query
  fi
}
# Like the image: the init runs on a private port, so /ping on 8086 means "ready and set up".
if [ ! -d /var/lib/influxdb/meta ]; then
  INFLUXDB_HTTP_BIND_ADDRESS=127.0.0.1:8087 /usr/bin/influxd & pid=$!
  until wget -q -O /dev/null http://127.0.0.1:8087/ping; do sleep 0.2; done
  A="$INFLUXDB_ADMIN_USER"; P="$INFLUXDB_ADMIN_PASSWORD"
  q "" "" "CREATE USER \"$A\" WITH PASSWORD '$P' WITH ALL PRIVILEGES"
  q "$A" "$P" "CREATE DATABASE \"$INFLUXDB_DB\""
  q "$A" "$P" "CREATE USER \"$INFLUXDB_WRITE_USER\" WITH PASSWORD '$INFLUXDB_WRITE_USER_PASSWORD'"
  q "$A" "$P" "GRANT WRITE ON \"$INFLUXDB_DB\" TO \"$INFLUXDB_WRITE_USER\""
  q "$A" "$P" "CREATE USER \"$INFLUXDB_READ_USER\" WITH PASSWORD '$INFLUXDB_READ_USER_PASSWORD'"
  q "$A" "$P" "GRANT READ ON \"$INFLUXDB_DB\" TO \"$INFLUXDB_READ_USER\""
  for f in /docker-entrypoint-initdb.d/*.iql; do
    [ -f "$f" ] && q "$A" "$P" "$(grep -v '^--' "$f")"
  done
  kill -TERM $pid; wait $pid || true
fi
exec /usr/bin/influxd
"""


class ImageContext:
    """A build context in memory: files, then a Dockerfile."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buffer, mode="w")  # noqa: SIM115 - closed in fileobj()

    def add_bytes(self, path: str, data: bytes, mode: int = 0o755) -> None:
        info = tarfile.TarInfo(path.lstrip("/"))
        info.size = len(data)
        info.mode = mode
        self.tar.addfile(info, io.BytesIO(data))

    def add_binary(self, source: str, target: str | None = None) -> None:
        """A binary and the shared libraries ldd lists, at their own paths."""
        self.add_bytes(f"rootfs/{target or source}", Path(source).read_bytes())
        ldd = subprocess.run(["ldd", source], capture_output=True, text=True).stdout
        for line in ldd.splitlines():
            parts = [p for p in line.split() if p.startswith("/")]
            for lib in parts[:1]:
                real = os.path.realpath(lib)
                self.add_bytes(f"rootfs/{lib}", Path(real).read_bytes())

    def add_busybox(self) -> None:
        self.add_bytes("rootfs/bin/busybox", Path(BUSYBOX).read_bytes())
        for applet in APPLETS:
            link = tarfile.TarInfo(f"rootfs/bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            self.tar.addfile(link)
        self.add_bytes("rootfs/usr/bin/curl", CURL_SHIM.encode())
        tmp = tarfile.TarInfo("rootfs/tmp")
        tmp.type = tarfile.DIRTYPE
        tmp.mode = 0o1777
        self.tar.addfile(tmp)

    def fileobj(self, dockerfile: str) -> io.BytesIO:
        self.add_bytes("Dockerfile", dockerfile.encode(), 0o644)
        self.tar.close()
        self.buffer.seek(0)
        return self.buffer


def build(client, name: str, context: ImageContext, dockerfile: str) -> str:
    tag = f"{TAG}/{name}:latest"
    client.images.build(fileobj=context.fileobj(dockerfile), custom_context=True, tag=tag, rm=True)
    return tag


def build_all(client, telegraf: Path) -> dict[str, str]:
    """service -> image tag, for the inventory's target.images."""
    images = {}

    ctx = ImageContext()
    ctx.add_busybox()
    ctx.add_bytes("rootfs/usr/bin/telegraf", telegraf.read_bytes())
    images["telegraf"] = build(
        client, "telegraf", ctx, 'FROM scratch\nCOPY rootfs/ /\nENTRYPOINT ["/usr/bin/telegraf"]\n'
    )

    ctx = ImageContext()
    ctx.add_busybox()
    ctx.add_binary(shutil.which("influxd") or "/usr/bin/influxd")
    ctx.add_bytes("rootfs/entrypoint.sh", INFLUXDB_ENTRYPOINT.encode())
    images["influxdb"] = build(
        client,
        "influxdb",
        ctx,
        "FROM scratch\nCOPY rootfs/ /\n"
        "ENV INFLUXDB_META_DIR=/var/lib/influxdb/meta INFLUXDB_DATA_DIR=/var/lib/influxdb/data "
        "INFLUXDB_DATA_WAL_DIR=/var/lib/influxdb/wal INFLUXDB_BIND_ADDRESS=127.0.0.1:8088\n"
        'ENTRYPOINT ["/entrypoint.sh"]\n',
    )

    ctx = ImageContext()
    ctx.add_busybox()
    for binary in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto_passwd", "/usr/bin/mosquitto_sub"):
        ctx.add_binary(binary)
    ctx.add_bytes(
        "rootfs/etc/passwd", b"root:x:0:0::/root:/bin/sh\nmosquitto:x:1883:1883::/mosquitto:/bin/sh\n", 0o644
    )
    ctx.add_bytes("rootfs/etc/group", b"root:x:0:\nmosquitto:x:1883:\n", 0o644)
    images["mosquitto"] = build(
        client,
        "mosquitto",
        ctx,
        "FROM scratch\nCOPY rootfs/ /\n"
        'RUN ["/bin/busybox", "mkdir", "-p", "/mosquitto/config", "/mosquitto/data", "/mosquitto/auth"]\n'
        'RUN ["/bin/busybox", "chown", "-R", "1883:1883", "/mosquitto"]\n'
        'CMD ["/usr/sbin/mosquitto", "-c", "/mosquitto/config/mosquitto.conf"]\n',
    )

    # Grafana cannot be installed here: a stand-in that answers /api/health as Grafana does.
    for variant, health in (("grafana", b'{"database": "ok"}\n'), ("grafana-unhealthy", None)):
        ctx = ImageContext()
        ctx.add_busybox()
        if health:
            ctx.add_bytes("rootfs/www/api/health", health, 0o644)
        else:
            ctx.add_bytes("rootfs/www/index.html", b"down\n", 0o644)
        images[variant] = build(
            client,
            variant,
            ctx,
            'FROM scratch\nCOPY rootfs/ /\nCMD ["/bin/busybox", "httpd", "-f", "-p", "3000", "-h", "/www"]\n',
        )
    return images
