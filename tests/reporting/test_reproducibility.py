"""The reproducibility level a report claims follows from params, and says why."""

from __future__ import annotations

from seedbench.reporting.reproducibility import reproducibility_statement


def _text(**overrides: object) -> str:
    kwargs: dict = dict(determinism="portable", deterministic=True, torch_threads=1, n_replicates=5, seed_tolerance=0.01)
    kwargs.update(overrides)
    return reproducibility_statement(**kwargs)


def test_portable_claims_bit_exact_across_avx2_cpus() -> None:
    text = _text()
    assert "**Bit-exact expected** on x86-64 CPUs with AVX2 and with any thread count" in text
    assert "one AMD EPYC vs one Intel Xeon with torch 2.11" in text and "not yet checked" in text
    assert "`train.torch_threads = 1`" in text and "thread counts or CPUs" not in text
    assert "git diff --exit-code dvc.lock" in text
    assert "fresh set of 5 seeds" in text


def test_native_claims_bit_exact_only_on_the_same_cpu() -> None:
    text = _text(determinism="native")
    assert "only on the same CPU model" in text and "`train.torch_threads = 1`" in text
    assert "Seed-stable** (per-run |ΔRMSE| ≤ 0.01) with other library patch versions, thread counts or CPUs" in text


def test_nondeterministic_kernels_claim_only_seed_stable() -> None:
    text = _text(deterministic=False)
    assert "Seed-stable at best" in text and "Bit-exact" not in text


def test_one_seed_cannot_claim_distribution_stable() -> None:
    text = _text(n_replicates=1)
    assert "Distribution-stable cannot be claimed" in text and "no SEM" in text


def test_a_gpu_run_claims_bit_exact_only_on_the_same_gpu_and_gpu_software() -> None:
    text = _text(determinism="native", device="cuda")
    assert "only on the same GPU model with the same driver, CUDA, cuDNN and torch" in text
    assert "H200" in text and "distribution level only" in text and "x86-64 CPUs" not in text
    assert "other GPUs of one model family" in text and "changes results" not in text


def test_bf16_says_it_changes_results_and_ties_bits_to_the_gpu_architecture() -> None:
    text = _text(determinism="native", device="cuda", precision="bf16")
    assert "another GPU architecture (compute capability) gives distribution-stable only" in text
    assert "`train.precision = bf16` changes results" in text
