"""``seedbench doctor``: record a few training steps op by op, compare two such traces, vary the set-up here.

- :func:`record_trace` runs the real training code (``seedbench.training``:
  the model, seeds, optimizer, data order and determinism mode of the train
  stage) for ``steps`` mini-batches and a validation pass under
  :class:`~seedbench.verify.doctor_trace.TraceRecorder`, and returns the
  trace: every op in call order, the parameters after every step and the
  environment (:func:`doctor_environment`). Nothing is written but the trace
  the caller saves, so no pipeline output changes.
- :func:`seedbench.verify.doctor_compare.compare_traces` names where two
  traces part.
- :func:`vary` records one trace per variation (threads, determinism mode,
  DataLoader workers) in fresh processes started with the mode's variables
  (``seedbench.determinism.launch``) and compares each with the first.

Runs with torch, numpy, PyYAML and this package's ``src/`` only: no DVC,
DVCLive or Hub client (``tests/verify/test_doctor.py`` blocks them), so it
can be carried to a machine that has the same torch build and nothing else.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from seedbench.core.errors import ParamsError
from seedbench.core.files import write_json
from seedbench.core.names import METHODS_DIR

TRACE_VERSION = "1"
"""Format version of a trace file."""


def doctor_environment(determinism: str, torch_threads: int, num_workers: int) -> dict[str, Any]:
    """CPU model and flags, ATen capability, threads, mode variables and settings, library versions, OS and libc."""
    from seedbench.determinism.modes import DISPATCH_ENV_VARS
    from seedbench.determinism.settings import determinism_record
    from seedbench.provenance.environment import (
        cpu_flags,
        cpu_flags_summary,
        cpu_model,
        os_record,
    )

    record = determinism_record(determinism, {k: os.environ.get(k) for k in DISPATCH_ENV_VARS}, cpu_model=cpu_model(),
                                cpu_flags=cpu_flags_summary(), cpu_count=os.cpu_count())
    return {**{k: v for k, v in record.items() if k != "mode"}, "determinism": record["mode"],
            "cpu_flags": cpu_flags() or record["cpu_flags"], "torch_threads": torch_threads,
            "num_workers": num_workers, "os": os_record(), "python": platform.python_version(),
            "hostname": platform.node()}


def load_windows(params: Any, dataset: str, prepared: str | os.PathLike[str] | None) -> Any:
    """The prepared subset: from ``prepared`` when that folder exists, else simulated and prepared here in a temp folder.

    The simulated path is the pipeline's (``data.builtin`` → C-MAPSS text
    files → ``prepare``), so it gives the pipeline's arrays where the pipeline
    has not run (a host with torch and numpy only).
    """
    from seedbench.data import cmapss, preparation

    if prepared is not None and Path(prepared).is_dir():
        return preparation.load_prepared(prepared)
    from seedbench.data.simulate import simulate_subset

    with tempfile.TemporaryDirectory(prefix="seedbench-doctor-") as tmp:
        cmapss.write_subset(simulate_subset(dataset, seed=params.data.builtin.seed, scale=params.data.builtin.scale), tmp)
        subset = cmapss.read_subset(tmp, dataset)
    return preparation.prepare_subset(subset, window=params.window(dataset), sensors=params.prepare.sensors,
                                 rul_cap=params.prepare.rul_cap, cap_test_labels=params.prepare.cap_test_labels)


def record_trace(
    params: Any,
    *,
    dataset: str,
    method: str,
    steps: int,
    replicate: int = 0,
    prepared: str | os.PathLike[str] | None = None,
    determinism: str | None = None,
    torch_threads: int | None = None,
    num_workers: int | None = None,
    plant: Any = None,
    perturb_global_streams: bool = False,
    methods_dir: str | os.PathLike[str] = METHODS_DIR,
) -> dict[str, Any]:
    """Train ``method`` for ``steps`` mini-batches as the train stage would, and return its trace.

    ``determinism``, ``torch_threads`` and ``num_workers`` default to
    ``params.train``'s. ``plant(model)`` (tests only) may alter the built model
    before training, e.g. to add noise to one layer. A ``fit`` method (``linear``)
    records its fit and validation pass as step 1. The method is ``<methods_dir>/<method>.py``;
    its hyper-parameters are ``params.train``'s, or its declared defaults when params has no
    ``train.<method>`` (recorded as ``hparams_source``). ``perturb_global_streams`` reseeds Python's
    ``random`` and NumPy's global state with another value after the pipeline seeded them: a
    method that draws from them (rather than from its seed) then trains differently
    (``seedbench check-method``). Call it in a process whose
    mode variables were set before Python started (the CLI takes care of it).
    """
    import torch

    from seedbench.core.seeds import STREAM_VALIDATION_SPLIT, generator, run_seeds
    from seedbench.data import splits
    from seedbench.determinism.seeding import (
        seed_torch,
        set_global_seeds,
        set_torch_threads,
    )
    from seedbench.training.loop import (
        as_windows,
        fit_once,
        mse_tensor,
        select_units,
        sgd_setup,
        train_step,
        window_tensor,
    )
    from seedbench.training.methods import (
        build_model,
        check_hparams,
        load_method,
        probe_output,
    )
    from seedbench.verify.doctor_trace import TraceRecorder, parameter_record

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ParamsError(f"doctor --steps: expected a positive integer, got {steps!r}")
    if params.train.device != "cpu":
        raise ParamsError(
            f"train.device: {params.train.device}: seedbench doctor traces the CPU kernels of a training step and "
            "would silently trace a CPU run instead; give it a params file with train.device: cpu (--params), "
            "and compare GPU runs with bench/cuda_determinism.py (README: Training on a GPU)")
    mode = determinism or params.train.determinism
    threads = set_torch_threads(params.train.torch_threads if torch_threads is None else torch_threads, "doctor --threads")
    workers = params.train.num_workers if num_workers is None else num_workers
    loaded = load_method(method, methods_dir)
    in_params = method in params.train.method_hparams
    hp = check_hparams(loaded, params.train.hparams(method) if in_params else
                       {h.name: h.default for h in loaded.spec.hparams})
    seeds = run_seeds(params.seed, replicate)
    set_global_seeds(seeds["seed"], deterministic=params.train.deterministic, warn_only=params.train.warn_only,
                     determinism=mode)
    if perturb_global_streams:  # a deliberate, reproducible perturbation of the streams a method must not use
        from seedbench.determinism.seeding import seed_python_and_numpy

        seed_python_and_numpy(seeds["seed"] ^ 0x5EED)
    data = load_windows(params, dataset, prepared)
    train_units, val_units = splits.split_units(data.train.unit, params.train.val_fraction,
                                                generator(params.seed, STREAM_VALIDATION_SPLIT, replicate))
    X, y = as_windows(select_units(data.train, train_units), "train")
    Xv, yv = as_windows(select_units(data.train, val_units), "validation")
    seed_torch(seeds["seed"])
    recorder = TraceRecorder()
    step_records: list[dict[str, Any]] = []
    if loaded.fit is not None:
        with recorder, recorder.phase_of(1, "fit"):
            model = fit_once(loaded, X, y, Xv, yv, seed=seeds["seed"], hparams=hp).model
        step_records.append({"step": 1, "loss": None, "params": parameter_record(model)})
    else:
        model = build_model(loaded, window=X.shape[1], n_features=X.shape[2], hparams=hp)
        probe_output(loaded, model, X, require_finite=True)
        if plant is not None:
            plant(model)
        optimizer, loader = sgd_setup(model, X, y, hp, data_order_seed=seeds["data_order_seed"], num_workers=workers,
                                      determinism=mode)
        recorder.watch(model, optimizer)
        model.train()
        for step, (xb, yb) in enumerate(loader, start=1):
            with recorder, recorder.phase_of(step, "forward"):
                loss = train_step(model, xb, yb, optimizer)
            step_records.append({"step": step, "loss": loss, "params": parameter_record(model)})
            if step >= steps:
                break
        del loader
        with recorder, recorder.phase_of("validation", "validation"):
            mse_tensor(model, window_tensor(Xv), yv)
    return {"version": TRACE_VERSION, "dataset": dataset, "method": method, "replicate": replicate,
            "seed": seeds["seed"], "steps": step_records, "hparams_source": "params" if in_params else "defaults",
            "ops": recorder.ops,
            "environment": doctor_environment(mode, threads, workers),
            "torch_version": str(torch.__version__)}


def write_trace(trace: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``trace`` as JSON (atomically); return the path."""
    out = Path(path)
    write_json(out, dict(trace))
    return out


