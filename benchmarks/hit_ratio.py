"""Miss ratios of our strategies next to libCacheSim's, on every shared trace.

For each trace at cache sizes of 1% and 10% of its distinct keys, this runs
our ``lru``, ``lfu`` and ``adaptive`` through ``spotify_cache.simulate`` (the
real strategy classes) and libCacheSim's LRU, LFU, ARC, S3FIFO, Sieve,
WTinyLFU and Belady on the same requests.  Capacities count entries: every
object costs 1, as in the papers these traces come from.

libCacheSim reads an oracleGeneral binary copy of each trace written into
``.cache/traces/`` (its Belady needs the next-access field that only this
format carries).  Results go into ``docs/strategies.md`` (between the
``hit-ratio`` markers) and ``docs/img/hit_ratio.png``; raw numbers into
``.cache/hit_ratio.json``.

    python benchmarks/hit_ratio.py [--traces DIR] [--jobs 2] [--quick]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from collections.abc import Iterable
from multiprocessing import Pool
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spotify_cache.simulate import Trace, load_trace, simulate  # noqa: E402

DEFAULT_TRACES = ROOT.parent / "shared" / "traces"
CACHE_DIR = ROOT / ".cache"
DOC = ROOT / "docs" / "strategies.md"
CHART = ROOT / "docs" / "img" / "hit_ratio.png"
FRACTIONS = (0.01, 0.10)
OURS = ("lru", "lfu", "adaptive")
THEIRS = ("LRU", "LFU", "ARC", "S3FIFO", "Sieve", "WTinyLFU", "Belady")
#: --quick keeps traces whose gzip file is below this many bytes.
QUICK_LIMIT = 1_000_000
BEGIN, END = "<!-- hit-ratio:begin -->", "<!-- hit-ratio:end -->"

# oracleGeneral record: uint32 time, uint64 id, uint32 size, int64 next access
# (1-based request number, -1 for never), little endian and packed: 24 bytes.
ORACLE_DTYPE = [("time", "<u4"), ("id", "<u8"), ("size", "<u4"), ("next", "<i8")]

_loaded: dict[str, Trace] = {}


def trace_files(directory: Path, quick: bool) -> list[Path]:
    """The ``*.csv.gz`` traces under ``directory``, largest first (they run longest)."""
    files = sorted(directory.glob("*.csv.gz"), key=lambda p: -p.stat().st_size)
    if quick:
        files = [p for p in files if p.stat().st_size < QUICK_LIMIT]
    return files


def cached_trace(path: str) -> Trace:
    """Load a trace once per worker process; tasks of one trace run back to back."""
    if path not in _loaded:
        _loaded.clear()
        _loaded[path] = load_trace(path)
    return _loaded[path]


def oracle_path(path: str) -> Path:
    """Where the oracleGeneral copy of the trace at ``path`` lives."""
    return CACHE_DIR / "traces" / (Path(path).name.removesuffix(".csv.gz") + ".oracleGeneral.bin")


def convert(path: str) -> tuple[str, int, int]:
    """Write the oracleGeneral copy (unit sizes) unless a fresh one exists.

    Returns ``(path, requests, distinct keys)``.
    """
    import numpy as np

    trace = cached_trace(path)
    target = oracle_path(path)
    if target.exists() and target.stat().st_mtime >= Path(path).stat().st_mtime:
        return path, len(trace), trace.unique
    records = np.zeros(len(trace), dtype=ORACLE_DTYPE)
    records["time"] = np.arange(1, len(trace) + 1)
    records["id"] = np.asarray(trace.keys, dtype=np.uint64) + 1
    records["size"] = 1
    records["next"] = next_access(trace.keys)
    target.parent.mkdir(parents=True, exist_ok=True)
    records.tofile(target.with_suffix(".tmp"))
    os.replace(target.with_suffix(".tmp"), target)
    return path, len(trace), trace.unique


def next_access(keys: list[int]) -> list[int]:
    """For each request, the 1-based number of the next request for its key, or -1."""
    seen: dict[int, int] = {}
    result = [-1] * len(keys)
    for index in range(len(keys) - 1, -1, -1):
        key = keys[index]
        result[index] = seen.get(key, -1)
        seen[key] = index + 1
    return result


def run_task(task: tuple[str, str, int]) -> tuple[str, str, int, float]:
    """Run one (trace, policy, capacity) simulation; returns its miss ratio."""
    path, policy, capacity = task
    if policy in OURS:
        ratio = simulate(policy, cached_trace(path), capacity)["miss_ratio"]
    else:
        ratio = libcachesim_miss_ratio(path, policy, capacity)
    return path, policy, capacity, ratio


def libcachesim_miss_ratio(path: str, policy: str, capacity: int) -> float:
    """libCacheSim's object miss ratio of ``policy`` on the oracleGeneral copy."""
    import libcachesim

    reader = libcachesim.TraceReader(
        str(oracle_path(path)), libcachesim.TraceType.ORACLE_GENERAL_TRACE
    )
    cache = getattr(libcachesim, policy)(cache_size=capacity)
    return float(cache.process_trace(reader)[0])


def capacities(unique: int) -> list[int]:
    """Cache sizes for a trace with ``unique`` distinct keys."""
    return [max(1, round(unique * fraction)) for fraction in FRACTIONS]


