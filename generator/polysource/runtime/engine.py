"""The Docker Engine, as deploy, status, backup and the field tools use it.

This is the one place polysource meets the Docker SDK: every call goes through `Engine` or
`Box` (a container), and every foreign error (docker.errors, requests, a broken ssh pipe)
becomes an EngineError saying what was being done. The rest of deploy never sees the SDK, and
its pure parts are tested against fakes of these two classes.
"""

import functools
import io
import os
import tarfile
from collections.abc import Callable, Iterator
from typing import IO, Any, ParamSpec, TypeVar

from polysource.errors import EngineError

LABEL = "polysource"
P = ParamSpec("P")
R = TypeVar("R")


def _explain(error: Exception) -> str:
    text = str(getattr(error, "explanation", None) or error)
    return text.splitlines()[0] if text else type(error).__name__


def translated(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Docker SDK (and transport) errors raised by the call become EngineError(what: why)."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            import docker.errors
            import requests

            try:
                return function(*args, **kwargs)
            except (docker.errors.DockerException, requests.RequestException, OSError) as error:
                subject = getattr(args[0], "name", "") if args else ""
                prefix = f"{subject}: " if subject and isinstance(subject, str) else ""
                raise EngineError(f"{prefix}{what}: {_explain(error)}") from None

        return wrapper

    return decorate


def _docker_sdk(ssh: bool) -> Any:
    """The Docker SDK, with its ssh transport (paramiko) only for an ssh:// host.

    `import docker` imports paramiko for its ssh transport whatever the host: 0.15-0.2 s on a Pi
    class machine, more than a no-op deploy's own work. For unix:// and tcp:// the import runs
    with paramiko hidden (the SDK's transport package treats it as not installed); an ssh:// host
    later in the same process gets the transport then."""
    import sys

    if "docker" not in sys.modules and "paramiko" not in sys.modules and not ssh:
        sys.modules["paramiko"] = None  # type: ignore[assignment]  # import paramiko -> ImportError
        try:
            import docker
        finally:
            del sys.modules["paramiko"]
    import docker
    import docker.api.client
    import docker.transport

    if ssh and not hasattr(docker.api.client, "SSHHTTPAdapter"):
        from docker.transport.sshconn import SSHHTTPAdapter

        docker.transport.SSHHTTPAdapter = SSHHTTPAdapter  # type: ignore[misc]
        docker.api.client.SSHHTTPAdapter = SSHHTTPAdapter  # type: ignore[attr-defined]
    return docker


# sshd allows 10 sessions per connection (MaxSessions) and each HTTP connection to the Pi's
# Docker is one session running `docker system dial-stdio`: at most this many are kept idle.
SSH_SESSIONS = 6


def _one_bounded_pool(adapter: Any) -> None:
    """The SDK's ssh adapter, with one pool keeping at most SSH_SESSIONS idle connections.

    The SDK keys its ssh pools by request URL (9 pools, each keeping up to 10 idle connections):
    idle sessions pile up past the Pi's MaxSessions and sshd refuses the next with "open failed:
    Connect failed" (docker/compose#6463, #7542). With one pool, the sessions open at once are
    the idle ones or the requests under way, whichever is more; deploy runs at most 8 at once."""
    get_connection = adapter.get_connection

    def one_pool(url: str, proxies: Any = None) -> Any:
        return get_connection("http+docker://ssh", proxies)

    adapter.get_connection = one_pool


def connect(host: str, timeout: int = 60) -> "Engine":
    """A client for host (unix://, tcp:// with DOCKER_CERT_PATH, or ssh:// through paramiko)."""
    ssh = host.startswith("ssh://")
    docker = _docker_sdk(ssh)
    from docker.tls import TLSConfig

    tls: Any = False
    cert_path = os.environ.get("DOCKER_CERT_PATH")
    if host.startswith("tcp://") and cert_path:
        tls = TLSConfig(
            client_cert=(os.path.join(cert_path, "cert.pem"), os.path.join(cert_path, "key.pem")),
            ca_cert=os.path.join(cert_path, "ca.pem"),
            verify=os.environ.get("DOCKER_TLS_VERIFY", "1") != "0",
        )
    # ssh:// through paramiko: one SSH connection for the whole deploy, with a channel per HTTP
    # connection. (The SDK's other way, the ssh command, starts a process for every request and
    # sshd drops them under a readiness probe's load.) It reads ~/.ssh: keys, agent, known_hosts
    # (unknown hosts are refused) and the HostName, Port, User, IdentityFile, ProxyCommand of config.
    how = "over ssh (keys and known_hosts from ~/.ssh; the Pi needs the docker CLI)"
    how = how if ssh else "through the Docker API"
    try:
        pool = {"max_pool_size": SSH_SESSIONS} if ssh else {}
        client = docker.DockerClient(base_url=host, tls=tls, timeout=timeout, use_ssh_client=False, **pool)
        if ssh:
            _one_bounded_pool(client.api.get_adapter(client.api.base_url))
        client.ping()
    except Exception as error:  # the SDK raises many unrelated types for one cause
        text = _explain(error)
        if "Permission denied" in text or "permission denied" in text:
            raise EngineError(
                f"permission denied on {host}: add your user to the 'docker' group or use sudo"
            ) from None
        raise EngineError(
            f"cannot reach a Docker daemon at {host} ({how}): {text}; "
            "is Docker running there? (--host or target.docker_host choose another)"
        ) from None
    return Engine(client, host)


def project_filter(project: str, role: str | None = None) -> dict[str, Any]:
    labels = [f"{LABEL}.project={project}"] + ([f"{LABEL}.role={role}"] if role else [])
    return {"label": labels}


class Box:
    """One container, with the operations deploy needs, errors translated."""

    def __init__(self, container: Any):
        self._c = container
        self._read()

    def _read(self) -> None:
        """What the listing (or the last reload) said; reload() refreshes it."""
        self.name = str(self._c.name)
        self.labels: dict[str, str] = dict(self._c.labels)
        self.status = str(self._c.status)  # created, running, exited, ...
        self.attrs: dict[str, Any] = dict(self._c.attrs)  # Docker's inspect: State, Config, Mounts, ...

    @property
    def state(self) -> dict[str, Any]:
        return dict(self.attrs.get("State", {}))

    @property
    def health(self) -> str | None:
        status = self.state.get("Health", {}).get("Status")
        return str(status) if status else None

    @property
    def env(self) -> dict[str, str]:
        pairs = (item.partition("=") for item in self._c.attrs.get("Config", {}).get("Env") or [])
        return {key: value for key, _, value in pairs}

    @translated("cannot inspect the container")
    def reload(self) -> None:
        self._c.reload()
        self._read()

    @translated("cannot start")
    def start(self) -> None:
        self._c.start()

    @translated("cannot stop")
    def stop(self, timeout: int = 10) -> None:
        self._c.stop(timeout=timeout)

    @translated("cannot remove")
    def remove(self, force: bool = False) -> None:
        """With its anonymous volumes (the official images declare VOLUMEs: influxdb, mosquitto):
        left behind, they pile up on the SD card and outlive `down --volumes`. Named volumes stay.
        Already gone (a swarm node's agent removed it meanwhile) is removed."""
        import docker.errors

        try:
            self._c.remove(force=force, v=True)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as error:
            if "already in progress" not in str(error):  # removed by its own agent: waited for later
                raise

    @translated("cannot rename")
    def rename(self, name: str) -> None:
        self._c.rename(name)

    @translated("cannot read the logs")
    def logs(self, tail: int = 100) -> bytes:
        return bytes(self._c.logs(tail=tail))

    @translated("cannot read the logs")
    def logs_between(self, since: int, until: int) -> bytes:
        """What it logged between two moments (Unix seconds), each line after its timestamp."""
        return bytes(self._c.logs(since=since, until=until, timestamps=True))

    def follow_logs(self, tail: int) -> Iterator[bytes]:
        stream = self._logs_stream(tail)
        while True:
            try:
                chunk = next(stream)
            except StopIteration:
                return
            except Exception as error:  # the stream breaks with transport errors of any kind
                raise EngineError(f"{self.name}: the log stream broke: {_explain(error)}") from None
            yield bytes(chunk)

    @translated("cannot read the logs")
    def _logs_stream(self, tail: int) -> Iterator[bytes]:
        return iter(self._c.logs(stream=True, follow=True, tail=tail))

    def read_file(self, path: str) -> bytes | None:
        """A file's content through the archive API (no exec, works on stopped containers)."""
        import docker.errors

        try:
            stream, _ = self._c.get_archive(path)
            data = b"".join(stream)
        except docker.errors.NotFound:
            return None
        except Exception as error:
            raise EngineError(f"{self.name}: cannot read {path}: {_explain(error)}") from None
        try:
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                member = tar.next()
                handle = tar.extractfile(member) if member else None
                return handle.read() if handle else None
        except tarfile.TarError:
            return None

    def stream_archive(self, path: str) -> Iterator[bytes]:
        """A folder as Docker's tar stream, chunk by chunk (backups: never whole in memory)."""
        try:
            stream, _ = self._c.get_archive(path, chunk_size=1 << 20)
            yield from stream
        except Exception as error:  # the stream breaks with transport errors of any kind
            raise EngineError(f"{self.name}: cannot copy {path} out: {_explain(error)}") from None

    @translated("cannot pause")
    def pause(self) -> None:
        self._c.pause()

    @translated("cannot unpause")
    def unpause(self) -> None:
        self._c.unpause()

    @translated("cannot wait for the container")
    def wait(self, timeout: float) -> int:
        return int(self._c.wait(timeout=timeout).get("StatusCode", -1))

    @translated("cannot copy files in")
    def put_archive(self, path: str, data: bytes | IO[bytes]) -> None:
        if not self._c.put_archive(path, data):
            raise EngineError(f"{self.name}: Docker refused the files for {path}")

    def write_file(self, folder: str, name: str, content: bytes, mode: int = 0o644) -> None:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(content), mode
            tar.addfile(info, io.BytesIO(content))
        self.put_archive(folder, buffer.getvalue())

    @translated("cannot run a command inside")
    def run(self, command: list[str], environment: dict[str, str] | None = None) -> tuple[int, str]:
        """(exit code, output) of a command run inside; secrets go in environment, never in command."""
        result = self._c.exec_run(command, environment=environment or {}, demux=False)
        output = result.output.decode(errors="replace") if result.output else ""
        return int(result.exit_code if result.exit_code is not None else -1), output


def pick_current(boxes: list[Box]) -> dict[str, Box]:
    """Per service, from containers newest first (as Docker lists them): the first running, else
    the newest."""
    found: dict[str, Box] = {}
    for box in boxes:
        name = box.labels.get(f"{LABEL}.service")
        if name is None or box.name.endswith("-previous"):
            continue
        if name not in found or (box.status == "running" and found[name].status != "running"):
            found[name] = box
    return found


class Engine:
    """The Docker daemon deploy talks to."""

    def __init__(self, client: Any, url: str):
        self.client = client
        self.url = url
        self.name = url

    @property
    def api_version(self) -> str:
        return str(self.client.api.api_version)

    @translated("cannot list containers")
    def boxes(self, project: str, role: str | None = None) -> list[Box]:
        """The project's containers, newest first. Listed, then inspected one by one (as the SDK's
        own list does): one removed in between (a swarm node's agent clearing a task) is gone,
        not an error."""
        import docker.errors

        found = []
        for summary in self.client.api.containers(all=True, filters=project_filter(project, role)):
            try:
                found.append(Box(self.client.containers.get(summary["Id"])))
            except docker.errors.NotFound:
                continue
        return found

    def services(self, project: str) -> dict[str, Box]:
        """The project's service containers by service name (not those kept aside): the running
        one, else the newest. A swarm leaves the containers of replaced tasks behind, exited."""
        return pick_current(self.boxes(project))

    @translated("cannot create a container")
    def create(self, **kwargs: Any) -> Box:
        return Box(self.client.containers.create(**kwargs))

    @translated("cannot look up a network")
    def has_network(self, name: str) -> bool:
        return bool(self.client.networks.list(names=[name]))

    @translated("cannot create a network")
    def create_network(self, name: str, labels: dict[str, str]) -> None:
        self.client.networks.create(name, driver="bridge", labels=labels)

    @translated("cannot remove a network")
    def remove_networks(self, name: str) -> None:
        """This host's own networks of that name (a swarm's overlay is the manager's to remove; a
        worker refuses)."""
        for network in self.client.networks.list(names=[name], filters={"scope": "local"}):
            if network.name == name:  # names= matches parts of names
                network.remove()

    @staticmethod
    def _exists(get: Callable[[str], Any], name: str) -> bool:
        import docker.errors

        try:
            get(name)
            return True
        except docker.errors.NotFound:  # ImageNotFound is one too
            return False

    @translated("cannot look up a volume")
    def has_volume(self, name: str) -> bool:
        return self._exists(self.client.volumes.get, name)

    @translated("cannot create a volume")
    def create_volume(self, name: str, labels: dict[str, str]) -> None:
        self.client.volumes.create(name, labels=labels)

    @translated("cannot list volumes")
    def volumes(self, project: str, role: str | None = None) -> list[str]:
        return sorted(v.name for v in self.client.volumes.list(filters=project_filter(project, role)))

    @translated("cannot remove a volume")
    def remove_volume(self, name: str) -> bool:
        """False when the volume is still in use (kept), True when removed."""
        import docker.errors

        try:
            self.client.volumes.get(name).remove(force=True)
            return True
        except docker.errors.APIError as error:
            if getattr(error, "status_code", None) == 409:
                return False
            raise

    @translated("cannot look up an image")
    def has_image(self, image: str) -> bool:
        return self._exists(self.client.images.get, image)

    def pull(self, image: str, platform: str) -> Iterator[dict[str, Any]]:
        """The pull's progress events; EngineError for a refused or failed pull."""
        repository, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "latest")
        try:
            for event in self.client.api.pull(
                repository, tag=tag, platform=platform, stream=True, decode=True
            ):
                if "error" in event:
                    raise EngineError(f"cannot pull {image} for {platform}: {event['error']}")
                yield dict(event)
        except EngineError:
            raise
        except Exception as error:
            raise EngineError(f"cannot pull {image} for {platform}: {_explain(error)}") from None


