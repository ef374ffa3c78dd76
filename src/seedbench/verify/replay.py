"""The replay recipe as code: ``seedbench replay publish/manifest.json``.

Steps, in order (each refusal names what to do):

1. read the experiment manifest and validate it against the shipped schema;
   refuse a dirty manifest (``dirty_flag`` true) or one without a git sha;
2. the checkout must be at the manifest's ``git_sha`` with no uncommitted
   changes to anything but pipeline outputs (else: the exact ``git checkout``);
3. the params in the checkout must hash to the manifest's ``config_hash``;
4. list installed library versions that differ from ``code_versions``;
5. verify the sha256 of every raw file in ``data_hashes`` (a changed file stops
   the replay; a missing one is produced by the re-run and verified after it);
6. re-run the pipeline: ``dvc repro --force aggregate`` (every stage that
   produces results: fetch, prepare, train, evaluate, aggregate; ``publish``
   is not re-run, so ``publish/manifest.json`` is left as published);
7. compare the new ``results.json`` (and predictions' sha256) with the results
   the manifest recorded, with :func:`seedbench.verify.compare.compare_results`, at
   the best level this environment allows (:func:`choose_level`): bit-exact when
   every library version matches and, run by run,
   :func:`seedbench.determinism.expectations.expected_level` promises it (same
   ``train.determinism`` mode and variables, CPU model or portable kernels,
   torch threads, deterministic flags, no CUDA difference) on the same GPUs;
   seed-stable when the major versions of python, torch, numpy, scipy and
   pandas match; otherwise distribution-stable. The level and the reasons are
   printed before the re-run.

:func:`replay` returns a :class:`ReplayReport`; the CLI prints it and exits 0
(pass), 1 (the comparison failed) or 2 (a refusal: :class:`ReplayError`,
:class:`DataIntegrityError`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from seedbench.core.errors import DataIntegrityError, ReplayError
from seedbench.core.hashing import file_sha256
from seedbench.core.names import LEVEL_STRENGTH
from seedbench.provenance.manifest import config_hash, read_manifest

LEVEL_NAMES = {"bit": "bit-exact", "seed": "seed-stable", "distribution": "distribution-stable"}

SEED_LEVEL_LIBRARIES: tuple[str, ...] = ("python", "torch", "numpy", "scipy", "pandas")
"""Libraries whose major version (python: major.minor) must match for the seed-stable level."""

REPRO_TARGET = "aggregate"


@dataclass(frozen=True)
class LevelChoice:
    """The level to compare at and why: ``matched`` lists what agrees, ``differs`` what rules out a higher level."""

    level: str
    matched: tuple[str, ...]
    differs: tuple[str, ...]

    def explain(self) -> str:
        """One line: the level and the reason."""
        if self.level == "bit":
            return f"{LEVEL_NAMES['bit']}: " + "; ".join(self.matched)
        return f"{LEVEL_NAMES[self.level]}, not higher because: " + "; ".join(self.differs)


@dataclass
class ReplayReport:
    """What :func:`replay` did: the steps' lines, the level, the comparison and the verdict."""

    manifest_path: str
    lines: list[str] = field(default_factory=list)
    level: LevelChoice | None = None
    comparison: Any = None
    passed: bool = False

    @property
    def verdict(self) -> str:
        """``replay: bit-exact: PASS (8 of 8 runs pass)`` (the comparison's verdict) or ``replay: FAIL (…)``."""
        if self.comparison is None:
            return "replay: FAIL (nothing compared)"
        return f"replay: {self.comparison.verdict}"


# --------------------------------------------------------------------------- checks (pure)


def check_manifest_replayable(manifest: Mapping[str, Any], where: str = "manifest") -> None:
    """Refuse an experiment manifest that cannot be replayed: not an experiment, dirty, or without git sha."""
    if manifest.get("kind") != "experiment":
        raise ReplayError(f"{where}: a run manifest; replay takes the experiment manifest (publish/manifest.json)")
    if manifest.get("dirty_flag"):
        shown = ", ".join(manifest.get("dirty_paths") or []) or "unknown paths"
        raise ReplayError(
            f"{where}: dirty manifest: the experiment ran on uncommitted changes ({shown}), so no commit holds "
            "its code; commit the changes and re-run the pipeline (`dvc repro`) to publish a replayable manifest"
        )
    if manifest.get("dirty_flag") is None or not manifest.get("git_sha"):
        raise ReplayError(f"{where}: no git commit recorded (the experiment did not run in a git checkout); cannot replay")


