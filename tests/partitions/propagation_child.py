"""A second process for the propagation test: reads through its own near-cache.

Reads commands on stdin: ``warm KEY`` (read it until it is held in process,
answer ``warm <value>``) and ``watch KEY`` (answer ``watching``, then read it
in a tight loop until it is gone; answer ``gone <time.time()>``).
"""

from __future__ import annotations

import json
import sys
import time

from spotify_cache.backend import SpotifyCache


def main() -> None:
    url, prefix, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    cache = SpotifyCache(url, {"KEY_PREFIX": prefix, "OPTIONS": options})
    print("ready", flush=True)
    for line in sys.stdin:
        command, key = line.split()
        if command == "warm":
            value = cache.get(key)
            for _ in range(100):  # a few reads: the first fills the near-cache
                cache.get(key)
            print(f"warm {value}", flush=True)
        elif command == "watch":
            print("watching", flush=True)
            deadline = time.monotonic() + 5
            while cache.get(key) is not None and time.monotonic() < deadline:
                pass
            print(f"gone {time.time()}", flush=True)


if __name__ == "__main__":
    main()
