"""The ``seedbench`` command: one subcommand per verb, each importing only what it runs.

Errors become one-line messages at :mod:`seedbench.core.edge` (exit 2; a check
that ran and failed exits 1).

Why ~400 lines: the parser of every subcommand, with its help and example, lives here and nowhere
else (each handler is a few lines that call the library); split, `seedbench --help` would be assembled from
several places.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from seedbench.core.edge import (
    EXIT_CHECK_FAILED,
    run_user_errors_as_messages,
)
from seedbench.core.errors import DataFormatError, ParamsError
from seedbench.core.names import METHODS_DIR


def _cmd_params_reference(_: argparse.Namespace) -> int:
    from seedbench.core.params_reference import reference_markdown

    sys.stdout.write(reference_markdown())
    return 0


def _cmd_check_params(args: argparse.Namespace) -> int:
    from seedbench.core.params import load_params

    load_params(args.params)
    print(f"{args.params}: ok")
    return 0


def _level_alpha(text: str) -> float:
    """``--alpha``: a number in (0, 1)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}")
    return value


def _cmd_compare(args: argparse.Namespace) -> int:
    from seedbench.verify.compare import compare_trees, comparison_table

    if not (math.isfinite(args.tolerance) and args.tolerance >= 0):
        raise ParamsError(f"--tolerance: expected a finite number >= 0 (largest |ΔRMSE|), got {args.tolerance}")

    comparison = compare_trees(args.a, args.b, args.level, tolerance=args.tolerance, alpha=args.alpha, repo=args.repo)
    if args.json:
        print(json.dumps(comparison.to_dict(), indent=2, sort_keys=True))
    else:
        sys.stdout.write(comparison_table(comparison, name_a=args.a, name_b=args.b))
    return 0 if comparison.passed else EXIT_CHECK_FAILED


REPORT_STAGE = "aggregate"
"""The stage that writes ``reports/summary.md`` (its dvc.lock entry says whether the report is current)."""


def _cmd_report(args: argparse.Namespace) -> int:
    from seedbench.core.files import read_bounded_bytes

    path = Path(args.file)
    if not path.is_file():
        raise DataFormatError(f"{path}: no report yet; run the pipeline (`dvc repro`) first")
    if not args.no_check:
        from seedbench.ops.lockcheck import read_lockfile, stale_outputs

        lock = read_lockfile(args.repo)
        rel = path.resolve().relative_to(Path(args.repo).resolve()).as_posix() if path.resolve().is_relative_to(
            Path(args.repo).resolve()) else path.as_posix()
        reasons = ["no dvc.lock"] if lock is None else stale_outputs(args.repo, lock, REPORT_STAGE, [rel])
        if reasons:
            print(f"seedbench report: {path} is not current with dvc.lock ({'; '.join(reasons[:3])}"
                  f"{'; …' if len(reasons) > 3 else ''}): run `dvc repro` to regenerate it "
                  "(--no-check prints it anyway)", file=sys.stderr)
            return EXIT_CHECK_FAILED
    sys.stdout.write(read_bounded_bytes(path, 16 << 20).decode("utf-8"))
    return 0


def _cmd_verify_data(args: argparse.Namespace) -> int:
    from seedbench.data.sources.verify import verify_raw_dir

    checks = verify_raw_dir(args.raw)
    bad = [c for c in checks if c.status != "ok"]
    for check in bad:
        detail = {
            "changed": f"expected {check.expected}, found {check.actual}",
            "missing": f"listed in SOURCE.json ({check.expected}) but absent",
            "unlisted": f"present but not in SOURCE.json ({check.actual})",
        }[check.status]
        print(f"{check.status.upper():9} {args.raw}/{check.path}: {detail}")
    ok = len(checks) - len(bad)
    print(f"verify-data: {ok} of {len(checks)} files match {args.raw}/SOURCE.json" + ("" if not bad else
          " — restore them with `dvc checkout data/raw` (or re-fetch: `dvc repro --force fetch`)"))
    return 0 if not bad else EXIT_CHECK_FAILED