def check_checkout(manifest: Mapping[str, Any], state: Mapping[str, Any], where: str = "manifest") -> None:
    """Refuse a checkout at another commit (naming the ``git checkout``) or with uncommitted source changes."""
    wanted, here = manifest["git_sha"], state.get("git_sha")
    if here is None:
        raise ReplayError(f"not a git checkout; clone the repository and run `git checkout {wanted}`")
    if here != wanted:
        raise ReplayError(
            f"the checkout is at {here[:12]}, {where} was published at {wanted[:12]}: run `git checkout {wanted}` "
            "(and `dvc checkout`), then replay again"
        )
    if state.get("dirty"):
        raise ReplayError(
            "the checkout has uncommitted changes (" + ", ".join(state.get("dirty_paths") or []) +
            "): commit or stash them (`git stash -u`) so the replay runs the published code"
        )


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): obj}


def config_differences(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``["train.mlp.lr: 0.001 → 0.003", …]``: dotted keys whose values differ."""
    a, b = _flatten(recorded), _flatten(current)
    return [f"{k}: {a.get(k, '(absent)')!r} → {b.get(k, '(absent)')!r}" for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)]


def version_differences(recorded: Mapping[str, str | None], installed: Mapping[str, str | None]) -> list[tuple[str, str | None, str | None]]:
    """``[(library, recorded, installed)]`` for every library whose version differs (sorted)."""
    names = sorted(recorded.keys() | installed.keys())
    return [(n, recorded.get(n), installed.get(n)) for n in names if recorded.get(n) != installed.get(n)]


def _major(name: str, version: str | None) -> str | None:
    if version is None:
        return None
    parts = version.split("+")[0].split(".")
    return ".".join(parts[:2]) if name == "python" else parts[0]


_CURRENT_RECORD_CODE = """
import json, os, sys
import torch
from seedbench.determinism.modes import DISPATCH_ENV_VARS
from seedbench.determinism.settings import determinism_record
from seedbench.provenance.environment import cpu_flags_summary, cpu_model, gpu_record
torch.set_num_threads(int(sys.argv[1]))
record = determinism_record(sys.argv[2], {k: os.environ.get(k) for k in DISPATCH_ENV_VARS},
                            cpu_model=cpu_model(), cpu_flags=cpu_flags_summary(), cpu_count=os.cpu_count())
record.update(torch_threads=torch.get_num_threads(), deterministic=sys.argv[3] == "1",
              cuda_available=bool(torch.cuda.is_available()),
              gpus=[g["name"] for g in gpu_record().get("gpus") or []] or None)
print(json.dumps(record))
"""


def current_determinism_record(mode: str, torch_threads: int, deterministic: bool) -> dict[str, Any]:
    """The determinism record a training run would write on this machine (plus ``gpus``: GPU names).

    Computed in a child process started the way the train stage is
    (``python -m seedbench.determinism.launch --determinism MODE -- python …``), so the
    kernels torch reports are those the re-run will use.
    """
    import json

    py = sys.executable
    cmd = [py, "-m", "seedbench.determinism.launch", "--determinism", mode, "--", py, "-c", _CURRENT_RECORD_CODE,
           str(torch_threads), mode, "1" if deterministic else "0"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise ReplayError(f"cannot inspect this machine's kernels (python -m seedbench.determinism.launch …): {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


_ORDER = LEVEL_STRENGTH


def choose_level(manifest: Mapping[str, Any], installed: Mapping[str, str | None], current: Mapping[str, Any]) -> LevelChoice:
    """The best reproducibility level this environment allows, and why (pure).

    ``current`` is :func:`current_determinism_record`. The level is the lowest of:

    - for every run, :func:`seedbench.determinism.expectations.expected_level` between the
      run's recorded ``determinism`` and ``current`` (CPU model and kernels,
      ``train.determinism`` mode and its variables, torch threads, numerics
      library versions, deterministic flags, CUDA);
    - ``bit`` only when every library in ``code_versions`` (the runs' and the
      publisher's) equals the installed one (scipy, for instance, draws the
      bootstrap intervals in results.json); a different major version of
      python (major.minor), torch, numpy, scipy or pandas → ``distribution``;
    - ``bit`` only on the same GPU models.
    """
    from seedbench.determinism.expectations import expected_level

    level = "bit"
    matched: list[str] = []
    differs: list[str] = []

    def cap(to: str, why: str) -> None:
        nonlocal level
        if _ORDER[to] < _ORDER[level]:
            level = to
        if why not in differs:
            differs.append(why)

    runs = [r.get("manifest") or {} for r in manifest.get("runs") or []]
    for run in runs:
        expectation = expected_level(run.get("determinism") or {}, current)
        if expectation.level == "bit":
            if expectation.reason not in matched:
                matched.append(expectation.reason)
        else:
            cap(expectation.level, f"{run.get('run_id')}: {expectation.reason}")
    versions = version_differences(manifest.get("code_versions") or {}, installed)
    for run in runs:
        versions += [d for d in version_differences(run.get("code_versions") or {}, installed) if d not in versions]
    if versions:
        cap("seed", "library versions differ: " + ", ".join(f"{n} {a} → {b}" for n, a, b in versions))
    else:
        matched.append("every recorded library version matches")
    recorded = manifest.get("code_versions") or {}
    major_diffs = [f"{n} {_major(n, recorded.get(n))} → {_major(n, installed.get(n))}"
                   for n in SEED_LEVEL_LIBRARIES if _major(n, recorded.get(n)) != _major(n, installed.get(n))]
    if major_diffs:
        cap("distribution", "major versions differ: " + ", ".join(major_diffs))
    recorded_gpus = {repr([g.get("name") for g in r.get("gpu_info") or []] or None) for r in runs}
    if recorded_gpus and recorded_gpus != {repr(current.get("gpus"))}:
        cap("seed", f"GPUs differ: recorded {', '.join(sorted(recorded_gpus))}, here {current.get('gpus')!r}")
    elif recorded_gpus:
        matched.append(f"same GPUs ({', '.join(current['gpus'])})" if current.get("gpus") else "no GPU, as recorded")
    return LevelChoice(level, tuple(matched), tuple(differs))


def verify_raw_files(data_hashes: Mapping[str, str], raw_dir: str | Path) -> tuple[list[str], list[str]]:
    """``(changed, missing)``: raw files whose sha256 differs from ``data_hashes``, and absent ones."""
    root = Path(raw_dir)
    changed, missing = [], []
    for rel, expected in sorted(data_hashes.items()):
        path = root / rel
        if not path.is_file():
            missing.append(rel)
        elif file_sha256(path) != expected:
            changed.append(rel)
    return changed, missing


def baseline_results(manifest: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[tuple[str, str, int], str]]:
    """The published results (``results.json`` records) and ``{run key: predictions sha256}``."""
    results, hashes = [], {}
    for run in manifest.get("runs") or []:
        results.append(dict(run["results"]))
        hashes[(run["dataset"], run["method"], int(run["replicate"]))] = run["predictions_sha256"]
    return results, hashes


# --------------------------------------------------------------------------- running


def run_dvc_repro(repo: Path, stream: TextIO) -> int:
    """``dvc repro --force aggregate`` in ``repo`` (this interpreter's bin/ first on PATH); output to ``stream``."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    cmd = [str(Path(sys.executable).parent / "dvc") if (Path(sys.executable).parent / "dvc").exists() else "dvc",
           "repro", "--force", REPRO_TARGET]
    try:
        proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as exc:
        raise ReplayError(f"cannot start dvc ({exc}); install the project's environment (`make repro` sets up .venv)") from None
    assert proc.stdout is not None
    for line in proc.stdout:
        stream.write(line)
    return proc.wait()


