"""One stack model, two consumers: the compose file and deploy's containers must agree."""

import yaml

from helpers import INVENTORIES
from polysource.deploy.spec import desired_containers
from polysource.pipeline import load_stack
from polysource.render.compose import compose_service, render_compose


def test_compose_and_deploy_describe_the_same_containers(tmp_path):
    for inventory in sorted(INVENTORIES.glob("*.yml")):
        stack = load_stack(inventory)
        files = {}
        secrets = {var: "x" for var in stack.secrets}
        compose = yaml.safe_load(render_compose(stack, ".env"))
        for spec in desired_containers(stack, files, secrets):
            service = spec.service
            composed = compose_service(service, stack.inventory.target.platform)
            assert compose["services"][service.name] == composed
            kwargs = spec.create_kwargs("net", "1.41")
            assert kwargs["image"] == composed["image"]
            assert kwargs.get("command", []) == [c.replace("$$", "$") for c in composed.get("command", [])]
            assert set(kwargs["environment"]) == set(composed.get("environment", {}))
            assert kwargs["ports"] == {
                f"{c}/tcp": int(h) for h, c in (p.split(":") for p in composed.get("ports", []))
            }
            assert [(m["Target"], m["ReadOnly"]) for m in kwargs["mounts"]] == [
                (v.split(":")[1], v.endswith(":ro")) for v in composed.get("volumes", [])
            ]
            assert kwargs["restart_policy"]["Name"] == composed["restart"]
            assert kwargs["mem_limit"] == composed["mem_limit"]
            if "healthcheck" in composed:
                assert kwargs["healthcheck"]["test"] == [
                    t.replace("$$", "$") for t in composed["healthcheck"]["test"]
                ]
                assert kwargs["healthcheck"]["retries"] == composed["healthcheck"]["retries"]
