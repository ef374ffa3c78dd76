"""The replay recipe as code: ``seedbench replay seed33`` (or a revision, or ``publish/manifest.json``).

Steps, in order (each refusal names what to do):

1. resolve the target (:mod:`seedbench.verify.replaytarget`): a manifest file,
   or an experiment name / branch / tag / commit whose ``publish/manifest.json``
   is read through DVC; validate it against the shipped schema;
2. make a scratch ``git worktree`` at the commit holding its code (the
   experiment's commit, or the commit the manifest's volatile record names,
   which for ``dvc exp run -S …`` is the baseline): the user's workspace is
   never touched;
3. the code there must hash to the manifest's ``code_hashes`` (every pipeline
   code file): otherwise the results came from code that no commit or
   experiment holds — a *dirty* manifest — and the files are named;
4. params: the scratch checkout's ``params.yaml`` must hash to the manifest's
   ``config_hash``; when it does not (the ``-S`` params of an experiment run on
   that baseline), the manifest's exact params are written there;
5. list installed library versions that differ from ``code_versions``;
6. choose the level (:func:`choose_level`), re-run ``dvc repro --force
   aggregate`` in the scratch checkout with its own ``src/`` first on
   ``PYTHONPATH`` (so the recorded code runs), verify every raw file's sha256;
7. compare the new ``results.json`` (and predictions' sha256, and at the bit
   level each run's interval in ``reports/run_intervals.json``) with the results
   the manifest recorded, with :func:`seedbench.verify.compare.compare_results`:
   bit-exact when every library version matches and, run by run,
   :func:`seedbench.determinism.expectations.expected_level` promises it (same
   ``train.determinism`` mode and variables, CPU model or portable kernels,
   torch threads, deterministic flags, no CUDA difference) on the same GPUs;
   seed-stable when the major versions of python, torch, numpy, scipy and
   pandas match; otherwise distribution-stable.

``--no-rerun`` skips the scratch checkout and compares the results already in
``--repo`` (after checking its code and params the same way).

:func:`replay` returns a :class:`ReplayReport`; the CLI prints it and exits 0
(pass), 1 (the comparison failed) or 2 (a refusal: :class:`ReplayError`,
:class:`DataIntegrityError`).

Why ~420 lines: the recipe's seven steps read top to bottom in one place, each a small function;
the target resolution (:mod:`.replaytarget`) and the comparison (:mod:`.compare`) already live elsewhere.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from seedbench.core.errors import DataIntegrityError, ReplayError
from seedbench.core.hashing import file_sha256
from seedbench.core.names import LEVEL_STRENGTH, METHODS_DIR
from seedbench.provenance.manifest import config_hash
from seedbench.verify.replaytarget import REPRO_TARGET, run_dvc_repro

LEVEL_NAMES = {"bit": "bit-exact", "seed": "seed-stable", "distribution": "distribution-stable"}

SEED_LEVEL_LIBRARIES: tuple[str, ...] = ("python", "torch", "numpy", "scipy", "pandas")
"""Libraries whose major version (python: major.minor) must match for the seed-stable level."""


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
    """Refuse a manifest that cannot be replayed: a run manifest, one that records no code, or whose params
    (``config``) do not hash to its ``config_hash``."""
    if manifest.get("kind") != "experiment":
        raise ReplayError(f"{where}: a run manifest; replay takes the experiment manifest (publish/manifest.json)")
    if not manifest.get("code_hashes"):
        raise ReplayError(f"{where}: records no code (code_hashes is empty: the pipeline ran outside a checkout "
                          "with dvc.yaml); cannot replay")
    recorded = manifest.get("config_hash")
    if config_hash(manifest.get("config")) != recorded:  # replay writes `config` into its checkout: it must be the one hashed
        raise ReplayError(f"{where}: its config does not hash to its config_hash ({str(recorded)[:19]}…): the manifest "
                          "was edited after publish; cannot replay")


def check_code(manifest: Mapping[str, Any], checkout_hashes: Mapping[str, str], commit: str, where: str = "manifest",
               volatile: Mapping[str, Any] | None = None) -> None:
    """Refuse when the checkout at ``commit`` does not hold the code the manifest recorded, naming the files.

    That is what a *dirty* manifest is: its results came from code changes that no
    commit or experiment captured (``dvc exp run`` commits its changes, and
    params are recorded exactly, so neither counts).
    """
    from seedbench.provenance.dvclock import code_differences

    differ = code_differences(manifest.get("code_hashes") or {}, checkout_hashes)
    if not differ:
        return
    shown = ", ".join(differ[:8]) + (f" (and {len(differ) - 8} more)" if len(differ) > 8 else "")
    seen = [p for p in ((volatile or {}).get("git") or {}).get("dirty_paths") or [] if p.startswith(("src/", "stages/"))]
    told = f"; uncommitted when it ran: {', '.join(seen)}" if seen else ""
    raise ReplayError(
        f"{where}: dirty manifest: its results came from code that commit {commit[:12]} does not hold: {shown}{told}. "
        "Commit the changes and re-run the pipeline (`dvc repro`, or `dvc exp run`, which commits them) "
        "to publish a replayable manifest"
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
from seedbench.determinism.devices import device_record, read_fp32_precision, used_gpu, wanted_fp32_precision
from seedbench.provenance.environment import cpu_flags_summary, cpu_model, gpu_record
torch.set_num_threads(int(sys.argv[1]))
device, precision, deterministic = sys.argv[4], sys.argv[5], sys.argv[3] == "1"
gpu = used_gpu(gpu_record(), torch.cuda.current_device()) if device == "cuda" and torch.cuda.is_available() else None
record = determinism_record(sys.argv[2], {k: os.environ.get(k) for k in DISPATCH_ENV_VARS},
                            cpu_model=cpu_model(), cpu_flags=cpu_flags_summary(), cpu_count=os.cpu_count())
record.update(torch_threads=torch.get_num_threads(), deterministic=deterministic,
              cuda_available=bool(torch.cuda.is_available()),
              gpus=[g["name"] for g in gpu_record().get("gpus") or []] or None,
              cudnn_deterministic=deterministic, cudnn_benchmark=False, deterministic_algorithms=deterministic,
              cublas_workspace_config=os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
              **device_record(device, precision, {**read_fp32_precision(), **wanted_fp32_precision(precision)}, gpu))
print(json.dumps(record))
"""