def replay(
    manifest_path: str | Path,
    *,
    repo: str | Path = ".",
    rerun: bool = True,
    level: str | None = None,
    runner: Callable[[Path, TextIO], int] = run_dvc_repro,
    stream: TextIO | None = None,
) -> ReplayReport:
    """Replay the experiment of ``manifest_path`` in the checkout ``repo`` (see the module docstring).

    Parameters
    ----------
    rerun
        ``False`` compares the results already in the workspace (after your own
        ``dvc repro``) without re-running anything.
    level
        Force a level (``"bit"``, ``"seed"``, ``"distribution"``) instead of the best the environment allows.
    runner
        Runs the pipeline (default :func:`run_dvc_repro`); returns its exit status.
    stream
        Where progress lines and DVC's output go (default ``sys.stderr``).
    """
    from seedbench.core.params import load_params, params_as_dict
    from seedbench.provenance.dvclock import pipeline_git_state
    from seedbench.provenance.environment import library_versions
    from seedbench.results.trees import load_result_tree
    from seedbench.verify.compare import compare_results

    out = stream or sys.stderr
    root = Path(repo)
    report = ReplayReport(manifest_path=str(manifest_path))

    def say(text: str) -> None:
        report.lines.append(text)
        out.write(text + "\n")
        out.flush()

    manifest = read_manifest(manifest_path)
    check_manifest_replayable(manifest, str(manifest_path))
    say(f"replay {manifest_path}: {manifest['run_id']}, {len(manifest['runs'])} runs, published {manifest['created_at']} "
        f"at commit {manifest['git_sha'][:12]} (clean)")
    check_checkout(manifest, pipeline_git_state(root), str(manifest_path))
    say(f"  checkout: at {manifest['git_sha'][:12]}, no uncommitted source changes")

    params = load_params(root / "params.yaml")
    current_config = params_as_dict(params)
    if config_hash(current_config) != manifest["config_hash"]:
        diffs = config_differences(manifest.get("config") or {}, current_config)
        raise ReplayError(
            f"{root / 'params.yaml'}: params differ from the manifest's (config_hash {manifest['config_hash'][:19]}…): "
            + "; ".join(diffs[:5]) + (f" (and {len(diffs) - 5} more)" if len(diffs) > 5 else "")
            + ". The manifest was not produced from this commit's params.yaml, so this checkout cannot replay it"
        )
    say(f"  params: config_hash matches ({manifest['config_hash'][:19]}…)")

    installed = library_versions()
    diffs = version_differences(manifest["code_versions"], installed)
    if diffs:
        say("  libraries differ from the manifest: " + ", ".join(f"{n} {a} → {b}" for n, a, b in diffs))
    else:
        say(f"  libraries: the {len(installed)} recorded versions match")

    raw_dir = root / "data" / "raw"
    changed, missing = verify_raw_files(manifest["data_hashes"], raw_dir)
    if changed:
        raise DataIntegrityError(
            f"{len(changed)} raw file(s) differ from their sha256 in the manifest: "
            + ", ".join(f"{raw_dir / c}" for c in changed)
            + "; restore the published bytes (`dvc checkout data/raw`, or `dvc pull`) before replaying"
        )
    present = len(manifest["data_hashes"]) - len(missing)
    say(f"  data: {present} raw file(s) match their sha256" + (f"; {len(missing)} missing (the re-run fetches them)" if missing else ""))

    choice = LevelChoice(level, ("forced with --level",), ("forced with --level",)) if level else choose_level(
        manifest, installed,
        current_determinism_record(params.train.determinism, params.train.torch_threads, params.train.deterministic),
    )
    report.level = choice
    say(f"  level: {choice.explain()}")

    if rerun:
        say(f"  re-running: dvc repro --force {REPRO_TARGET} (fetch, prepare, train, evaluate, aggregate) …")
        started = time.perf_counter()
        status = runner(root, out)
        if status != 0:
            raise ReplayError(f"`dvc repro --force {REPRO_TARGET}` failed with exit status {status} (its output is above)")
        say(f"  re-run finished in {time.perf_counter() - started:.0f} s")
        changed, missing = verify_raw_files(manifest["data_hashes"], raw_dir)
        if changed or missing:
            raise DataIntegrityError(
                "after the re-run, raw files differ from the manifest's sha256: " + ", ".join(changed + missing)
                + " (the data source did not deliver the published bytes)"
            )
        say(f"  data after the re-run: all {len(manifest['data_hashes'])} raw files match")
    elif missing:
        raise DataIntegrityError(f"raw files missing: {', '.join(missing)}; run `dvc repro` or replay without --no-rerun")

    published, published_hashes = baseline_results(manifest)
    tree = load_result_tree(str(root), repo=root)
    bit = choice.level == "bit"
    report.comparison = compare_results(
        published, tree.results, choice.level, params.stats.seed_stable_tolerance,  # type: ignore[arg-type]
        prediction_hashes_a=published_hashes if bit else None,
        prediction_hashes_b=tree.prediction_hashes if bit else None,
    )
    report.passed = bool(report.comparison.passed)
    return report


def report_text(report: ReplayReport) -> str:
    """The comparison table (published = A, replay = B) and the verdict line."""
    from seedbench.verify.compare import comparison_table

    table = comparison_table(report.comparison, name_a="published (manifest)", name_b="replay (workspace)") if report.comparison else ""
    return table + report.verdict + "\n"
