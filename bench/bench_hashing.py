"""Benchmark: seedbench's streamed ``file_sha256`` against coreutils ``sha256sum`` on one large file.

Usage (the numbers in BENCHMARKS.md come from this exact command)::

    .venv/bin/python bench/bench_hashing.py --size-mib 1024 --repeats 7 --chunk-mib 0.0625 1 16

Writes a file of random bytes (``--dir``, default: the system temp folder),
reads it once so both tools start from a warm page cache, then times
``file_sha256`` and ``sha256sum`` alternately ``--repeats`` times each and
prints medians, throughputs (MiB/s) and the ratio (our throughput /
sha256sum's; the target is >= 0.9). ``openssl dgst -sha256`` (the library
behind Python's hashlib) is timed too when installed, as a second reference.
``--chunk-mib`` adds runs of ``file_sha256`` with other read sizes, to
compare. The file is deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from seedbench.core.hashing import HASH_CHUNK_BYTES, file_sha256
from seedbench.provenance.environment import cpu_model

MIB = 1024 * 1024


def write_random_file(path: Path, size_mib: int) -> None:
    """``size_mib`` MiB of random bytes, written 16 MiB at a time."""
    block = 16 * MIB
    with open(path, "wb") as handle:
        remaining = size_mib * MIB
        while remaining:
            n = min(block, remaining)
            handle.write(os.urandom(n))
            remaining -= n


def time_python(path: Path, chunk_bytes: int) -> tuple[float, str]:
    start = time.perf_counter()
    digest = file_sha256(path, chunk_bytes=chunk_bytes)
    return time.perf_counter() - start, digest


def time_sha256sum(path: Path) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - start, "sha256:" + out.split()[0]


def time_openssl(path: Path) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(["openssl", "dgst", "-sha256", "-r", str(path)], capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - start, "sha256:" + out.split()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024, help="file size in MiB (default 1024 = 1 GiB)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per tool (default 7, at least 5)")
    parser.add_argument("--dir", default=None, help="where to write the temporary file")
    parser.add_argument("--chunk-mib", type=float, nargs="*", default=[], help="extra file_sha256 read sizes to compare")
    args = parser.parse_args()
    if args.repeats < 5:
        parser.error("--repeats: at least 5")

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="seedbench-hash-") as tmp:
        path = Path(tmp) / "blob.bin"
        write_random_file(path, args.size_mib)
        time_sha256sum(path)  # warm the page cache for both contenders
        ours, theirs, openssl = [], [], []
        has_openssl = shutil.which("openssl") is not None
        extra: dict[int, list[float]] = {int(c * MIB): [] for c in args.chunk_mib}
        for _ in range(args.repeats):
            t_ours, d_ours = time_python(path, HASH_CHUNK_BYTES)
            t_theirs, d_theirs = time_sha256sum(path)
            if d_ours != d_theirs:
                sys.exit(f"digest mismatch: {d_ours} != {d_theirs}")
            ours.append(t_ours)
            theirs.append(t_theirs)
            if has_openssl:
                t_openssl, d_openssl = time_openssl(path)
                if d_openssl != d_ours:
                    sys.exit(f"digest mismatch: {d_ours} != {d_openssl} (openssl)")
                openssl.append(t_openssl)
            for chunk, times in extra.items():
                times.append(time_python(path, chunk)[0])

    size = args.size_mib
    med_ours, med_theirs = statistics.median(ours), statistics.median(theirs)
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}")
    print(f"file: {size} MiB random bytes, page cache warm; {args.repeats} alternating repeats")
    print(f"file_sha256 (chunk {HASH_CHUNK_BYTES // MIB} MiB): median {med_ours:.3f} s = {size / med_ours:.0f} MiB/s "
          f"(all: {', '.join(f'{t:.3f}' for t in ours)})")
    print(f"sha256sum:                  median {med_theirs:.3f} s = {size / med_theirs:.0f} MiB/s "
          f"(all: {', '.join(f'{t:.3f}' for t in theirs)})")
    print(f"ratio (file_sha256 throughput / sha256sum throughput): {med_theirs / med_ours:.3f}")
    if openssl:
        med_openssl = statistics.median(openssl)
        print(f"openssl dgst -sha256:       median {med_openssl:.3f} s = {size / med_openssl:.0f} MiB/s "
              f"(ratio file_sha256 / openssl: {med_openssl / med_ours:.3f})")
    for chunk, times in extra.items():
        med = statistics.median(times)
        print(f"  file_sha256 chunk {chunk / MIB:g} MiB: median {med:.3f} s = {size / med:.0f} MiB/s, ratio {med_theirs / med:.3f}")


if __name__ == "__main__":
    main()
