"""Redis transport security against real redis-server processes started here.

* TLS: a CA and a server certificate made with ``openssl``, a redis-server on a
  TLS port only; every operation works over ``rediss://...?ssl_cert_reqs=required
  &ssl_ca_certs=<ca>``, and a client trusting another CA never talks to it.
* ACL: a Redis user limited to the cache's key prefix and to the commands the
  store sends (``ACL_RULES``, the line documented in docs/security.md) runs
  every operation, ``clear()`` and the near-cache's tracking connection included.
* The system check ``spotify_cache.E007`` refuses ``ssl_cert_reqs=none``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.test import override_settings

from spotify_cache.checks import check_caches
from spotify_cache.exceptions import StoreError, StoreUnavailable
from tests import redis_server
from tests.helpers import make_cache

pytestmark = pytest.mark.filterwarnings("ignore::django.core.cache.CacheKeyWarning")

BACKEND = "spotify_cache.backend.SpotifyCache"
PARTITIONS = {"listeners": {"PREFIX": "user:"}, "catalog": {"PREFIX": "track:"}}
#: What the cache's Redis user may do, beside "on", its password and its key pattern:
#: the commands the store sends (found by running ``exercise`` under ``-@all`` and
#: reading ``ACL LOG``; each one dropped in turn makes it fail on a fresh server,
#: except HELLO, which Redis 7.0 does not check: granted for servers that do).
ACL_COMMANDS = (
    "resetchannels -@all "
    "+get +mget +set +mset +unlink +exists +pttl +pexpire +persist +scan "
    "+evalsha +script|load +ping +hello +select +client|setname +client|tracking"
)
#: Redis 7.2 added CLIENT SETINFO, which redis-py sends on connect (and shrugs off if refused).
SETINFO = "+client|setinfo"


def need(program: str) -> None:
    if shutil.which(program) is None:
        if redis_server.in_ci():
            pytest.fail(f"{program} is needed for the transport tests")
        pytest.skip(f"{program} is not installed")


# -- certificates and a TLS-only server ---------------------------------------------------
def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, crt = directory / f"{name}.key", directory / f"{name}.crt"
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key.name, "-out", crt.name, "-days", "2", "-subj", f"/CN={name}",
        cwd=directory,
    )  # fmt: skip
    return key, crt


def make_server_cert(directory: Path, ca_key: Path, ca_crt: Path) -> tuple[Path, Path]:
    key, csr, crt = (directory / f"server.{ext}" for ext in ("key", "csr", "crt"))
    (directory / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key.name, "-out", csr.name, "-subj", "/CN=127.0.0.1",
        cwd=directory,
    )  # fmt: skip
    openssl(
        "x509", "-req", "-in", csr.name, "-CA", ca_crt.name, "-CAkey", ca_key.name,
        "-CAcreateserial", "-out", crt.name, "-days", "2", "-extfile", "san.cnf",
        cwd=directory,
    )  # fmt: skip
    return key, crt


class Certs:
    def __init__(self, directory: Path) -> None:
        ca_key, self.ca = make_ca(directory, "spotify-cache-test-ca")
        _, self.wrong_ca = make_ca(directory, "some-other-ca")
        self.key, self.crt = make_server_cert(directory, ca_key, self.ca)


class TlsRedisServer(redis_server.RedisServer):
    """A redis-server listening on a TLS port only (``--port 0``)."""

    def __init__(self, certs: Certs) -> None:
        self.certs = certs
        port = redis_server.free_port()
        super().__init__(
            "--port", "0", "--tls-port", str(port),
            "--tls-cert-file", str(certs.crt), "--tls-key-file", str(certs.key),
            "--tls-ca-cert-file", str(certs.ca), "--tls-auth-clients", "no",
            port=port,
        )  # fmt: skip

    def url(self, ca: Path, db: int = 0) -> str:  # type: ignore[override]
        return f"rediss://127.0.0.1:{self.port}/{db}?ssl_cert_reqs=required&ssl_ca_certs={ca}"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url(self.certs.ca))

    def _wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                pytest.skip(f"this redis-server has no TLS support: {self.log()[-300:]}")
            try:
                if self.client().ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"TLS redis-server did not start: {self.log()}")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    need("openssl")
    need("redis-server")
    return Certs(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_server(certs: Certs) -> Iterator[TlsRedisServer]:
    server = TlsRedisServer(certs).start()
    yield server
    server.stop()


# -- every operation ----------------------------------------------------------------------
def exercise(cache: Any) -> None:
    """Every path to Redis the cache has: sync, async, batch, Lua, version records,
    read-through with its lock, listing, invalidation and ``clear()``."""
    cache.set("user:1", {"top": [1, 2, 3]}, 60, tags=["artist:7"])
    cache.set("track:1", "forever", None)
    assert cache.get("user:1") == {"top": [1, 2, 3]}
    cache.set_many({"user:2": 2, "user:3": 3}, 60)
    cache.set_many({"plain:1": 1}, None)
    assert cache.get_many(["user:2", "user:3", "plain:1"]) == {
        "user:2": 2,
        "user:3": 3,
        "plain:1": 1,
    }
    assert cache.add("user:4", 4, 60) and not cache.add("user:4", 5, 60)
    assert cache.get_or_set("user:5", lambda: "loaded", 60) == "loaded"
    assert cache.incr("user:2", 5) == 7 and cache.decr("user:2") == 6
    assert cache.touch("user:3", 120) and 100 < cache.ttl("user:3") <= 120
    assert cache.persist("user:3") and cache.ttl("user:3") is None
    assert cache.has_key("user:4") and cache.delete("user:4")
    assert cache.add("user:9", 9, 0)  # expires at once: only whether the key is free
    cache.set("user:20", 20, 60)
    assert cache.touch("user:20", 0) and cache.get("user:20") is None
    cache.set("user:6", 6, 60, tags=["long"])  # creates the record with a day to live
    cache.set("user:7", 7, None, tags=["long"])  # ... which must then live for ever
    cache.set("user:8", 8, 60, tags=["longer"])
    cache.set("user:8", 8, 2 * 86400, tags=["longer"])  # ... or longer than a day
    cache.delete_many(["user:3", "plain:1"])
    listed = sorted(cache.iter_keys("user:*"))
    assert listed == ["user:1", "user:2", "user:5", "user:6", "user:7", "user:8"]
    assert cache.invalidate("user:5") == 1 and cache.get("user:5") is None
    cache.invalidate_tags("artist:7")
    assert cache.get("user:1") is None
    cache.invalidate_partition("catalog")
    assert cache.get("track:1") is None
    assert cache.delete_pattern("user:*") >= 1
    asyncio.run(exercise_async(cache))
    cache.clear()
    assert list(cache.iter_keys("*")) == []


async def exercise_async(cache: Any) -> None:
    await cache.aset("user:10", "async", 60, tags=["t"])
    assert await cache.aget("user:10") == "async"
    await cache.aset_many({"user:11": 11}, 60)
    assert await cache.aget_many(["user:10", "user:11"]) == {"user:10": "async", "user:11": 11}
    assert await cache.aadd("user:12", 1, 60)
    assert await cache.aincr("user:12") == 2
    assert await cache.aget_or_set("user:13", "x", 60) == "x"
    assert await cache.atouch("user:11", 60) and await cache.ahas_key("user:11")
    assert await cache.adelete("user:11")
    await cache.adelete_many(["user:12"])
    await cache.ainvalidate("user:13")
    await cache.ainvalidate_tags("t")
    await cache.ainvalidate_partition("listeners")
    await cache.aclear()


def build(url: str, **options: Any) -> Any:
    options.setdefault("FAIL_OPEN", False)  # errors raise instead of reading as misses
    return make_cache(url, KEY_PREFIX="tr" + os.urandom(3).hex(), PARTITIONS=PARTITIONS, **options)


# -- TLS ----------------------------------------------------------------------------------
def test_every_operation_over_verified_tls(tls_server: TlsRedisServer, certs: Certs) -> None:
    exercise(build(tls_server.url(certs.ca)))


def test_the_near_cache_tracks_over_tls(tls_server: TlsRedisServer, certs: Certs) -> None:
    cache = build(tls_server.url(certs.ca), NEAR_CACHE={"MAX_ENTRIES": 100})
    assert cache.store.tracker.wait_ready(5), "the tracking connection did not come up"
    cache.set("user:1", "near")
    assert cache.get("user:1") == "near" and cache.get("user:1") == "near"
    tls_server.client().unlink(cache.make_key("user:1"))  # another writer: pushed to us
    deadline = time.monotonic() + 2
    while cache.get("user:1") is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cache.get("user:1") is None
    exercise(cache)


def test_a_server_signed_by_another_ca_is_refused(tls_server: TlsRedisServer, certs: Certs) -> None:
    strict = build(tls_server.url(certs.wrong_ca))
    with pytest.raises(StoreUnavailable):
        strict.get("user:1")
    with pytest.raises(StoreUnavailable):
        strict.set("user:1", "never sent")
    fail_open = build(tls_server.url(certs.wrong_ca), FAIL_OPEN=True)
    fail_open.set("user:1", "kept in process only")  # fail-open: a miss, never the server
    assert fail_open.get("missing") is None
    assert tls_server.client().dbsize() == 0


def test_the_server_speaks_only_tls(tls_server: TlsRedisServer) -> None:
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=0.5) as plain:
        plain.sendall(b"PING\r\n")
        try:
            reply = plain.recv(100)
        except (TimeoutError, ConnectionResetError):  # it waits for a handshake, or hangs up
            reply = b""
    assert b"PONG" not in reply


# -- ACL ----------------------------------------------------------------------------------
def acl_rules(admin: redis.Redis, prefix: str, password: str) -> list[str]:
    rules = ["reset", "on", f">{password}", f"~{prefix}:*", *ACL_COMMANDS.split()]
    version = tuple(int(p) for p in admin.info("server")["redis_version"].split(".")[:2])
    return [*rules, SETINFO] if version >= (7, 2) else rules


@pytest.fixture(scope="module")
def acl_server() -> Iterator[redis_server.RedisServer]:
    need("redis-server")
    server = redis_server.RedisServer().start()
    admin = server.client()
    admin.config_set("requirepass", "admin-pw")  # the default user is not the cache's
    yield server
    server.stop()


def admin_of(server: redis_server.RedisServer) -> redis.Redis:
    return redis.Redis(port=server.port, password="admin-pw")


def test_a_prefix_limited_acl_user_runs_every_operation(acl_server) -> None:
    """Database 0 and (SELECT) database 2, health-check PINGs, Lua loaded on first
    use (SCRIPT LOAD), the near-cache's tracking connection: ``ACL LOG`` stays empty."""
    admin = admin_of(acl_server)
    prefix = "acl" + os.urandom(3).hex()
    admin.execute_command("ACL", "SETUSER", "cacheuser", *acl_rules(admin, prefix, "cache-pw"))
    admin.execute_command("ACL", "LOG", "RESET")
    admin.script_flush()
    options = {"PARTITIONS": PARTITIONS, "FAIL_OPEN": False, "HEALTH_CHECK_INTERVAL": 0.001}
    url = f"redis://cacheuser:cache-pw@127.0.0.1:{acl_server.port}"
    exercise(make_cache(f"{url}/0", KEY_PREFIX=prefix, **options))
    near = make_cache(f"{url}/2", KEY_PREFIX=prefix, NEAR_CACHE={}, **options)
    assert near.store.tracker.wait_ready(5), "tracking refused under the ACL"
    exercise(near)
    assert admin.execute_command("ACL", "LOG") == []  # nothing was denied
    admin.execute_command("ACL", "DELUSER", "cacheuser")


