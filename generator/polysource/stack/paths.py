"""Where things live: folders of output/, paths inside the images, ports inside the stack.

Renderers, deploy, backup and the tests read these names from here and nowhere else.
"""

INSTANCE_VAR = "POLYSOURCE_INSTANCE"  # telegraf.conf's client ids end in ${POLYSOURCE_INSTANCE}


# Ports inside the stack's network (the images' own).
INFLUX_PORT = 8086
MQTT_PORT = 1883
MQTT_TLS_PORT = 8883  # the managed broker's listener, unless insecure_lan
MQTT_WSS_PORT = 8884  # its websockets listener, when the inventory asks (8080 with insecure_lan)
MQTT_WS_PORT = 8080
GRAFANA_PORT = 3000
TELEGRAF_HEALTH_PORT = 8080

# output/ folders, each shipped to (or bind-mounted into) one place in a container.
TELEGRAF_DIR = "telegraf"
TELEGRAF_MOUNT = "/etc/telegraf"
TELEGRAF_CONF = f"{TELEGRAF_DIR}/telegraf.conf"
CERTS_DIR = "certs"  # inside TELEGRAF_DIR
GRAFANA_PROVISIONING_DIR = "grafana/provisioning"
GRAFANA_PROVISIONING_MOUNT = "/etc/grafana/provisioning"
GRAFANA_DASHBOARDS_DIR = "grafana/dashboards"
GRAFANA_DASHBOARDS_MOUNT = "/etc/grafana/dashboards"
MOSQUITTO_DIR = "mosquitto"
MOSQUITTO_CONFIG_MOUNT = "/mosquitto/config"
MOSQUITTO_CONF = f"{MOSQUITTO_DIR}/mosquitto.conf"
MOSQUITTO_ACL = f"{MOSQUITTO_DIR}/acl"  # no secret in it: rendered into output/, reviewed in git
MOSQUITTO_ACL_INSIDE = f"{MOSQUITTO_CONFIG_MOUNT}/acl"
MOSQUITTO_CA = f"{MOSQUITTO_DIR}/ca.pem"  # the stack's CA (public), which the healthcheck trusts
MOSQUITTO_CA_INSIDE = f"{MOSQUITTO_CONFIG_MOUNT}/ca.pem"
PKI_DIR = "pki"  # beside the inventory: pki/<project>/ keeps the managed broker's CA (polysource.pki)
PKI_CA = "ca.pem"  # in it, the CA's certificate (public)


def pki_folder(project: str) -> str:
    """The managed broker's CA folder, relative to the inventory's."""
    return f"{PKI_DIR}/{project}"


# Data inside the images.
INFLUXDB1_DATA = "/var/lib/influxdb"
INFLUXDB2_DATA = "/var/lib/influxdb2"
INFLUXDB2_CONFIG = "/etc/influxdb2"
GRAFANA_DATA = "/var/lib/grafana"
MOSQUITTO_AUTH = "/mosquitto/auth"
MOSQUITTO_PASSWD = f"{MOSQUITTO_AUTH}/passwd"
MOSQUITTO_CERT = f"{MOSQUITTO_AUTH}/server.pem"  # written at deploy, like the password file
MOSQUITTO_KEY = f"{MOSQUITTO_AUTH}/server.key"
MOSQUITTO_DATA = "/mosquitto/data"
MOSQUITTO_UID = 1883

# What deploy last converged into a data volume (settings and secret digests, never values).
STATE_FILE = ".polysource-state.json"

# Named data volumes (compose prefixes them with the project).
INFLUXDB_VOLUME = "influxdb-data"
INFLUXDB2_CONFIG_VOLUME = "influxdb-config"
GRAFANA_VOLUME = "grafana-data"
MOSQUITTO_AUTH_VOLUME = "mosquitto-auth"
MOSQUITTO_DATA_VOLUME = "mosquitto-data"

DEVICES_DIR = "devices"  # one firmware folder per board; never shipped to the Pi
# Files a user adds to a board's folder and render keeps (git-ignored there).
KEPT = ("devices/*/secrets.h", "devices/*/micropython/secrets.py")

MANIFEST = "manifest.json"
# A user's own dashboards: grafanalib modules beside the inventory (render.custom_dashboards).
CUSTOM_DASHBOARDS_DIR = "dashboards"
CUSTOM_DASHBOARD_SUFFIX = ".dashboard.py"
ENV_EXAMPLE = ".env.example"
COMPOSE_FILE = "docker-compose.yml"
GRAFANA_DATASOURCE_UID = "polysource-influxdb"  # the stack's InfluxDB, as every panel and rule names it
TELEGRAF_DATA_MOUNT = "/polysource/influxdb-data"  # InfluxDB's volume, read-only: its disk's free space
