"""A Sentinel deployment on free loopback ports: a primary, one replica, three sentinels.

Quorum 2, ``down-after-milliseconds`` 500 and a short ``failover-timeout``, so
a killed primary is replaced in a few seconds.  Every process is a real
``redis-server`` (``--sentinel`` for the sentinels), nothing kept on disk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from tests.redis_server import RedisServer, free_port

SERVICE = "mymaster"
DOWN_AFTER_MS = 500
FAILOVER_TIMEOUT_MS = 1000
#: A replica syncs at once (Redis 7 otherwise waits 5 s for more replicas to join).
SERVER_ARGS = ("--repl-diskless-sync-delay", "0")


class SentinelProcess:
    """One ``redis-server --sentinel`` watching ``SERVICE`` at ``primary_port``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.myid = os.urandom(20).hex()
        self.dir = Path(tempfile.mkdtemp(prefix="spotify-cache-sentinel-"))
        self.conf = self.dir / "sentinel.conf"
        self.process: subprocess.Popen[bytes] | None = None

    def configure(self, primary_port: int, replica_port: int, peers: list[SentinelProcess]) -> None:
        """Told its peers and the replica up front: no wait for their hello messages
        (every 2 s) and the primary's INFO (every 10 s)."""
        lines = [
            f"port {self.port}",
            "bind 127.0.0.1",
            "protected-mode no",
            f"dir {self.dir}",
            f"sentinel myid {self.myid}",
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 2",
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}",
            f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}",
            f"sentinel parallel-syncs {SERVICE} 1",
            f"sentinel known-replica {SERVICE} 127.0.0.1 {replica_port}",
        ]
        lines += [
            f"sentinel known-sentinel {SERVICE} 127.0.0.1 {peer.port} {peer.myid}"
            for peer in peers
            if peer is not self
        ]
        self.conf.write_text("\n".join([*lines, ""]))

    def start(self) -> SentinelProcess:
        log = open(self.dir / "sentinel.log", "wb")  # noqa: SIM115 - lives with the process
        self.process = subprocess.Popen(
            ["redis-server", str(self.conf), "--sentinel"], stdout=log, stderr=subprocess.STDOUT
        )
        return self

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=1)

    def log(self) -> str:
        path = self.dir / "sentinel.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class SentinelDeployment:
    """Primary + replica + three sentinels; ``stop()`` or use as a context manager."""

    def __init__(self) -> None:
        self.primary = RedisServer(*SERVER_ARGS)
        self.replica = RedisServer(*SERVER_ARGS)
        self.sentinels: list[SentinelProcess] = []

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """``OPTIONS["SENTINELS"]``."""
        return [("127.0.0.1", s.port) for s in self.sentinels]

    @property
    def location(self) -> str:
        return f"redis://{SERVICE}/0"

    def start(self) -> SentinelDeployment:
        self.primary.start()
        self.replica.extra = (*SERVER_ARGS, "--replicaof", "127.0.0.1", str(self.primary.port))
        self.replica.start()
        wait_for(lambda: link_up(self.replica), 10, "the replica never linked to the primary")
        self.sentinels = [SentinelProcess() for _ in range(3)]
        for sentinel in self.sentinels:
            sentinel.configure(self.primary.port, self.replica.port, self.sentinels)
            sentinel.start()
        wait_for(self._sentinels_ready, 10, "the sentinels never saw each other and the replica")
        return self

    def _sentinels_ready(self) -> bool:
        try:
            for sentinel in self.sentinels:
                state = sentinel.client().sentinel_master(SERVICE)
                if state["num-other-sentinels"] < 2 or state["num-slaves"] < 1:
                    return False
        except redis.RedisError:
            return False
        return True

    def master_port(self) -> int | None:
        """The primary's port as the sentinels' majority reports it (``None``: no majority)."""
        ports = []
        for sentinel in self.sentinels:
            try:
                _host, port = sentinel.client().sentinel_get_master_addr_by_name(SERVICE)
                ports.append(int(port))
            except (redis.RedisError, TypeError):
                continue
        best = max(set(ports), key=ports.count, default=None)
        return best if best is not None and ports.count(best) >= 2 else None

    def server_on(self, port: int) -> RedisServer:
        return self.primary if self.primary.port == port else self.replica

    def kill_primary(self) -> RedisServer:
        """SIGKILL the current primary; return its server (restart it with ``restart``)."""
        victim = self.server_on(self.master_port() or self.primary.port)
        victim.kill()
        return victim

    def restart(self, server: RedisServer, replica_of: int | None = None) -> None:
        """Start ``server`` again on its port: a replica of ``replica_of``, as a supervisor
        that knows the new primary restarts it, or else an empty primary, which the
        sentinels demote some ten seconds later."""
        follow = () if replica_of is None else ("--replicaof", "127.0.0.1", str(replica_of))
        server.extra = (*SERVER_ARGS, *follow)
        server.start()

    def wait_for_new_master(self, old_port: int, timeout: float) -> int:
        wait_for(lambda: self.master_port() not in (None, old_port), timeout, self._logs())
        return self.master_port()  # type: ignore[return-value]

    def _logs(self) -> str:
        return "no failover; sentinel logs:\n" + "\n".join(s.log() for s in self.sentinels)

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        self.replica.stop()
        self.primary.stop()

    def __enter__(self) -> SentinelDeployment:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def link_up(server: RedisServer) -> bool:
    try:
        return server.client().info("replication").get("master_link_status") == "up"
    except redis.RedisError:
        return False


def role(server: RedisServer) -> str | None:
    try:
        return str(server.client().info("replication")["role"])
    except redis.RedisError:
        return None


def wait_for(condition, timeout: float, message: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(message)