def _cmd_status(args: argparse.Namespace) -> int:
    from seedbench.core.params import load_params
    from seedbench.ops.lockcheck import read_lockfile
    from seedbench.ops.status import pipeline_status, status_text

    params = load_params(Path(args.repo) / "params.yaml", Path(args.repo) / METHODS_DIR)
    read_lockfile(args.repo)  # a dvc.lock cut off by an interrupted `dvc repro`: one line saying how to repair it
    sys.stdout.write(status_text(pipeline_status(args.repo, params), params))
    return 0


def _cmd_describe(args: argparse.Namespace) -> int:
    from seedbench.publishing.describe import describe_path

    sys.stdout.write(describe_path(args.path))
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    from seedbench.verify.replay import replay, report_text

    report = replay(args.target, repo=args.repo, rerun=not args.no_rerun, level=args.level, keep_scratch=args.keep_scratch)
    sys.stdout.write(report_text(report))
    return 0 if report.passed else EXIT_CHECK_FAILED


def _cmd_transfer(args: argparse.Namespace) -> int:
    from seedbench.ops.remote import transfer
    from seedbench.ops.secrets import secrets_in_environment

    done = transfer(args.command, args.repo, remote=args.remote, targets=args.targets, jobs=args.jobs,
                    dvc=(sys.executable, "-m", "dvc"), secrets=secrets_in_environment(os.environ))
    print(f"seedbench {args.command}: {done.remote.describe()}: {done.summary}")
    return 0


def _cmd_repro(args: argparse.Namespace) -> int:
    from seedbench.core.params import load_params
    from seedbench.ops.parallel import default_cores, repo_path, repro

    root = repo_path(args.repo)
    params = load_params(root / "params.yaml", root / METHODS_DIR)
    repro(root, jobs=args.jobs, torch_threads=params.train.torch_threads, cores=default_cores())
    return 0


def _cmd_setup_remote(args: argparse.Namespace) -> int:
    from seedbench.ops.remote import configure_local_remote

    print(f"seedbench setup-remote: {configure_local_remote(args.repo, args.path, name=args.name)}")
    return 0


def _doctor_base_args(args: argparse.Namespace) -> list[str]:
    base = ["--params", args.params, "--dataset", args.dataset, "--method", args.method, "--steps", str(args.steps),
            "--replicate", str(args.replicate), "--methods-dir", args.methods_dir]
    return base + (["--prepared", args.prepared] if args.prepared else [])


def _cmd_doctor_record(args: argparse.Namespace) -> int:
    from seedbench.core.params import load_params
    from seedbench.determinism.modes import (
        launch_environment,
        mode_environment,
        startup_environment,
    )

    params = load_params(args.params, args.methods_dir)
    mode = args.determinism or params.train.determinism
    started_with = startup_environment() or {}
    if any(started_with.get(k) != v for k, v in mode_environment(mode).items()):  # restart with the mode's variables
        command = [sys.executable, "-m", "seedbench.cli", *args.argv]
        os.execvpe(command[0], command, {**launch_environment(mode, os.environ), "PYTHONHASHSEED": "0"})
    from seedbench.verify.doctor import record_trace, write_trace

    trace = record_trace(params, dataset=args.dataset, method=args.method, steps=args.steps, replicate=args.replicate,
                         prepared=args.prepared or f"data/prepared/{args.dataset}", determinism=mode,
                         torch_threads=args.threads, num_workers=args.workers,
                         perturb_global_streams=args.perturb_global_streams, methods_dir=args.methods_dir)
    write_trace(trace, args.output)
    print(f"seedbench doctor record: {len(trace['ops'])} ops over {len(trace['steps'])} step(s) of {args.method} "
          f"on {args.dataset} ({mode}) -> {args.output}")
    return 0


def _cmd_doctor_compare(args: argparse.Namespace) -> int:
    from seedbench.verify.doctor import read_trace
    from seedbench.verify.doctor_compare import compare_traces, comparison_text

    result = compare_traces(read_trace(args.a), read_trace(args.b))
    sys.stdout.write(comparison_text(result, args.a, args.b))
    return 0 if result["identical"] else EXIT_CHECK_FAILED