class SwarmApi:
    """The swarm side of the daemon deploy talks to (a manager): services, tasks, nodes, configs,
    secrets, overlay networks. Answers are Docker's own dicts; errors become EngineError."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.client = engine.client
        self.name = engine.url

    @translated("cannot read the swarm state")
    def local_node(self) -> tuple[str, bool]:
        """(node id, whether it is a manager with the swarm active)."""
        swarm = self.client.info().get("Swarm", {})
        return str(swarm.get("NodeID", "")), swarm.get("LocalNodeState") == "active" and bool(
            swarm.get("ControlAvailable")
        )

    @translated("cannot list swarm services")
    def services(self, project: str) -> dict[str, dict[str, Any]]:
        found = self.client.services.list(filters=project_filter(project))
        return {s.attrs["Spec"]["Labels"][f"{LABEL}.service"]: s.attrs for s in found}

    @translated("cannot create a swarm service")
    def create_service(self, **kwargs: Any) -> str:
        return str(self.client.services.create(**kwargs).id)

    @translated("cannot update a swarm service")
    def update_service(self, service_id: str, **kwargs: Any) -> None:
        self.client.services.get(service_id).update(**kwargs)

    @translated("cannot inspect a swarm service")
    def service(self, service_id: str) -> dict[str, Any]:
        return dict(self.client.services.get(service_id).attrs)

    @translated("cannot scale a swarm service")
    def scale(self, service_id: str, replicas: int) -> None:
        self.client.services.get(service_id).scale(replicas)

    @translated("cannot remove a swarm service")
    def remove_service(self, service_id: str) -> None:
        self.client.services.get(service_id).remove()

    @translated("cannot list tasks")
    def tasks(self, service_id: str) -> list[dict[str, Any]]:
        return list(self.client.api.tasks(filters={"service": service_id}))

    @translated("cannot list nodes")
    def nodes(self) -> dict[str, dict[str, Any]]:
        return {n.id: n.attrs for n in self.client.nodes.list()}

    @translated("cannot list swarm objects")
    def objects(self, kind: str, project: str) -> dict[str, str]:
        """name -> id of the project's configs or secrets."""
        collection = self.client.configs if kind == "config" else self.client.secrets
        return {o.name: o.id for o in collection.list(filters=project_filter(project))}

    @translated("cannot create a swarm config or secret")
    def create_object(self, kind: str, name: str, data: bytes, labels: dict[str, str]) -> str:
        collection = self.client.configs if kind == "config" else self.client.secrets
        return str(collection.create(name=name, data=data, labels=labels).id)

    @translated("cannot remove a swarm config or secret")
    def remove_object(self, kind: str, object_id: str) -> bool:
        """False when a service still uses it."""
        import docker.errors

        collection = self.client.configs if kind == "config" else self.client.secrets
        try:
            collection.get(object_id).remove()
            return True
        except docker.errors.APIError as error:
            if getattr(error, "status_code", None) in (400, 409):
                return False
            raise

    @translated("cannot create the overlay network")
    def ensure_overlay(self, name: str, labels: dict[str, str]) -> None:
        if not [n for n in self.client.networks.list(names=[name]) if n.name == name]:  # names= matches parts
            self.client.networks.create(name, driver="overlay", attachable=True, labels=labels)

    @translated("cannot remove the overlay network")
    def remove_overlay(self, name: str) -> bool:
        """True once no network of that name is left; False while tasks shutting down still use it."""
        import docker.errors

        for network in self.client.networks.list(names=[name]):
            if network.name != name:
                continue
            try:
                network.remove()
            except docker.errors.APIError as error:
                if "not found" in str(error):  # on its way out already (the manager said 404 or 500)
                    continue
                if getattr(error, "status_code", None) in (403, 409):  # active endpoints
                    return False
                raise
        return not [n for n in self.client.networks.list(names=[name]) if n.name == name]

    @translated("cannot read an image's entrypoint")
    def image_command(self, image: str) -> tuple[list[str], list[str]]:
        """(ENTRYPOINT, CMD) of a local image, for the wrapper that reads swarm secrets."""
        config = self.client.images.get(image).attrs.get("Config", {})
        return list(config.get("Entrypoint") or []), list(config.get("Cmd") or [])

    @translated("cannot find the task's container")
    def box(self, container_id: str) -> Box:
        return Box(self.client.containers.get(container_id))
