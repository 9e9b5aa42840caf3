#!/usr/bin/env bash
# Install and build, idempotently, the real components the tests use:
#   from Debian: Mosquitto's clients, OpenSSH server, Docker Engine, busybox, curl, openssl, iptables, gcc with
#     mbedTLS (the boards' TLS library), libfaketime (a board's clock that boots at 2000);
#   from the Go module proxy: Telegraf (only the plugins polysource emits), InfluxDB 1.8.10 (the Pi's
#     server and CLI), InfluxDB 2.7.12 (its Flux engine built with the machine's Rust) and its CLI;
#   Docker Compose v2.29.7 (how it reads a .env judges polysource's reading);
#   from Debian's source archive: Mosquitto 2.0.21 (the broker the image runs; bookworm ships 2.0.11,
#     whose shared subscriptions and durable sessions differ), checked against its SHA-256.
# Builds are cached under ~/.cache/polysource. Prints the environment the tests read on its last line.
set -euo pipefail

TELEGRAF_VERSION="${TELEGRAF_VERSION:-1.39.3}"
INFLUXDB1_VERSION="1.8.10"
INFLUXDB2_VERSION="2.7.12"
COMPOSE_VERSION="2.29.7"
MOSQUITTO_VERSION="2.0.21"  # keep in step with eclipse-mosquitto in generator/polysource/stack/images.py
MOSQUITTO_SHA256="551daff96cd0675faf888f8881536177934424ecc45924fecf94cffe207f6e81"  # its Debian .dsc says so
# The influx CLI 2.x is a module of its own; this is the version influxdb 2.7.12's go.mod requires.
INFLUX_CLI2_VERSION="v2.2.1-0.20221028161653-3285a03e9e28"
# Every plugin render can emit: keep in step with templates/telegraf.conf.j2.
TELEGRAF_TAGS="custom,inputs.mqtt_consumer,inputs.internal,inputs.cpu,inputs.mem,inputs.disk,inputs.temp,inputs.multifile,processors.starlark,parsers.json_v2,outputs.influxdb,outputs.influxdb_v2,outputs.health"
TOOLS="${POLYSOURCE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/polysource}"
mkdir -p "$TOOLS"

log() { printf 'services: %s\n' "$*" >&2; }