def test_the_acl_user_cannot_leave_its_prefix_or_flush(acl_server) -> None:
    admin = admin_of(acl_server)
    prefix = "acl" + os.urandom(3).hex()
    admin.execute_command("ACL", "SETUSER", "cacheuser2", *acl_rules(admin, prefix, "pw2"))
    admin.set("other-app:secret", "theirs")
    user = redis.Redis(port=acl_server.port, username="cacheuser2", password="pw2")
    for call in (
        lambda: user.get("other-app:secret"),
        lambda: user.set("other-app:secret", "mine"),
        lambda: user.flushdb(),
        lambda: user.keys("*"),
        lambda: user.config_get("*"),
    ):
        with pytest.raises(redis.exceptions.NoPermissionError):
            call()
    assert admin.get("other-app:secret") == b"theirs"
    flushing = make_cache(
        f"redis://cacheuser2:pw2@127.0.0.1:{acl_server.port}/0",
        KEY_PREFIX=prefix,
        FAIL_OPEN=False,
        CLEAR="flushdb",
    )
    with pytest.raises(StoreError, match="no permissions"):
        flushing.clear()  # CLEAR="flushdb" needs FLUSHDB, which the user lacks
    admin.execute_command("ACL", "DELUSER", "cacheuser2")


# -- the system check -----------------------------------------------------------------------
def caches_with(location: str, **options: Any) -> dict[str, Any]:
    return {"default": {"BACKEND": BACKEND, "LOCATION": location, "OPTIONS": options}}