def current_determinism_record(mode: str, torch_threads: int, deterministic: bool, device: str = "cpu",
                               precision: str = "fp32") -> dict[str, Any]:
    """The determinism record a training run would write on this machine (plus ``gpus``: GPU names).

    With ``device`` ``cuda`` it names the GPU a re-run would train on (``gpu`` is
    ``None`` where torch sees none: the re-run's train stage then refuses to start).

    Computed in a child process started the way the train stage is
    (``python -m seedbench.determinism.launch --determinism MODE -- python …``), so the
    kernels torch reports are those the re-run will use.
    """
    import json

    py = sys.executable
    cmd = [py, "-m", "seedbench.determinism.launch", "--determinism", mode, "--", py, "-c", _CURRENT_RECORD_CODE,
           str(torch_threads), mode, "1" if deterministic else "0", device, precision]
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
      publisher's) equals the installed one (numpy, for instance, draws the
      per-run bootstrap intervals); a different major version of
      python (major.minor), torch, numpy, scipy or pandas → ``distribution``;
    - ``bit`` only on the same GPU models, for runs that trained on a GPU
      (``determinism.device``; the GPU itself is judged by ``expected_level``).
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
    recorded_gpus = {repr([g.get("name") for g in r.get("gpu_info") or []] or None) for r in runs
                     if (r.get("determinism") or {}).get("device") == "cuda"}
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


def baseline_intervals(manifest: Mapping[str, Any]) -> dict[tuple[str, str, int], Any] | None:
    """``{run key: rmse_ci}`` the manifest recorded per run; ``None`` for a manifest from before runs carried one.

    Such an older manifest holds each interval inside its ``results`` instead
    (:func:`seedbench.verify.compare.compare_results` reads it there).
    """
    runs = manifest.get("runs") or []
    if not any("rmse_ci" in run for run in runs):
        return None
    return {(run["dataset"], run["method"], int(run["replicate"])): run.get("rmse_ci") for run in runs}


# --------------------------------------------------------------------------- running


def replay(
    target: str | Path,
    *,
    repo: str | Path = ".",
    rerun: bool = True,
    level: str | None = None,
    runner: Callable[[Path, TextIO], int] = run_dvc_repro,
    stream: TextIO | None = None,
    keep_scratch: bool = False,
) -> ReplayReport:
    """Replay ``target`` (a manifest file, or an experiment name / revision of ``repo``; see the module docstring).

    Parameters
    ----------
    rerun
        ``False`` compares the results already in ``repo`` (after your own
        ``dvc repro``) without a scratch checkout or a re-run.
    level
        Force a level (``"bit"``, ``"seed"``, ``"distribution"``) instead of the best the environment allows.
    runner
        Runs the pipeline in a checkout (default :func:`run_dvc_repro`); returns its exit status.
    stream
        Where progress lines and DVC's output go (default ``sys.stderr``).
    keep_scratch
        Leave the scratch worktree in place (its path is printed) to inspect it.
    """
    from seedbench.verify.replaytarget import resolve_target, scratch_worktree

    out = stream or sys.stderr
    report = ReplayReport(manifest_path=str(target))

    def say(text: str) -> None:
        report.lines.append(text)
        out.write(text + "\n")
        out.flush()

    found = resolve_target(str(target), repo)
    manifest = found.manifest
    check_manifest_replayable(manifest, found.where)
    say(f"replay {found.where}: {manifest['run_id']}, {len(manifest['runs'])} runs; code at commit {found.commit[:12]} "
        f"({found.note})")
    if not rerun:
        _replay_in(Path(repo), found, report, say, rerun=False, level=level, runner=runner, out=out)
        return report
    with scratch_worktree(repo, found.commit, keep=keep_scratch) as checkout:
        say(f"  scratch checkout: {checkout} (git worktree at {found.commit[:12]}; your workspace is untouched)")
        _replay_in(checkout, found, report, say, rerun=True, level=level, runner=runner, out=out)
    return report


