"""A real Redis Cluster on free loopback ports, for tests and benchmarks.

Six ``redis-server --cluster-enabled yes`` processes (three primaries, one
replica each), joined with ``redis-cli --cluster create``; nothing is kept on
disk but each node's ``nodes.conf`` in a temporary directory, so a killed node
can be started again and rejoins.  ``cluster-node-timeout`` is short (1 s) so a
killed primary's replica takes over in a couple of seconds.
"""

from __future__ import annotations

import atexit
import os
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import redis

from tests.redis_server import available, in_ci

__all__ = ["ClusterNode", "RedisCluster", "available", "in_ci", "shared"]

NODE_TIMEOUT_MS = 1000


class ClusterNode:
    """One cluster-enabled redis-server on 127.0.0.1."""

    def __init__(self, root: Path, port: int, node_timeout_ms: int) -> None:
        self.port = port
        self.dir = root / str(port)
        self.dir.mkdir()
        self.node_timeout_ms = node_timeout_ms
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        args = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            str(self.node_timeout_ms),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.dir),
            "--protected-mode",
            "no",
            "--repl-diskless-sync-delay",
            "0",
        ]
        log = open(self.dir / "redis.log", "ab")  # noqa: SIM115 - lives with the process
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)

    def client(self, timeout: float = 0.5) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=timeout, socket_connect_timeout=timeout)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def info(self, section: str) -> dict[str, str]:
        """``CLUSTER INFO`` (``section="cluster"``) or an ``INFO`` section, as strings."""
        with self.client() as client:
            if section == "cluster":
                return {str(k): str(v) for k, v in client.cluster("INFO").items()}
            return {k: str(v) for k, v in client.info(section).items()}

    def role(self) -> str:
        return self.info("replication").get("role", "")

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash would."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        path = self.dir / "redis.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


class RedisCluster:
    """Three primaries with a replica each; ``start()``/``stop()`` or a context."""

    def __init__(self, *, primaries: int = 3, node_timeout_ms: int = NODE_TIMEOUT_MS) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="spotify-cache-cluster-"))
        self.nodes = [
            ClusterNode(self.root, port, node_timeout_ms) for port in cluster_ports(2 * primaries)
        ]

    @property
    def url(self) -> str:
        """A startup node (any node will do: the client discovers the others)."""
        return f"redis://{self.nodes[0].address}"

    @property
    def urls(self) -> list[str]:
        return [f"redis://{node.address}" for node in self.nodes]

    def start(self, timeout: float = 30.0) -> RedisCluster:
        """Start, join and wait for the cluster; on any failure stop every node."""
        try:
            for node in self.nodes:
                node.start()
            for node in self.nodes:
                _wait_ping(node, timeout)
            self._create(timeout)
            self.wait_ok(timeout)
            self.wait_replicas_synced(timeout)
        except BaseException:
            self.stop()  # no server outlives a cluster that never came up
            raise
        return self

    def _create(self, timeout: float) -> None:
        args = ["redis-cli", "--cluster", "create", *(n.address for n in self.nodes)]
        args += ["--cluster-replicas", "1", "--cluster-yes"]
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {done.stdout}{done.stderr}")

    def live_nodes(self) -> list[ClusterNode]:
        return [node for node in self.nodes if node.alive()]

    def primaries(self) -> list[ClusterNode]:
        """Live nodes that are primaries now."""
        return [node for node in self.live_nodes() if node.role() == "master"]

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Until every live node reports ``cluster_state:ok`` and knows every slot."""
        _until(timeout, self._all_ok, "cluster_state:ok on every node", self._logs)

    def _all_ok(self) -> bool:
        for node in self.live_nodes():
            info = node.info("cluster")
            if info.get("cluster_state") != "ok" or info.get("cluster_slots_ok") != "16384":
                return False
        return True

    def wait_replicas_synced(self, timeout: float = 30.0) -> None:
        """Until every live replica's link to its primary is up."""

        def synced() -> bool:
            for node in self.live_nodes():
                info = node.info("replication")
                if info.get("role") == "slave" and info.get("master_link_status") != "up":
                    return False
            return True

        _until(timeout, synced, "replicas in sync", self._logs)

    def restart(self, node: ClusterNode, timeout: float = 30.0) -> None:
        """Start a stopped node again (it rejoins from its nodes.conf)."""
        node.start()
        _wait_ping(node, timeout)
        self.wait_ok(timeout)

    def _logs(self) -> str:
        return "\n".join(f"--- {n.port}\n{n.log()}" for n in self.nodes)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> RedisCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def cluster_ports(count: int) -> list[int]:
    """Free loopback ports whose cluster bus ports (port + 10000) are free too."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randint(20000, 55535)
        if port not in ports and _free(port) and _free(port + 10000):
            ports.append(port)
    return ports


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_ping(node: ClusterNode, timeout: float) -> None:
    def pong() -> bool:
        try:
            with node.client(0.2) as client:
                return bool(client.ping())
        except redis.ConnectionError:
            return False

    _until(timeout, pong, f"redis-server on port {node.port}", node.log)


def _until(timeout: float, ready, what: str, log) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except redis.RedisError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}:\n{log()}")


# -- one cluster per test process, started on first use --------------------------------
_shared: RedisCluster | None = None
_shared_lock = threading.Lock()


def shared() -> str | None:
    """The URL of this process's cluster: ``REDIS_CLUSTER_URL`` if set, else a private
    cluster started on first use (stopped at exit); ``None`` without redis-server."""
    global _shared
    given = os.environ.get("REDIS_CLUSTER_URL")
    if given:
        return given
    if not available() or shutil.which("redis-cli") is None:
        return None
    with _shared_lock:
        if _shared is None:
            _shared = RedisCluster().start()
            atexit.register(stop_shared)
        return _shared.url


def stop_shared() -> None:
    """Stop the shared cluster, trackers first (they would report the lost connections)."""
    global _shared
    from spotify_cache.stores.cluster_tracking import stop_cluster_trackers
    from spotify_cache.stores.tracking import stop_trackers

    stop_cluster_trackers()
    stop_trackers()
    with _shared_lock:
        if _shared is not None:
            _shared.stop()
            _shared = None