@pytest.mark.parametrize(
    ("location", "options"),
    [
        ("rediss://127.0.0.1:6380/0?ssl_cert_reqs=none", {}),
        ("rediss://127.0.0.1:6380/0?ssl_cert_reqs=NONE&ssl_ca_certs=/ca.pem", {}),
        ("rediss://127.0.0.1:6380/0", {"CONNECTION_POOL_KWARGS": {"ssl_cert_reqs": "none"}}),
        ("rediss://127.0.0.1:6380/0", {"CONNECTION_POOL_KWARGS": {"ssl_cert_reqs": None}}),
        ("rediss://h:6380/0", {"CONNECTION_POOL_KWARGS": {"ssl_cert_reqs": ssl.CERT_NONE}}),
        (["rediss://h:1/0", "rediss://replica:1/0?ssl_cert_reqs=none"], {}),
    ],
)
def test_unverified_tls_is_refused_outside_debug(location: Any, options: dict) -> None:
    with override_settings(DEBUG=False, CACHES=caches_with(location, **options)):
        errors = [m for m in check_caches() if m.id == "spotify_cache.E007"]
    assert len(errors) == 1 and errors[0].level >= 40
    assert "ssl_cert_reqs" in errors[0].msg and "certificate" in errors[0].msg
    with override_settings(DEBUG=True, CACHES=caches_with(location, **options)):
        assert not [m for m in check_caches() if m.id == "spotify_cache.E007"]