def _replay_in(root: Path, found: Any, report: ReplayReport, say: Callable[[str], None], *, rerun: bool,
               level: str | None, runner: Callable[[Path, TextIO], int], out: TextIO) -> None:
    """Steps 3–7 of the module docstring in the checkout ``root`` (scratch, or the user's with ``--no-rerun``)."""
    from seedbench.core.params import load_params, params_as_dict
    from seedbench.provenance.dvclock import code_hashes
    from seedbench.provenance.environment import library_versions
    from seedbench.results.trees import load_result_tree
    from seedbench.verify.compare import compare_results
    from seedbench.verify.replaytarget import write_params

    manifest = found.manifest
    check_code(manifest, code_hashes(root, manifest["code_hashes"]), found.commit, found.where, found.volatile)
    say(f"  code: the {len(manifest['code_hashes'])} recorded code files match commit {found.commit[:12]}")

    current_config = params_as_dict(load_params(root / "params.yaml", root / METHODS_DIR))
    if config_hash(current_config) != manifest["config_hash"]:
        diffs = config_differences(current_config, manifest.get("config") or {})
        shown = "; ".join(diffs[:5]) + (f" (and {len(diffs) - 5} more)" if len(diffs) > 5 else "")
        if not rerun:
            raise ReplayError(f"{root / 'params.yaml'}: params differ from the manifest's (config_hash "
                              f"{manifest['config_hash'][:19]}…): {shown}; replay without --no-rerun applies them")
        write_params(root, manifest["config"])
        say(f"  params: applied the manifest's params to the commit's params.yaml: {shown}")
    else:
        say(f"  params: config_hash matches ({manifest['config_hash'][:19]}…)")
    params = load_params(root / "params.yaml", root / METHODS_DIR)

    installed = library_versions()
    diffs_v = version_differences(manifest["code_versions"], installed)
    say("  libraries differ from the manifest: " + ", ".join(f"{n} {a} → {b}" for n, a, b in diffs_v) if diffs_v
        else f"  libraries: the {len(installed)} recorded versions match")

    raw_dir = root / "data" / "raw"
    changed, missing = verify_raw_files(manifest["data_hashes"], raw_dir)
    if changed:
        raise DataIntegrityError(
            f"{len(changed)} raw file(s) differ from their sha256 in the manifest: " + ", ".join(f"{raw_dir / c}" for c in changed)
            + "; restore the published bytes (`dvc checkout data/raw`, or `dvc pull`) before replaying")
    present = len(manifest["data_hashes"]) - len(missing)
    say(f"  data: {present} raw file(s) match their sha256" + (f"; {len(missing)} missing (the re-run fetches them)" if missing else ""))

    choice = LevelChoice(level, ("forced with --level",), ("forced with --level",)) if level else choose_level(
        manifest, installed,
        current_determinism_record(params.train.determinism, params.train.torch_threads, params.train.deterministic,
                                   params.train.device, params.train.precision),
    )
    report.level = choice
    say(f"  level: {choice.explain()}")

    if rerun:
        say(f"  re-running: dvc repro --force {REPRO_TARGET} (fetch, prepare, train, aggregate) …")
        started = time.perf_counter()
        status = runner(root, out)
        if status != 0:
            raise ReplayError(f"`dvc repro --force {REPRO_TARGET}` failed with exit status {status} (its output is above)")
        say(f"  re-run finished in {time.perf_counter() - started:.0f} s")
        changed, missing = verify_raw_files(manifest["data_hashes"], raw_dir)
        if changed or missing:
            raise DataIntegrityError("after the re-run, raw files differ from the manifest's sha256: " + ", ".join(changed + missing)
                                     + " (the data source did not deliver the published bytes)")
        say(f"  data after the re-run: all {len(manifest['data_hashes'])} raw files match")
    elif missing:
        raise DataIntegrityError(f"raw files missing: {', '.join(missing)}; run `dvc repro` or replay without --no-rerun")

    published, published_hashes = baseline_results(manifest)
    bit = choice.level == "bit"
    tree = load_result_tree(str(root), repo=root, intervals=bit)
    report.comparison = compare_results(
        published, tree.results, choice.level, params.stats.seed_stable_tolerance,  # type: ignore[arg-type]
        prediction_hashes_a=published_hashes if bit else None,
        prediction_hashes_b=tree.prediction_hashes if bit else None,
        intervals_a=baseline_intervals(manifest) if bit else None,
        intervals_b=tree.run_intervals,
    )
    report.passed = bool(report.comparison.passed)


def report_text(report: ReplayReport) -> str:
    """The comparison table (published = A, replay = B) and the verdict line."""
    from seedbench.verify.compare import comparison_table

    table = comparison_table(report.comparison, name_a="published (manifest)", name_b="replay (workspace)") if report.comparison else ""
    return table + report.verdict + "\n"
