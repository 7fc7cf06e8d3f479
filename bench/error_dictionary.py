"""Cost of Twilio's error dictionary: validate a download, write the cache, load it, look codes up.

    .venv/bin/python bench/error_dictionary.py [--file FILE] [--repeat 5]

FILE defaults to ../shared/reference/twilio-error-codes.json (Twilio's real dictionary).

The first lookup after start loads the cache on the calling thread (the GUI thread when a table cell
asks), so "load" is the figure that matters for the GUI; "lookup" runs per painted cell.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "twilio-error-codes.json"


def timed(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ["CALLBACK_MONITOR_HOME"] = tempfile.mkdtemp(prefix="bench-dict-")
    from receiver import error_dictionary as d

    raw = args.file.read_bytes()
    entries = d.parse(raw)
    dictionary = d.Dictionary(entries=entries, fetched_at=datetime.now(UTC), source="bench")
    path = d.cache_path()
    print(f"dictionary: {len(entries):,} codes, {len(raw):,} bytes downloaded")
    print(f"validate:   {timed(lambda: d.parse(raw), args.repeat):8.1f} ms (median of {args.repeat})")
    write_ms = timed(lambda: d._write_cache(dictionary, path), args.repeat)
    print(f"cache write:{write_ms:8.1f} ms, {path.stat().st_size:,} bytes")
    print(f"cache load: {timed(lambda: d._read_cache(path), args.repeat):8.1f} ms (first lookup after start)")
    d.entry_for(30003)
    n = 100_000
    start = time.perf_counter()
    for _ in range(n):
        d.entry_for(30003)
    print(f"lookup:     {(time.perf_counter() - start) / n * 1e6:8.2f} us per code once loaded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
