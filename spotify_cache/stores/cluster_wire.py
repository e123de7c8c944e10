"""The cluster store's hottest commands, sent straight to the primary of the key's slot.

``RedisCluster.execute_command`` resolves a command policy, parses the
command for its keys, looks the slot up under a lock and records metrics on
every call: on loopback that costs almost as much as the round trip itself.
``SlotWire`` hashes the key (CRC16, in C), reads the primary of its slot from
the client's own slot table and sends the command on that node's pooled
connection (``redis_wire``'s exchange: a connection that failed is dropped).

Anything but a plain reply goes back to the client, which knows what to do:
a MOVED/ASK redirect (a slot migrated), TRYAGAIN, CLUSTERDOWN, or a
connection error (a primary died: the client refreshes the topology and
retries ``RETRIES`` times).  Only GET, SET and UNLINK of one key go this
way; they are idempotent, so sending one again after a failure is safe.

``mget`` does the same for a batch: one MGET per slot, pipelined on one
connection per primary, sent to every primary before any reply is read (one
round trip overall, not one per node in turn).  Any error reply, or any
failure, drops the connections used (they may be out of step) and leaves the
batch to the client's ``mget_nonatomic``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import AskError, ClusterDownError, ResponseError, TryAgainError

from .redis_wire import RETRYABLE, _exchange

try:  # redis-py's own packer checks each argument in Python: ten times slower for a batch
    from hiredis import pack_command
except ImportError:  # pragma: no cover - hiredis comes with the "redis" extra
    pack_command = None  # type: ignore[assignment]

#: Replies the cluster client handles (redirects, resharding, failover in progress).
_CLUSTER_REPLIES = (AskError, TryAgainError, ClusterDownError)  # MovedError is an AskError


class SlotWire:
    """One-key commands on the connection pool of the key's primary."""

    def __init__(self, cluster: RedisCluster) -> None:
        self.cluster = cluster
        self.nodes = cluster.nodes_manager

    def execute(self, key: str, *args: Any) -> Any:
        """Send ``args`` (a command on ``key``); its raw reply."""
        pool = self._pool(key)
        if pool is not None:
            conn = None
            try:
                conn = pool.get_connection()
                return _exchange(conn, args)
            except (*_CLUSTER_REPLIES, *RETRYABLE):
                pass  # the cluster client redirects, or refreshes the topology and retries
            finally:
                if conn is not None:
                    pool.release(conn)
        return self.cluster.execute_command(*args)

    def _pool(self, key: str) -> Any:
        """The pool of the primary serving ``key``'s slot, if the client knows one."""
        nodes = self.nodes.slots_cache.get(key_slot(key.encode()))
        if not nodes:
            return None
        client = nodes[0].redis_connection
        return None if client is None else client.connection_pool

    def mget(self, keys: Sequence[str]) -> list[Any]:
        """The values of ``keys`` (``None`` where absent), aligned with ``keys``."""
        groups = self._groups(keys)
        if groups is not None:
            replies = self._mget_groups(keys, groups)
            if replies is not None:
                return replies
        return self.cluster.mget_nonatomic(list(keys))

    def _groups(self, keys: Sequence[str]) -> dict[Any, dict[int, list[int]]] | None:
        """Positions of ``keys`` by pool of their primary, then by slot."""
        table = self.nodes.slots_cache
        groups: dict[Any, dict[int, list[int]]] = {}
        for index, key in enumerate(keys):
            slot = key_slot(key.encode())
            nodes = table.get(slot)
            client = nodes[0].redis_connection if nodes else None
            if client is None:
                return None
            groups.setdefault(client.connection_pool, {}).setdefault(slot, []).append(index)
        return groups

    def _mget_groups(
        self, keys: Sequence[str], groups: dict[Any, dict[int, list[int]]]
    ) -> list[Any] | None:
        out: list[Any] = [None] * len(keys)
        taken: list[tuple[Any, Any]] = []
        done = False
        try:
            for pool, slots in groups.items():
                conn = pool.get_connection()
                taken.append((pool, conn))
                commands = [("MGET", *(keys[i] for i in positions)) for positions in slots.values()]
                conn.send_packed_command(_pack(conn, commands))
            for (_, conn), slots in zip(taken, groups.values(), strict=True):
                for positions in slots.values():
                    for index, blob in zip(positions, conn.read_response(), strict=True):
                        out[index] = blob
            done = True
        except (ResponseError, *RETRYABLE):
            return None  # the client redirects, or refreshes the topology and retries
        finally:
            for pool, conn in taken:
                if not done:  # replies may still be on their way: never reuse it
                    conn.disconnect()
                pool.release(conn)
        return out


def _pack(conn: Any, commands: list[tuple[str, ...]]) -> list[bytes]:
    """The commands in RESP, as ``send_packed_command`` takes them (str keys only)."""
    if pack_command is None:
        return conn.pack_commands(commands)
    return [b"".join([pack_command(command) for command in commands])]  # type: ignore[arg-type]