def _cmd_doctor_vary(args: argparse.Namespace) -> int:
    import tempfile

    from seedbench.core.params import load_params
    from seedbench.verify.doctor import parse_variations, vary
    from seedbench.verify.doctor_compare import comparison_text

    variations = parse_variations(args.threads, args.determinism, args.workers)
    mode = load_params(args.params).train.determinism
    with tempfile.TemporaryDirectory(prefix="seedbench-doctor-vary-") as tmp:
        results = vary(_doctor_base_args(args), variations, mode, Path(tmp))
    print(f"baseline: {variations[0]}")
    for item in results:
        verdict = "identical" if item["result"]["identical"] else "DIFFERENT"
        print(f"--- {item['variation']}: {verdict}")
        sys.stdout.write(comparison_text(item["result"], str(variations[0]), str(item["variation"])))
    return 0 if all(item["result"]["identical"] for item in results) else EXIT_CHECK_FAILED


def _cmd_check_method(args: argparse.Namespace) -> int:
    from seedbench.core.params import load_params
    from seedbench.verify.checkmethod import check_method
    from seedbench.verify.doctor_compare import comparison_text

    params = load_params(args.params, args.methods_dir)
    dataset = args.dataset or params.data.datasets[0]
    mode = args.determinism or params.train.determinism
    report = check_method(args.params, args.name, dataset=dataset, steps=args.steps, mode=mode,
                          prepared=args.prepared, methods_dir=args.methods_dir)
    result = report["result"]
    verdict = "bit-identical" if result["identical"] else "NOT bit-identical"
    print(f"seedbench check-method {args.name} ({report['file']}, {report['kind']}; hyper-parameters from "
          f"{report['hparams_source']}; {dataset}, {mode}): two fresh processes, same seed: {verdict}")
    sys.stdout.write(comparison_text(result, "run 1", "run 2 (global random/numpy streams reseeded)"))
    if not result["identical"]:
        print("the method draws randomness outside the seeds seedbench gives it (fresh entropy, the clock, or the "
              "global numpy/random state): take it from torch's generator or fit's seed")
    return 0 if result["identical"] else EXIT_CHECK_FAILED


def _add_doctor(sub: argparse._SubParsersAction) -> None:
    doctor = _add(sub, "doctor", "Find the first op where two training runs part: record a few steps op by op, "
                  "compare two traces, or vary threads / mode / workers here.",
                  "seedbench doctor record --dataset FD001 --method mlp --steps 3 -o trace.json", lambda _: 2)
    verbs = doctor.add_subparsers(dest="doctor_command", required=True, metavar="VERB")
    record = _add(verbs, "record", "Run a few training steps of the real training code and record every aten op "
                  "(module, shapes, dtype, output hash), the parameters after every step and the environment.",
                  "seedbench doctor record --dataset FD001 --method mlp --steps 3 -o trace.json", _cmd_doctor_record)
    vary = _add(verbs, "vary", "Record one trace per variation on this machine and say, per variation, identical or "
                "the first op that differs (exit 1 when one differs).",
                "seedbench doctor vary --dataset FD001 --method mlp --determinism native,portable", _cmd_doctor_vary)
    for parser in (record, vary):
        parser.add_argument("--params", default="params.yaml")
        parser.add_argument("--dataset", required=True)
        parser.add_argument("--method", required=True)
        parser.add_argument("--steps", type=int, default=3, help="mini-batches to record (default 3)")
        parser.add_argument("--replicate", type=int, default=0)
        parser.add_argument("--prepared", default=None, help="prepared folder (default data/prepared/<dataset>; "
                            "simulated from params when absent)")
    record.add_argument("--determinism", choices=("native", "portable"), default=None,
                        help="default: params.yaml train.determinism")
    record.add_argument("--threads", type=int, default=None, help="torch threads (default: train.torch_threads)")
    record.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: train.num_workers)")
    record.add_argument("-o", "--output", required=True, help="trace file (JSON)")
    record.add_argument("--perturb-global-streams", action="store_true", help=argparse.SUPPRESS)  # check-method
    for parser in (record, vary):
        parser.add_argument("--methods-dir", default=METHODS_DIR, help=f"folder of method files (default {METHODS_DIR})")
    vary.add_argument("--threads", default=None, help="e.g. 1,2")
    vary.add_argument("--determinism", default=None, help="e.g. native,portable")
    vary.add_argument("--workers", default=None, help="e.g. 0,2")
    compare = _add(verbs, "compare", "Name the first op where two traces part (step, op, module, shapes, size) and "
                   "the environment differences that are likely causes (exit 1 when they differ).",
                   "seedbench doctor compare here.json intel.json", _cmd_doctor_compare)
    compare.add_argument("a")
    compare.add_argument("b")