def run_all(files: list[Path], jobs: int) -> list[dict[str, Any]]:
    """Convert every trace, then run every policy at every size on ``jobs`` processes."""
    with Pool(jobs) as pool:
        shapes = pool.map(convert, [str(p) for p in files], chunksize=1)
        tasks = [
            (path, policy, capacity)
            for path, _, unique in shapes
            for capacity in capacities(unique)
            for policy in OURS + THEIRS
        ]
        results = pool.map(run_task, tasks, chunksize=1)
    return tabulate(shapes, results)


def tabulate(shapes: Iterable[tuple[str, int, int]], results: list[tuple]) -> list[dict[str, Any]]:
    """One row per (trace, size) with every policy's miss ratio."""
    ratios = {(path, policy, capacity): ratio for path, policy, capacity, ratio in results}
    rows = []
    for path, requests, unique in shapes:
        for fraction, capacity in zip(FRACTIONS, capacities(unique), strict=True):
            row: dict[str, Any] = {
                "trace": Path(path).name.removesuffix(".csv.gz"),
                "requests": requests,
                "fraction": fraction,
                "capacity": capacity,
            }
            row.update({policy: ratios[path, policy, capacity] for policy in OURS + THEIRS})
            rows.append(row)
    return sorted(rows, key=lambda r: (r["trace"], r["fraction"]))


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means per policy and the worst gap of ``adaptive`` to the better of lru and lfu."""
    means = {p: sum(r[p] for r in rows) / len(rows) for p in OURS + THEIRS}
    gaps = [(r["adaptive"] - min(r["lru"], r["lfu"]), r["trace"], r["fraction"]) for r in rows]
    return {"means": means, "worst_gap": max(gaps)}


def markdown(rows: list[dict[str, Any]], seconds: float, jobs: int) -> str:
    """The results table, with the date and the run's wall time."""
    columns = [f"our {p}" for p in OURS] + list(THEIRS)
    lines = [
        f"Measured on {datetime.date.today().isoformat()} by `benchmarks/hit_ratio.py` "
        f"({len(rows) // 2} traces, {jobs} processes, {seconds:.0f} s). "
        "Miss ratio, lower is better; best non-Belady value per row in bold.",
        "",
        "| trace | size | " + " | ".join(columns) + " |",
        "|---|---:|" + "---:|" * len(columns),
    ]
    lines += [_markdown_row(row) for row in rows]
    stats = summary(rows)
    means = " | ".join(f"{stats['means'][p]:.4f}" for p in OURS + THEIRS)
    lines.append(f"| **mean** | | {means} |")
    gap, trace, fraction = stats["worst_gap"]
    lines += [
        "",
        f"Worst gap of adaptive to the better of our lru and lfu: {gap:+.4f} "
        f"({trace} at {fraction:.0%}).",
    ]
    return "\n".join(lines)


def _markdown_row(row: dict[str, Any]) -> str:
    best = min(row[p] for p in OURS + THEIRS[:-1])
    cells = [
        f"**{row[p]:.4f}**" if row[p] == best and p != "Belady" else f"{row[p]:.4f}"
        for p in OURS + THEIRS
    ]
    size = f"{row['fraction']:.0%} ({row['capacity']})"
    return f"| {row['trace']} | {size} | " + " | ".join(cells) + " |"


def chart(rows: list[dict[str, Any]], target: Path) -> None:
    """Two panels (1% and 10%): miss ratio per trace, one marker series per policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 1, figsize=(13, 9), sharex=True)
    for axis, fraction in zip(axes, FRACTIONS, strict=True):
        subset = [r for r in rows if r["fraction"] == fraction]
        names = [r["trace"] for r in subset]
        for policy in OURS + THEIRS:
            style = "-o" if policy in OURS else "--."
            label = f"our {policy}" if policy in OURS else f"libCacheSim {policy}"
            axis.plot(names, [r[policy] for r in subset], style, label=label, linewidth=1)
        axis.set_title(f"cache = {fraction:.0%} of distinct keys")
        axis.set_ylabel("miss ratio")
        axis.grid(alpha=0.3)
    axes[0].legend(ncol=5, fontsize=8)
    axes[1].tick_params(axis="x", rotation=30)
    figure.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=110)


def write_doc(doc: Path, table: str, image: Path) -> None:
    """Replace the text between the hit-ratio markers in ``doc`` (appending them if absent)."""
    relative = os.path.relpath(image, doc.parent)
    block = f"{BEGIN}\n{table}\n\n![miss ratio per trace]({relative})\n{END}"
    text = doc.read_text() if doc.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + block + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the table, the chart and the raw JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traces", type=Path, default=DEFAULT_TRACES)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="only traces under 1 MB gzip")
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--chart", type=Path, default=CHART)
    args = parser.parse_args(argv)
    files = trace_files(args.traces.resolve(), args.quick)
    if not files:
        print(f"no *.csv.gz traces in {args.traces}", file=sys.stderr)
        return 2
    started = time.monotonic()
    rows = run_all(files, args.jobs)
    seconds = time.monotonic() - started
    table = markdown(rows, seconds, args.jobs)
    chart(rows, args.chart)
    write_doc(args.doc, table, args.chart)
    CACHE_DIR.mkdir(exist_ok=True)
    (CACHE_DIR / "hit_ratio.json").write_text(json.dumps(rows, indent=1))
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
