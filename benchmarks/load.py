"""Load: processes x threads of mixed traffic on one Redis and on a Redis Cluster.

    python benchmarks/load.py [--seconds 60] [--processes 2] [--threads 4]
        [--keys 50000] [--zipf 0.99] [--targets redis,cluster]
        [--redis-url URL] [--cluster-url URL] [--fail-open] [--write]

Not run in CI.  Each of ``--processes`` worker processes (multiprocessing,
spawn) runs ``--threads`` threads, each calling one SpotifyCache as fast as
it can for ``--seconds``: 80% ``get``, 15% ``set`` with two tags, 4%
``get_or_set`` (with the same tags), 0.5% ``invalidate_tags`` and 0.5%
``invalidate(key)``, on Zipf-distributed keys (exponent ``--zipf``) over
``--keys`` keys, half in a ``listeners`` partition, half in ``catalog``
(values of about 1 KB and 300 B, pickled, AES-GCM under keys derived from
SECRET_KEY).  Every key is written once before the clock starts, so the run
is a warm cache, not a fill.

Per target it reports throughput, latency per operation (p50/p99/p999 from
per-thread histograms with 40 log-spaced buckets per decade, merged; a
percentile is its bucket's upper edge, at most 6% above the true value),
errors, the RSS of every worker and the ``used_memory`` of every server
(summed over the six nodes of a cluster, replicas included), both sampled
each second.  An error is any exception reaching the caller, a ``get`` that
returns another key's value, or a refused blob (``value_rejected``): there
must be none.  The caches run with ``FAIL_OPEN: False`` so that a Redis
failure reaches the caller and is counted; ``--fail-open`` runs the package
default instead and counts breaker openings as errors.  Starts a private
redis-server and a private six-node cluster unless URLs are given.  Prints
markdown tables and draws docs/img/load.png; --write appends the dated
section to docs/benchmarks.md.  Exits 1 if there were errors.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import publish  # noqa: E402
from benchmarks.load_worker import (  # noqa: E402
    LISTENER_TAGS,
    OPS,
    Workload,
    build,
    key_name,
    merged,
    per_second,
    quantile,
    stop_trackers,
    tags_of,
    worker,
)

CHART = ROOT / "docs" / "img" / "load.png"
MIB = 1 << 20


# -- the servers -----------------------------------------------------------------------
@contextmanager
def location(name: str, given: str | None) -> Iterator[str]:
    """``given``, or a private redis-server (``redis``) or six-node cluster (``cluster``)."""
    if given:
        yield given
        return
    from tests.redis_cluster import RedisCluster
    from tests.redis_server import RedisServer

    with RedisServer() if name == "redis" else RedisCluster() as server:
        yield server.url


def server_clients(url: str, cluster: bool) -> list[Any]:
    """A plain client per server: the one Redis, or every node of the cluster."""
    import redis
    from redis.cluster import RedisCluster

    if not cluster:
        return [redis.Redis.from_url(url)]
    with RedisCluster.from_url(url) as client:
        return [redis.Redis(host=n.host, port=n.port) for n in client.get_nodes()]


class ServerSampler(threading.Thread):
    """``(seconds since start, used_memory summed over servers, 1-min load)`` each second;
    a second in which a server did not answer is counted in ``missed``, not sampled."""

    def __init__(self, clients: list[Any], start: float, seconds: float) -> None:
        super().__init__(daemon=True)
        self.clients, self.start_at, self.seconds = clients, start, seconds
        self.samples: list[tuple[float, int, float]] = []
        self.missed = 0

    def run(self) -> None:
        import redis

        for second in range(math.ceil(self.seconds) + 1):
            time.sleep(max(0.0, self.start_at + second - time.monotonic()))
            try:
                used = sum(int(c.info("memory")["used_memory"]) for c in self.clients)
            except redis.RedisError:
                self.missed += 1
                continue
            self.samples.append((time.monotonic() - self.start_at, used, os.getloadavg()[0]))


# -- one target: prefill, run the workers, gather --------------------------------------
def prefill(target: dict[str, Any]) -> None:
    """Write every key once (grouped by their tags, which ``set_many`` takes per call)."""
    cache, groups = build(target), dict[int, list[str]]()
    for index in range(target["keys"]):
        groups.setdefault(index % LISTENER_TAGS, []).append(key_name(index))
    work = Workload(0, target["zipf"])
    for keys in groups.values():
        cache.set_many({k: work.value(k, 0) for k in keys}, tags=tags_of(keys[0]))
    cache.close()
    stop_trackers()  # before the servers stop: no "tracking lost" warnings


def run_target(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    target = {
        "name": name,
        "url": url,
        "cluster": name == "cluster",
        "fail_open": args.fail_open,
        "keys": args.keys,
        "zipf": args.zipf,
        "threads": args.threads,
        "seconds": args.seconds,
    }
    prefill(target)
    ctx = multiprocessing.get_context("spawn")
    ready, results, go, start_at = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Value("d", 0.0)
    sync = (ready, go, start_at)
    procs = [
        ctx.Process(target=worker, args=(target, i, sync, results)) for i in range(args.processes)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=300)
    start_at.value = time.monotonic() + 0.5
    sampler = ServerSampler(server_clients(url, target["cluster"]), start_at.value, args.seconds)
    sampler.start()
    go.set()
    print(f"{name}: {args.processes} x {args.threads} threads for {args.seconds:g} s", flush=True)
    outs = [results.get(timeout=args.seconds + 300) for _ in procs]
    for proc in procs:
        proc.join(30)
    sampler.join(10)
    crashed = [o["crash"] for o in outs if "crash" in o]
    if crashed:
        raise RuntimeError(f"{name}: a worker crashed:\n{crashed[0]}")
    result = summary(target, sorted(outs, key=lambda o: o["index"]), sampler.samples)
    return {**result, "server_missed": sampler.missed}


def summary(
    target: dict[str, Any], outs: list[dict[str, Any]], server: list[tuple[float, int, float]]
) -> dict[str, Any]:
    seconds = target["seconds"]
    histograms = {op: merged([o["histograms"][op] for o in outs]) for op in OPS}
    every = merged(list(histograms.values()))
    hits, misses = sum(o["hits"] for o in outs), sum(o["misses"] for o in outs)
    return {
        "name": target["name"],
        "ops": sum(every) / seconds,
        "histograms": histograms,
        "hit_ratio": hits / max(1, hits + misses),
        "errors": sum((Counter(o["errors"]) for o in outs), Counter()),
        "examples": [e for o in outs for e in o["examples"]],
        "rss": [o["rss"] for o in outs],
        "server": server,
        "timeline": per_second([o["timeline"] for o in outs]),
    }


# -- the report ------------------------------------------------------------------------
def mib(value: float) -> str:
    return f"{value / MIB:.1f}"


def overview(results: list[dict[str, Any]]) -> str:
    lines = [
        "| target | ops/s | get hit ratio | errors | client RSS per worker, MiB: start | end "
        "| max | server used_memory, MiB: start | end | max | load average (1 min) |",
        "|" + "---|" * 11,
    ]
    for r in results:
        rss = [[m for _, m in samples] for samples in r["rss"]]
        used = [m for _, m, _ in r["server"]] or [math.nan]
        load = [a for _, _, a in r["server"]] or [math.nan]
        lines.append(
            f"| {r['name']} | {r['ops']:,.0f} | {r['hit_ratio']:.1%} "
            f"| {sum(r['errors'].values())} | "
            + " | ".join(", ".join(mib(pick(w)) for w in rss) for pick in (_first, _last, max))
            + f" | {mib(used[0])} | {mib(used[-1])} | {mib(max(used))} "
            f"| {min(load):.1f}-{max(load):.1f} |"
        )
    return "\n".join(lines)


def _first(values: list[int]) -> int:
    return values[0]


def _last(values: list[int]) -> int:
    return values[-1]


def latencies(results: list[dict[str, Any]], seconds: float) -> str:
    lines = ["| target | op | ops/s | p50 ms | p99 ms | p999 ms |", "|---|---|---|---|---|---|"]
    for r in results:
        for op in OPS:
            counts = r["histograms"][op]
            cells = " | ".join(f"{quantile(counts, q) * 1e3:.3f}" for q in (0.5, 0.99, 0.999))
            lines.append(f"| {r['name']} | {op} | {sum(counts) / seconds:,.0f} | {cells} |")
    return "\n".join(lines)


def errors(results: list[dict[str, Any]]) -> str:
    lines = []
    for r in results:
        for what, count in sorted(r["errors"].items()):
            lines.append(f"* {r['name']}: {count} x {what}")
        lines += [f"  * e.g. {e}" for e in dict.fromkeys(r["examples"])]
        if r["server_missed"]:
            lines.append(f"* {r['name']}: a server did not answer in {r['server_missed']} s")
    none = "No errors: no exception reached a caller, no wrong value, no refused blob."
    return "\n".join(lines) or none


def report(results: list[dict[str, Any]], args: argparse.Namespace, chart_name: str) -> str:
    mode = "FAIL_OPEN True (breaker openings counted)" if args.fail_open else "FAIL_OPEN False"
    return (
        f"{args.processes} processes x {args.threads} threads per target, {args.seconds:g} s "
        f"each, {args.keys:,} keys (Zipf {args.zipf:g}, two partitions, warm), 80% get, "
        f"15% set (2 tags), 4% get_or_set, 0.5% invalidate_tags, 0.5% invalidate; "
        f"{mode}; {os.cpu_count()} CPUs shared by the clients and the servers.  Server "
        "memory is summed over the cluster's six nodes (replicas included).\n\n"
        + overview(results)
        + "\n\nLatency per operation (histogram bucket upper edges, within 6%):\n\n"
        + latencies(results, args.seconds)
        + "\n\n"
        + errors(results)
        + f"\n\n![throughput, p99 and memory over time](img/{chart_name})"
    )


def chart(results: list[dict[str, Any]], target: Path) -> None:
    """Throughput and p99 per second, client RSS per worker and server memory, per target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 2, figsize=(13, 8), sharex=True)
    for r in results:
        counts = r["timeline"]
        seconds = [s + 0.5 for s in range(len(counts))]  # the middle of each second
        axes[0][0].plot(seconds, [sum(c) for c in counts], label=r["name"])
        axes[0][1].plot(seconds, [quantile(c, 0.99) * 1e3 for c in counts], label=r["name"])
        for index, samples in enumerate(r["rss"]):
            times, values = zip(*samples, strict=True)
            axes[1][0].plot(times, [v / MIB for v in values], label=f"{r['name']} #{index}")
        times, used, _ = zip(*r["server"], strict=True)
        axes[1][1].plot(times, [u / MIB for u in used], label=r["name"])
    titles = (
        ("ops/s (all processes)", "p99 latency, ms (all ops)"),
        ("client RSS per worker, MiB", "server used_memory, MiB"),
    )
    for row, names in zip(axes, titles, strict=True):
        for axis, title in zip(row, names, strict=True):
            axis.set_title(title)
            axis.grid(alpha=0.3)
            axis.legend(fontsize=8)
    axes[0][1].set_yscale("log")
    axes[0][1].yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    axes[0][1].yaxis.set_minor_formatter(matplotlib.ticker.ScalarFormatter())
    for axis in axes[1]:
        axis.set_xlabel("seconds")
    figure.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=100)


# -- main ------------------------------------------------------------------------------
def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="per target")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="per process")
    parser.add_argument("--keys", type=int, default=50_000)
    parser.add_argument("--zipf", type=float, default=0.99)
    parser.add_argument("--targets", default="redis,cluster", help="redis, cluster or both")
    parser.add_argument("--redis-url", help="default: a private redis-server")
    parser.add_argument("--cluster-url", help="default: a private six-node cluster")
    parser.add_argument("--fail-open", action="store_true", help="run with FAIL_OPEN True")
    parser.add_argument("--write", action="store_true", help="append to docs/benchmarks.md")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    chart_path = CHART if args.write else Path("/tmp") / "load.png"
    results = []
    for name in args.targets.split(","):
        given = args.redis_url if name == "redis" else args.cluster_url
        with location(name, given) as url:
            results.append(run_target(name, url, args))
    chart(results, chart_path)
    print(f"chart: {chart_path}")
    publish("Load", report(results, args, chart_path.name), args.write)
    if any(r["errors"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
