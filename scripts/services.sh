#!/usr/bin/env bash
# Install the real components the tests run, idempotently: Mosquitto, InfluxDB 1.x, Docker
# Engine and a static busybox (for the test images) from Debian, and Telegraf built from the
# Go module proxy with only the plugins polysource emits.
# Prints the environment the tests read (POLYSOURCE_TELEGRAF=...) on its last line.
set -euo pipefail

TELEGRAF_VERSION="${TELEGRAF_VERSION:-1.39.3}"
# Every plugin render can emit: keep in step with generator/polysource/render/telegraf.py.
TELEGRAF_TAGS="custom,inputs.mqtt_consumer,parsers.json_v2,outputs.influxdb,outputs.influxdb_v2,outputs.health"
TOOLS="${POLYSOURCE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/polysource}"

log() { printf 'services: %s\n' "$*" >&2; }

need_apt=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
command -v mosquitto_pub >/dev/null || need_apt+=(mosquitto-clients)
command -v influxd >/dev/null || need_apt+=(influxdb)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v iptables >/dev/null || need_apt+=(iptables)
command -v dockerd >/dev/null || need_apt+=(docker.io)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx httpd || need_apt+=(busybox-static)
if [ "${#need_apt[@]}" -gt 0 ]; then
  log "installing ${need_apt[*]} from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >&2
fi

tag_id=$(printf '%s' "$TELEGRAF_TAGS" | sha256sum | cut -c1-8)
bin_dir="$TOOLS/telegraf-$TELEGRAF_VERSION-$tag_id"
telegraf="$bin_dir/telegraf"
if [ -x "$telegraf" ] && "$telegraf" --version 2>/dev/null | grep -q "Telegraf $TELEGRAF_VERSION"; then
  log "telegraf $TELEGRAF_VERSION already built at $telegraf"
else
  command -v go >/dev/null || { log "go is required to build Telegraf"; exit 1; }
  log "building telegraf $TELEGRAF_VERSION ($TELEGRAF_TAGS)"
  mkdir -p "$bin_dir"
  CGO_ENABLED=0 GOBIN="$bin_dir" go install -tags "$TELEGRAF_TAGS" \
    -ldflags "-s -w -X github.com/influxdata/telegraf/internal.Version=$TELEGRAF_VERSION" \
    "github.com/influxdata/telegraf/cmd/telegraf@v$TELEGRAF_VERSION" >&2
fi
"$telegraf" --version >&2
echo "POLYSOURCE_TELEGRAF=$telegraf"