def _add(sub: argparse._SubParsersAction, name: str, help_text: str, example: str,
         func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_text, description=f"{help_text}\n\nexample:\n  {example}",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=func)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``seedbench``."""
    parser = argparse.ArgumentParser(prog="seedbench", description="Multi-seed benchmarks a stranger can re-run.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _add(sub, "params-reference", "Print every params.yaml key with its type and meaning (Markdown).",
         "seedbench params-reference", _cmd_params_reference)
    check = _add(sub, "check-params", "Validate a params file against the schema.",
                 "seedbench check-params profiles/tiny.yaml", _cmd_check_params)
    check.add_argument("params", nargs="?", default="params.yaml")

    compare = _add(
        sub, "compare",
        "Check that result tree B reproduces A at a reproducibility level (exit 1 when it does not). "
        "A and B are folders (a workspace or checkout) or revisions: an experiment name, branch, tag or commit.",
        "seedbench compare main seed33 --level distribution", _cmd_compare,
    )
    compare.add_argument("a", help="reference: folder, experiment name or git revision")
    compare.add_argument("b", help="candidate: folder, experiment name or git revision")
    compare.add_argument("--level", choices=("bit", "seed", "distribution"), required=True,
                         help="bit: identical results; seed: per-run |ΔRMSE| ≤ tolerance; "
                              "distribution: mean within ±2·SEM, std within ±20%%")
    compare.add_argument("--tolerance", type=float, default=0.01, help="seed level: largest |ΔRMSE| (default 0.01)")
    compare.add_argument("--alpha", type=_level_alpha, default=0.05,
                         help="distribution level: familywise false-fail rate, Holm over all cells (default 0.05)")
    compare.add_argument("--repo", default=".", help="repository for revisions (default: .)")
    compare.add_argument("--json", action="store_true", help="print the comparison as JSON")

    report = _add(sub, "report", "Print reports/summary.md (results per dataset, claims, reproducibility level) after "
                  "checking it is current with dvc.lock (exit 1 when it is not).",
                  "seedbench report", _cmd_report)
    report.add_argument("--file", default="reports/summary.md")
    report.add_argument("--repo", default=".", help="repository whose dvc.lock the report is checked against (default: .)")
    report.add_argument("--no-check", action="store_true",
                        help="print the report without checking it is current with dvc.lock")

    verify = _add(sub, "verify-data", "Re-hash data/raw against data/raw/SOURCE.json (exit 1 on any difference).",
                  "seedbench verify-data --raw data/raw", _cmd_verify_data)
    verify.add_argument("--raw", default="data/raw")

    status = _add(sub, "status", "What is cached, what `dvc repro` would rerun, which seeds/methods are done.",
                  "seedbench status", _cmd_status)
    status.add_argument("--repo", default=".")

    describe = _add(sub, "describe", "Describe a data folder or file: raw data (SOURCE.json), C-MAPSS text files, "
                    "prepared arrays, or Croissant JSON (publish/croissant/).",
                    "seedbench describe data/raw", _cmd_describe)
    describe.add_argument("path", help="a folder (data/raw, data/raw/FD001, data/prepared/FD001, publish/croissant) or file")

    replay = _add(
        sub, "replay",
        "Replay an experiment in a scratch git worktree (your workspace is untouched): refuse results from code no commit "
        "holds, apply its exact params, check library versions and raw-data sha256, re-run `dvc repro --force aggregate`, "
        "then compare with its published results at the best level this machine allows (exit 1 when the comparison "
        "fails, 2 when the replay cannot start).",
        "seedbench replay seed33", _cmd_replay,
    )
    replay.add_argument("target", help="an experiment name (dvc exp list), branch, tag or commit, "
                                       "or a manifest file such as publish/manifest.json")
    replay.add_argument("--repo", default=".", help="the repository (default: .)")
    replay.add_argument("--keep-scratch", action="store_true", help="keep the scratch worktree (its path is printed)")
    replay.add_argument("--level", choices=("bit", "seed", "distribution"), default=None,
                        help="compare at this level instead of the best the environment allows")
    replay.add_argument("--no-rerun", action="store_true",
                        help="no scratch checkout, no re-run: compare the results already in --repo's workspace")

    for action, verb in (("push", "Upload the DVC-cached outputs to a remote"), ("pull", "Download them from a remote")):
        transfer = _add(sub, action, f"{verb} (`dvc {action}`), turning a failure into a hint that names the remote "
                        "and the setting to fix; credentials never printed.", f"seedbench {action} -r team-s3",
                        _cmd_transfer)
        transfer.add_argument("targets", nargs="*", help="stages or paths (default: everything dvc.lock pins)")
        transfer.add_argument("-r", "--remote", default=None, help="remote name (default: DVC's default remote)")
        transfer.add_argument("-j", "--jobs", type=int, default=None, help="parallel transfers")
        transfer.add_argument("--repo", default=".", help="repository root (default: .)")

    par = _add(sub, "repro", "`dvc repro` with the independent matrix runs (train@…) N at a time; "
               "N × train.torch_threads must not exceed the cores. Same dvc.lock as `dvc repro`, sooner.",
               "seedbench repro -j 2", _cmd_repro)
    par.add_argument("-j", "--jobs", type=int, default=2, help="runs at a time (default 2)")
    par.add_argument("--repo", default=".", help="repository root (default: .)")

    setup_remote = _add(sub, "setup-remote", "Make a local folder the default DVC remote, in .dvc/config.local "
                        "(idempotent; a default remote configured elsewhere is kept).",
                        "seedbench setup-remote ../seedbench-remote", _cmd_setup_remote)
    setup_remote.add_argument("path", nargs="?", default="../seedbench-remote",
                              help="the folder, relative to the repository root (default: ../seedbench-remote)")
    setup_remote.add_argument("--name", default="local", help="remote name (default: local)")
    setup_remote.add_argument("--repo", default=".", help="repository root (default: .)")
    _add_doctor(sub)
    check_method = _add(sub, "check-method", "Train a method's first mini-batches (a fit method: its fit) twice, in "
                        "fresh processes with the same seed, and say whether they are bit-identical or where they part "
                        "(exit 1): catches randomness drawn outside the seeds seedbench gives the method.",
                        "seedbench check-method gru", _cmd_check_method)
    check_method.add_argument("name", help="the method: the file methods/<name>.py")
    check_method.add_argument("--params", default="params.yaml")
    check_method.add_argument("--dataset", default=None, help="default: the first of data.datasets")
    check_method.add_argument("--steps", type=int, default=3, help="mini-batches per run (default 3)")
    check_method.add_argument("--prepared", default=None, help="prepared folder (default data/prepared/<dataset>; "
                              "simulated from params when absent)")
    check_method.add_argument("--determinism", choices=("native", "portable"), default=None,
                              help="default: params.yaml train.determinism")
    check_method.add_argument("--methods-dir", default=METHODS_DIR, help=f"folder of method files (default {METHODS_DIR})")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``seedbench`` console script."""
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # to restart itself (doctor record)
    return run_user_errors_as_messages(lambda: args.func(args), prog="seedbench", debug=args.debug or None)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
