"""What reproducibility level an experiment can claim, and why (for reports/summary.md).

The statement depends only on params (determinism mode, device, precision,
thread count, deterministic kernels, number of seeds), so the report stays
byte-deterministic.
Levels follow the GRACE recipe: bit-exact, seed-stable, distribution-stable.
"""

from __future__ import annotations


def gpu_statement(precision: str) -> str:
    """The bit-exact line of a ``train.device: cuda`` run (the rules of ``seedbench.determinism.expectations``)."""
    bf16 = (" With bf16, another GPU architecture (compute capability) gives distribution-stable only."
            if precision == "bf16" else "")
    return ("- **Bit-exact expected** only on the same GPU model with the same driver, CUDA, cuDNN and torch, in "
            f"`train.precision = {precision}` with the deterministic flags, and the same host CPU model (weights are "
            "initialised and batches drawn on the CPU). Measured by a colleague on one H200 (torch 2.11, CUDA 13.0): "
            "identical twice in one process and across two processes with the deterministic flags and TF32 off. On "
            f"another GPU or GPU software expect seed-stable at best; a CPU run of the same seeds agrees at the "
            f"distribution level only.{bf16} Check: `dvc repro --force && git diff --exit-code dvc.lock` on the same machine.")


def reproducibility_statement(
    *, determinism: str, deterministic: bool, torch_threads: int, n_replicates: int, seed_tolerance: float,
    device: str = "cpu", precision: str = "fp32",
) -> str:
    """A Markdown section: the level a re-run can reach, on which machines, and how to check it.

    ``device`` and ``precision`` are ``params.yaml: train.device`` / ``train.precision``.
    """
    lines = ["## Reproducibility this run can claim", ""]
    if not deterministic:
        lines.append(
            "- **Seed-stable at best**: `train.deterministic` is false, so kernels without a deterministic "
            "implementation may be used and two runs on the same machine can differ in the last bits."
        )
    elif device == "cuda":
        lines.append(gpu_statement(precision))
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
    elsewhere = "other library patch versions" if deterministic and determinism == "portable" and device == "cpu" \
        else "other library patch versions, thread counts or CPUs" if device == "cpu" \
        else "other GPUs of one model family, drivers or CUDA/cuDNN patch versions"
    lines.append(
        f"- **Seed-stable** (per-run |ΔRMSE| ≤ {seed_tolerance:g}) with {elsewhere}: "
        "`seedbench compare <published> . --level seed`."
    )
    if precision != "fp32":
        lines.append(f"- `train.precision = {precision}` changes results: compare only with runs of the same "
                     "precision; against another precision expect distribution-stable only.")
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
