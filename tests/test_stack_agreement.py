"""One stack model, two consumers: the rendered docker-compose.yml and deploy's containers must
describe the same containers, field by field; and the stack gives each service exactly the
secrets and memory the README promises."""

import re

import pytest
import yaml

from helpers import INVENTORIES, all_secrets
from polysource.deploy.apply import waves
from polysource.deploy.plan import make_plan
from polysource.deploy.spec import desired_containers, nanoseconds
from polysource.pipeline import fresh_files, load_stack
from polysource.secrets import Secret, SecretValues

EXAMPLES = sorted(INVENTORIES.glob("*.yml"))
REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*):\?[^}]*\}$")


def compose_value(value: str, values: dict[str, str]) -> str:
    """What docker compose passes for an environment value: a ${VAR:?...} is the secret."""
    match = REFERENCE.match(value)
    return values[match.group(1)] if match else value.replace("$$", "$")


def duration_ns(text: str) -> int:
    return nanoseconds(text)


@pytest.mark.parametrize("inventory", EXAMPLES, ids=lambda p: p.name)
def test_rendered_compose_file_and_deploy_describe_the_same_containers(tmp_path, inventory):
    stack = load_stack(inventory)
    files = fresh_files(inventory, tmp_path / "output")
    compose = yaml.safe_load(files["docker-compose.yml"])
    values = {s.var: f"value-of-{s.var}" for s in all_secrets(stack)}
    specs = desired_containers(stack, files, SecretValues({Secret(k): v for k, v in values.items()}))
    assert list(compose["services"]) == [s.service.name for s in specs]
    for spec in specs:
        composed = compose["services"][spec.service.name]
        kwargs = spec.create_kwargs("net", "1.41")
        assert kwargs["image"] == composed["image"]
        assert kwargs.get("command", []) == [c.replace("$$", "$") for c in composed.get("command", [])]
        environment = {k: compose_value(v, values) for k, v in composed.get("environment", {}).items()}
        assert kwargs["environment"] == environment
        assert kwargs["ports"] == {
            f"{c}/tcp": int(h) for h, c in (p.split(":") for p in composed.get("ports", []))
        }
        mounts = []
        for volume in composed.get("volumes", []):
            source, target, *mode = volume.split(":")
            if source.startswith("./"):  # a config folder of output/: deploy ships it as a volume
                name = next(v.name for v in spec.config_volumes if v.folder == source[2:])
            else:
                name = f"{stack.name}_{source}"
                assert source in compose["volumes"]
            mounts.append((target, name, mode == ["ro"]))
        assert [(m["Target"], m["Source"], m["ReadOnly"]) for m in kwargs["mounts"]] == mounts
        assert kwargs["restart_policy"]["Name"] == composed["restart"]
        assert kwargs["mem_limit"] == composed["mem_limit"]
        if "healthcheck" in composed:
            check = composed["healthcheck"]
            assert kwargs["healthcheck"] == {
                "test": [t.replace("$$", "$") for t in check["test"]],
                "interval": duration_ns(check["interval"]),
                "timeout": duration_ns(check["timeout"]),
                "retries": check["retries"],
                "start_period": duration_ns(check["start_period"]),
            }
        else:
            assert "healthcheck" not in kwargs
        depends = {name: c["condition"] for name, c in composed.get("depends_on", {}).items()}
        assert depends == spec.service.depends_on


@pytest.mark.parametrize("inventory", EXAMPLES, ids=lambda p: p.name)
def test_deploy_starts_each_service_after_what_compose_says_it_depends_on(tmp_path, inventory):
    stack = load_stack(inventory)
    files = fresh_files(inventory, tmp_path / "output")
    compose = yaml.safe_load(files["docker-compose.yml"])
    specs = desired_containers(stack, files, SecretValues({s: "x" for s in all_secrets(stack)}))
    wave_of = {a.service: i for i, wave in enumerate(waves(make_plan(specs, {}, {}))) for a in wave}
    for name, service in compose["services"].items():
        for dependency in service.get("depends_on", {}):
            assert wave_of[dependency] < wave_of[name], (dependency, name)


def test_each_service_gets_exactly_the_secrets_it_uses():
    """The README's promise: secrets reach only the containers that use them."""
    seed = {s.name: {x.var for x in s.secrets} for s in load_stack(INVENTORIES / "polysource.yml").services}
    assert seed == {
        "influxdb": {"INFLUXDB_ADMIN_PASSWORD", "INFLUXDB_WRITE_PASSWORD", "INFLUXDB_READ_PASSWORD"},
        "telegraf": {"HIVEMQ_PASSWORD", "INFLUXDB_WRITE_PASSWORD"},
        "grafana": {"GRAFANA_ADMIN_PASSWORD", "INFLUXDB_READ_PASSWORD"},
    }
    lab = {s.name: {x.var for x in s.secrets} for s in load_stack(INVENTORIES / "lab-local.yml").services}
    assert lab == {
        "influxdb": {"INFLUXDB_ADMIN_PASSWORD", "INFLUXDB_TOKEN"},
        # and the broker's certificate and key, which polysource makes (not in .env)
        "mosquitto-passwd": {
            "MOSQUITTO_TELEGRAF_PASSWORD",
            "MOSQUITTO_ESP32_PASSWORD",
            "POLYSOURCE_MQTT_TLS_CERT",
            "POLYSOURCE_MQTT_TLS_KEY",
        },
        "mosquitto": set(),
        "telegraf": {"MOSQUITTO_TELEGRAF_PASSWORD", "INFLUXDB_TOKEN"},
        "grafana": {"GRAFANA_ADMIN_PASSWORD", "INFLUXDB_TOKEN", "ALERT_WEBHOOK_URL"},
    }


def test_memory_limits_fit_a_1_gb_pi():
    """The README's table: InfluxDB 300m, Grafana 256m, Telegraf 128m, Mosquitto 64m."""
    limits = {s.name: s.mem_limit for s in load_stack(INVENTORIES / "lab-local.yml").services}
    assert limits == {
        "influxdb": "300m",
        "mosquitto-passwd": "32m",
        "mosquitto": "64m",
        "telegraf": "128m",
        "grafana": "256m",
    }
    running = [int(v[:-1]) for k, v in limits.items() if k != "mosquitto-passwd"]
    assert sum(running) <= 750
