"""What reproducibility level an experiment can claim, and why (for reports/summary.md).

The statement depends only on params (determinism mode, thread count,
deterministic kernels, number of seeds), so the report stays byte-deterministic.
Levels follow the GRACE recipe: bit-exact, seed-stable, distribution-stable.
"""

from __future__ import annotations


def reproducibility_statement(
    *, determinism: str, deterministic: bool, torch_threads: int, n_replicates: int, seed_tolerance: float
) -> str:
    """A Markdown section: the level a re-run can reach, on which machines, and how to check it."""
    lines = ["## Reproducibility this run can claim", ""]
    if not deterministic:
        lines.append(
            "- **Seed-stable at best**: `train.deterministic` is false, so kernels without a deterministic "
            "implementation may be used and two runs on the same machine can differ in the last bits."
        )
    elif determinism == "portable":
        lines.append(
            "- **Bit-exact expected** on x86-64 CPUs with AVX2 and with any thread count (this run: "
            f"`train.torch_threads = {torch_threads}`), with the library versions of `requirements.lock` (portable "
            "determinism pins ATen, MKL and OpenBLAS kernels, runs MKL on one thread without oneDNN, and takes an "
            "IEEE-exact square root in AdamW). Checked so far: 1 vs 2 threads and other MKL instruction sets on one "
            "AMD EPYC, and one AMD EPYC vs one Intel Xeon with torch 2.11; other CPUs and this torch build across "
            "vendors are not yet checked. Check: `dvc repro --force && git diff --exit-code dvc.lock`; "
            "`seedbench doctor` names the first op that differs."
        )
    else:
        lines.append(
            "- **Bit-exact** only on the same CPU model and core count, with the library versions of "
            f"`requirements.lock` and `train.torch_threads = {torch_threads}` (native determinism: kernels follow "
            "the CPU's instruction set). Elsewhere expect seed-stable. Check: "
            "`dvc repro --force && git diff --exit-code dvc.lock`."
        )
    elsewhere = "other library patch versions" if deterministic and determinism == "portable" else \
        "other library patch versions, thread counts or CPUs"
    lines.append(
        f"- **Seed-stable** (per-run |ΔRMSE| ≤ {seed_tolerance:g}) with {elsewhere}: "
        "`seedbench compare <published> . --level seed`."
    )
    if n_replicates >= 2:
        lines.append(
            f"- **Distribution-stable** is testable: a fresh set of {n_replicates} seeds "
            "(`dvc exp run -S seed=<new>`) should give each method's mean RMSE within ±2·SEM and its std within "
            "±20%: `seedbench compare main <experiment> --level distribution`."
        )
    else:
        lines.append(
            "- **Distribution-stable cannot be claimed** with 1 seed: there is no SEM to compare a fresh seed set "
            "against. Use at least 2 replicates (5 or more for claims between methods)."
        )
    return "\n".join(lines) + "\n"