def read_trace(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a trace written by :func:`write_trace` (one-line error naming the file when it is not one)."""
    from seedbench.core.errors import DataFormatError

    try:
        trace = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"{path}: not a readable doctor trace ({exc})") from None
    if not isinstance(trace, dict) or trace.get("version") != TRACE_VERSION or "ops" not in trace:
        raise DataFormatError(f"{path}: not a seedbench doctor trace of version {TRACE_VERSION}")
    return trace


def parse_variations(threads: str | None, determinism: str | None, workers: str | None) -> list[dict[str, Any]]:
    """One variation per value of the single option given (``"1,2"`` → two), as keyword arguments of a record."""
    from seedbench.determinism.modes import check_mode

    given = {k: v for k, v in (("torch_threads", threads), ("determinism", determinism), ("num_workers", workers))
             if v is not None}
    if len(given) != 1:
        raise ParamsError("doctor vary: give exactly one of --threads, --determinism, --workers (e.g. --threads 1,2)")
    (key, text), = given.items()
    values = [v.strip() for v in text.split(",") if v.strip()]
    if len(values) < 2:
        raise ParamsError(f"doctor vary: expected at least two comma-separated values, got {text!r}")
    if key == "determinism":
        return [{key: check_mode(v)} for v in values]
    if not all(v.isdigit() for v in values):
        raise ParamsError(f"doctor vary: expected non-negative integers, got {text!r}")
    return [{key: int(v)} for v in values]


def record_command(args: Sequence[str], variation: Mapping[str, Any], mode: str, out: Path) -> list[str]:
    """The command that records one variation in a fresh process started with ``mode``'s variables."""
    flags = {"torch_threads": "--threads", "determinism": "--determinism", "num_workers": "--workers"}
    extra = [x for k, v in variation.items() for x in (flags[k], str(v))]
    return [sys.executable, "-m", "seedbench.determinism.launch", "--determinism", mode, "--",
            sys.executable, "-m", "seedbench.cli", "doctor", "record", *args, *extra, "-o", str(out)]


def record_in_fresh_process(args: Sequence[str], variation: Mapping[str, Any], mode: str, out: Path,
                            what: str = "doctor vary") -> dict[str, Any]:
    """Record one trace with ``seedbench doctor record`` in a new process started with ``mode``'s variables; read it back."""
    from seedbench.core.errors import SeedbenchError

    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if variation.get("torch_threads", 1) > 1:
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # scheduling only: no spinning on shared cores
    proc = subprocess.run(record_command(args, variation, mode, out), env=env, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise SeedbenchError(f"{what}: recording {dict(variation) or 'a run'} failed: {last}")
    return read_trace(out)


def vary(args: Sequence[str], variations: list[dict[str, Any]], default_mode: str, workdir: Path) -> list[dict[str, Any]]:
    """Record every variation in its own process; compare each with the first. Returns ``[{"variation", "result"}]``."""
    from seedbench.verify.doctor_compare import compare_traces

    traces = [record_in_fresh_process(args, variation, variation.get("determinism", default_mode),
                                      workdir / f"trace-{index}.json") for index, variation in enumerate(variations)]
    return [{"variation": v, "result": compare_traces(traces[0], t)} for v, t in zip(variations[1:], traces[1:], strict=True)]