@pytest.mark.parametrize(
    ("location", "options"),
    [
        ("rediss://127.0.0.1:6380/0?ssl_cert_reqs=required&ssl_ca_certs=/ca.pem", {}),
        ("rediss://127.0.0.1:6380/0", {}),
        ("rediss://127.0.0.1:6380/0", {"CONNECTION_POOL_KWARGS": {"ssl_cert_reqs": "required"}}),
        ("memory://", {}),
    ],
)
def test_verified_or_plain_connections_pass_the_check(location: str, options: dict) -> None:
    with override_settings(DEBUG=False, CACHES=caches_with(location, **options)):
        assert not [m for m in check_caches() if m.id == "spotify_cache.E007"]


# -- without TLS --------------------------------------------------------------------------
def test_without_tls_the_wire_shows_keys_and_commands_but_only_ciphertext(redis_url: str) -> None:
    """What a network observer of a plain connection sees, read with MONITOR (every
    command as the server received it): the key names and commands, never a value."""
    import threading

    secret = "listener-7-private-history"
    cache = make_cache(redis_url, KEY_PREFIX="wire" + os.urandom(3).hex())
    seen: list[str] = []
    ready = threading.Event()

    def watch() -> None:
        with redis.Redis.from_url(redis_url).monitor() as monitor:
            ready.set()
            for event in monitor.listen():
                seen.append(event["command"])
                if "wire-done" in event["command"]:
                    return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert ready.wait(5)
    time.sleep(0.1)  # MONITOR is on once the server answered it
    cache.set("user:7:history", {"plays": secret}, 60)
    assert cache.get("user:7:history") == {"plays": secret}
    cache.set("wire-done", 1)
    watcher.join(5)
    wire = "\n".join(seen)
    assert "user:7:history" in wire and "SET" in wire.upper()  # keys and commands: visible
    assert secret not in wire and "plays" not in wire  # values: AES-GCM ciphertext
    cache.clear()
