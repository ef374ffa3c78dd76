"""The built-in source: the turbofan fleet simulator writing C-MAPSS files."""

from __future__ import annotations

from pathlib import Path

from seedbench.core.hashing import file_sha256
from seedbench.data.cmapss import write_subset
from seedbench.data.record import RawFile
from seedbench.data.simulate import simulate_subset


def fetch_builtin(datasets: list[str], *, seed: int, scale: float, out_dir: str | Path) -> list[RawFile]:
    """Simulate every subset in ``datasets`` into ``out_dir/<dataset>/`` and hash each file.

    The bytes are a pure function of ``(dataset, seed, scale)``.
    """
    out = Path(out_dir)
    records: list[RawFile] = []
    for name in datasets:
        subset_dir = out / name
        write_subset(simulate_subset(name, seed=seed, scale=scale), subset_dir)
        for path in sorted(subset_dir.iterdir()):
            records.append(
                RawFile(
                    path=path.relative_to(out).as_posix(),
                    size=path.stat().st_size,
                    sha256=file_sha256(path),
                    origin={"kind": "simulator", "subset": name, "seed": seed, "scale": scale},
                )
            )
    return records