need_apt=()
[ -f /usr/include/libwebsockets.h ] || need_apt+=(libwebsockets-dev)  # to build Mosquitto
[ -f /usr/include/cjson/cJSON.h ] || need_apt+=(libcjson-dev)
[ -f /usr/include/openssl/ssl.h ] || need_apt+=(libssl-dev)
command -v make >/dev/null || need_apt+=(make)
command -v mosquitto_pub >/dev/null || need_apt+=(mosquitto-clients)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v curl >/dev/null || need_apt+=(curl)
command -v iptables >/dev/null || need_apt+=(iptables)
command -v dockerd >/dev/null || need_apt+=(docker.io)
[ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v ssh >/dev/null || need_apt+=(openssh-client)
command -v gcc >/dev/null || need_apt+=(gcc)
[ -f /usr/include/mbedtls/ssl.h ] || need_apt+=(libmbedtls-dev)
command -v systemd-analyze >/dev/null || need_apt+=(systemd)  # checks the backup units
ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || need_apt+=(faketime)  # a board's clock at 2000
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx setpriv || need_apt+=(busybox-static)
if [ "${#need_apt[@]}" -gt 0 ]; then
  log "installing ${need_apt[*]} from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >&2
fi
command -v go >/dev/null || { log "go is required to build Telegraf and InfluxDB"; exit 1; }

# --- Telegraf -----------------------------------------------------------------------------------
tag_id=$(printf '%s' "$TELEGRAF_TAGS" | sha256sum | cut -c1-8)
telegraf_dir="$TOOLS/telegraf-$TELEGRAF_VERSION-$tag_id"
telegraf="$telegraf_dir/telegraf"
if [ -x "$telegraf" ] && "$telegraf" --version 2>/dev/null | grep -q "Telegraf $TELEGRAF_VERSION"; then
  log "telegraf $TELEGRAF_VERSION already built at $telegraf"
else
  log "building telegraf $TELEGRAF_VERSION ($TELEGRAF_TAGS)"
  mkdir -p "$telegraf_dir"
  CGO_ENABLED=0 GOBIN="$telegraf_dir" go install -tags "$TELEGRAF_TAGS" \
    -ldflags "-s -w -X github.com/influxdata/telegraf/internal.Version=$TELEGRAF_VERSION" \
    "github.com/influxdata/telegraf/cmd/telegraf@v$TELEGRAF_VERSION" >&2
fi

# --- InfluxDB 1.8 (the server the Pi runs; Debian ships 1.6) ------------------------------------
influx1_dir="$TOOLS/influxdb-$INFLUXDB1_VERSION"
if [ -x "$influx1_dir/influxd" ] && [ -x "$influx1_dir/influx" ]; then
  log "influxdb $INFLUXDB1_VERSION already built in $influx1_dir"
else
  log "building influxdb $INFLUXDB1_VERSION (influxd, influx)"
  mkdir -p "$influx1_dir"
  GOBIN="$influx1_dir" go install -ldflags "-s -w -X main.version=$INFLUXDB1_VERSION" \
    "github.com/influxdata/influxdb/cmd/influxd@v$INFLUXDB1_VERSION" \
    "github.com/influxdata/influxdb/cmd/influx@v$INFLUXDB1_VERSION" >&2
fi

# --- InfluxDB 2.7 -------------------------------------------------------------------------------
# Its go.mod has a replace directive, so `go install pkg@version` refuses it: the module is
# downloaded from the proxy and built in a copy of its folder. Its Flux engine (Rust, built by
# influxdata/pkg-config through cargo) pins an old toolchain and denies warnings: the installed
# stable toolchain is used, with lints capped to warnings.
influx2_dir="$TOOLS/influxdb-$INFLUXDB2_VERSION"
if [ -x "$influx2_dir/influxd" ] && [ -x "$influx2_dir/influx" ]; then
  log "influxdb $INFLUXDB2_VERSION already built in $influx2_dir"
elif command -v cargo >/dev/null; then
  log "building influxdb $INFLUXDB2_VERSION (influxd with the Flux engine, influx CLI)"
  mkdir -p "$influx2_dir/tools" "$influx2_dir/src"
  GOBIN="$influx2_dir/tools" go install github.com/influxdata/pkg-config@v0.2.14 >&2
  printf '#!/bin/sh\nexec "$@" --cap-lints warn\n' > "$influx2_dir/tools/cap-lints"
  chmod +x "$influx2_dir/tools/cap-lints"
  module_dir() { go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'; }
  server_src=$(module_dir "github.com/influxdata/influxdb/v2@v$INFLUXDB2_VERSION")
  cli_src=$(module_dir "github.com/influxdata/influx-cli/v2@$INFLUX_CLI2_VERSION")
  rm -rf "$influx2_dir/src/server" "$influx2_dir/src/cli"
  cp -r "$server_src" "$influx2_dir/src/server" && cp -r "$cli_src" "$influx2_dir/src/cli"
  chmod -R u+w "$influx2_dir/src"
  (cd "$influx2_dir/src/server" && PATH="$influx2_dir/tools:$PATH" RUSTUP_TOOLCHAIN=stable \
    RUSTC_WRAPPER="$influx2_dir/tools/cap-lints" CGO_ENABLED=1 \
    go build -tags "sqlite_foreign_keys,sqlite_json" -ldflags "-s -w -X main.version=$INFLUXDB2_VERSION" \
    -o "$influx2_dir/influxd" ./cmd/influxd >&2)
  (cd "$influx2_dir/src/cli" && go build -ldflags "-s -w" -o "$influx2_dir/influx" ./cmd/influx >&2)
  rm -rf "$influx2_dir/src"
else
  log "cargo not found: InfluxDB 2 is not built, its tests will fail in CI"
fi

# --- Mosquitto ----------------------------------------------------------------------------------
# Built from the upstream tarball Debian distributes (deb.debian.org's pool), with websockets and
# TLS as the image has them; an rpath keeps its tools on its own libmosquitto, not Debian's 2.0.11.
mosquitto_dir="$TOOLS/mosquitto-$MOSQUITTO_VERSION"
if [ -x "$mosquitto_dir/sbin/mosquitto" ] && [ -x "$mosquitto_dir/bin/mosquitto_passwd" ]; then
  log "mosquitto $MOSQUITTO_VERSION already built in $mosquitto_dir"
else
  log "building mosquitto $MOSQUITTO_VERSION from Debian's source archive"
  work=$(mktemp -d)
  curl -fsS -o "$work/src.tar.gz" \
    "http://deb.debian.org/debian/pool/main/m/mosquitto/mosquitto_$MOSQUITTO_VERSION.orig.tar.gz"
  echo "$MOSQUITTO_SHA256  $work/src.tar.gz" | sha256sum -c --quiet - >&2
  mkdir "$work/src" && tar -xzf "$work/src.tar.gz" -C "$work/src" --strip-components=1
  options=(WITH_WEBSOCKETS=yes WITH_CJSON=yes WITH_DOCS=no WITH_SRV=no WITH_SYSTEMD=no
    WITH_STATIC_LIBRARIES=no "prefix=$mosquitto_dir" "LDFLAGS=-Wl,-rpath,$mosquitto_dir/lib")
  make -C "$work/src" -j2 "${options[@]}" binary >&2
  mkdir -p "$mosquitto_dir/sbin" "$mosquitto_dir/bin" "$mosquitto_dir/lib"  # not `make install`: it writes /etc
  cp "$work/src/lib/libmosquitto.so.1" "$mosquitto_dir/lib/"
  cp "$work/src/apps/mosquitto_passwd/mosquitto_passwd" "$work/src/client/mosquitto_sub" \
    "$work/src/client/mosquitto_pub" "$mosquitto_dir/bin/"
  cp "$work/src/src/mosquitto" "$mosquitto_dir/sbin/"
  rm -rf "$work"
fi
mosquitto_says=$("$mosquitto_dir/sbin/mosquitto" -h 2>&1 || true)
case "$mosquitto_says" in
  "mosquitto version $MOSQUITTO_VERSION"*) ;;
  *) log "mosquitto in $mosquitto_dir is not $MOSQUITTO_VERSION"; exit 1 ;;
esac

# --- Docker Compose v2 ---------------------------------------------------------------------------
# The judge of how a .env is read (`config` needs no daemon), and what bench/deploy.py compares
# deploy with. Built from the Go module proxy; Debian's docker.io has no compose plugin.
compose_dir="$TOOLS/compose-$COMPOSE_VERSION"
if [ -x "$compose_dir/cmd" ]; then
  log "docker compose $COMPOSE_VERSION already built at $compose_dir/cmd"
else
  log "building docker compose $COMPOSE_VERSION"
  CGO_ENABLED=0 GOBIN="$compose_dir" go install \
    -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=v$COMPOSE_VERSION" \
    "github.com/docker/compose/v2/cmd@v$COMPOSE_VERSION" >&2
fi

"$telegraf" --version >&2
echo "POLYSOURCE_TELEGRAF=$telegraf POLYSOURCE_INFLUXDB1=$influx1_dir POLYSOURCE_INFLUXDB2=$influx2_dir POLYSOURCE_MOSQUITTO=$mosquitto_dir POLYSOURCE_COMPOSE=$compose_dir/cmd"
