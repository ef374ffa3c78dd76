"""What is cached, what would rerun, which runs are done: read from DVC and the params."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seedbench.core.params import Params
from seedbench.results.trees import RESULTS_FILENAME, expected_runs, run_path


@dataclass(frozen=True)
class PipelineStatus:
    """``stale`` maps each stage DVC would rerun to what changed; ``runs_done``/``runs_missing`` are run names."""

    stale: dict[str, list[str]]
    runs_done: list[str]
    runs_missing: list[str]


def _describe_changes(changes: list[Any]) -> list[str]:
    """Flatten DVC's status entries (``"changed command"``, ``{"changed deps": {...}}``) into short strings."""
    out: list[str] = []
    for change in changes:
        if isinstance(change, str):
            out.append(change)
        elif isinstance(change, dict):
            for kind, items in change.items():
                if isinstance(items, dict):
                    out.append(f"{kind}: " + ", ".join(f"{k} ({v})" for k, v in sorted(items.items())))
                else:
                    out.append(f"{kind}: {items}")
    return out


def pipeline_status(repo_dir: str | Path, params: Params) -> PipelineStatus:
    """Ask DVC which stages are stale and check which runs of ``params`` have up-to-date results."""
    from seedbench.compat.dvc import open_repo  # heavy import: only for this command

    with open_repo(str(repo_dir)) as repo:
        raw = repo.status()
    stale = {stage: _describe_changes(changes) for stage, changes in sorted(raw.items())}
    done, missing = [], []
    for dataset, method, rep in expected_runs(params):
        name = f"{dataset}-{method}-{rep}"
        fresh = f"train@{name}" not in stale
        exists = (Path(repo_dir) / run_path((dataset, method, rep), RESULTS_FILENAME)).is_file()
        (done if fresh and exists else missing).append(name)
    return PipelineStatus(stale=stale, runs_done=done, runs_missing=missing)


def status_text(status: PipelineStatus, params: Params) -> str:
    """Human-readable summary for ``seedbench status``."""
    n_runs = len(status.runs_done) + len(status.runs_missing)
    lines = [
        f"experiment seed {params.seed}: {len(params.data.datasets)} datasets × {len(params.methods)} methods × "
        f"{len(params.replicates)} replicates = {n_runs} runs",
        f"runs done and up to date: {len(status.runs_done)} of {n_runs}",
    ]
    if status.runs_missing:
        lines.append("runs to (re)train: " + ", ".join(status.runs_missing))
    if status.stale:
        lines.append(f"stages `dvc repro` would run: {len(status.stale)}")
        for stage, changes in status.stale.items():
            lines.append(f"  {stage}: {'; '.join(changes) or 'changed'}")
    else:
        lines.append("Data and pipelines are up to date: `dvc repro` would rerun nothing.")
    return "\n".join(lines) + "\n"
