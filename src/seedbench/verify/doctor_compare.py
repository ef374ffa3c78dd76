"""``seedbench doctor compare``: where two traces part, how much, and which environment differences may be why.

Pure functions over two traces (:mod:`seedbench.verify.doctor`): no torch.
The ops are walked in call order; the first op whose name, module or
output hash differs is the place where the runs part (later ops inherit the
difference). Its step, phase, module, shapes and the size of the difference
(from the outputs' summary numbers) are reported, with the first step whose
parameters differ and the environment keys that differ, most likely cause first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LIKELY_CAUSES: tuple[tuple[str, str], ...] = (
    ("determinism", "another determinism mode: other kernels and optimizer by design"),
    ("mode_env", "other kernel-dispatch variables (ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA, MKL_CBWR, …)"),
    ("torch_cpu_capability", "ATen runs another instruction set"),
    ("torch_settings", "other in-process settings (oneDNN, NNPACK, MKL threads)"),
    ("torch_threads", "another thread count: reductions may be split otherwise"),
    ("cpu_model", "another CPU: MKL VML and oneDNN pick code by vendor and model"),
    ("cpu_flags", "other instruction-set extensions"),
    ("torch_version", "another torch build"), ("mkl_version", "another MKL"), ("onednn_version", "another oneDNN"),
    ("numpy_version", "another numpy"), ("openblas_version", "another OpenBLAS"),
    ("num_workers", "another number of DataLoader workers (should change nothing)"),
    ("os", "another OS or C library (libm)"), ("python", "another Python"),
)
"""Environment keys of a trace, most likely cause of a difference first, with what a difference there means."""


def _key(op: Mapping[str, Any]) -> tuple[Any, ...]:
    return op["op"], op["module"]


def _hashes(op: Mapping[str, Any]) -> list[Any]:
    return [o.get("sha") for o in op["out"]]


def size_of_difference(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, float | None]:
    """``{"sum_delta", "absmax_delta", "relative"}`` from the first output's summary numbers (``None`` if absent)."""
    oa, ob = (a["out"] or [{}])[0], (b["out"] or [{}])[0]
    if "sum" not in oa or "sum" not in ob:
        return {"sum_delta": None, "absmax_delta": None, "relative": None}
    delta = abs(oa["sum"] - ob["sum"])
    absmax = abs(oa.get("absmax", 0.0) - ob.get("absmax", 0.0)) if "absmax" in oa and "absmax" in ob else None
    scale = max(abs(oa["sum"]), abs(ob["sum"]), 1e-300)
    return {"sum_delta": delta, "absmax_delta": absmax, "relative": delta / scale}


def first_divergence(a: list[Mapping[str, Any]], b: list[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The first op (in call order) where two op lists differ, or ``None`` when they are identical.

    Returns ``{"index", "kind": "output"|"sequence"|"length", "a", "b", "size"}``;
    ``a``/``b`` are the two op records (``None`` past the end of the shorter list).
    """
    for index, (oa, ob) in enumerate(zip(a, b, strict=False)):
        if _key(oa) != _key(ob):
            return {"index": index, "kind": "sequence", "a": oa, "b": ob, "size": None}
        if _hashes(oa) != _hashes(ob):
            return {"index": index, "kind": "output", "a": oa, "b": ob, "size": size_of_difference(oa, ob)}
    if len(a) != len(b):
        n = min(len(a), len(b))
        return {"index": n, "kind": "length", "a": a[n] if n < len(a) else None, "b": b[n] if n < len(b) else None,
                "size": None}
    return None


def first_parameter_difference(a: list[Mapping[str, Any]], b: list[Mapping[str, Any]]) -> dict[str, Any] | None:
    """``{"step", "names"}``: the first step after which the parameters differ (names of those that do), or ``None``."""
    for pa, pb in zip(a, b, strict=False):
        names = sorted(n for n in set(pa["params"]) | set(pb["params"])
                       if (pa["params"].get(n) or {}).get("sha") != (pb["params"].get(n) or {}).get("sha"))
        if names:
            return {"step": pa["step"], "names": names}
    return None


def environment_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Keys of the two environments that differ, most likely cause first: ``[{"key", "a", "b", "meaning"}]``."""
    known = dict(LIKELY_CAUSES)
    order = [k for k, _ in LIKELY_CAUSES] + sorted((set(a) | set(b)) - set(known))
    return [{"key": k, "a": a.get(k), "b": b.get(k), "meaning": known.get(k, "")}
            for k in order if a.get(k) != b.get(k) and k not in ("hostname",)]


def compare_traces(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """``{"identical", "first_op", "first_parameters", "environment", "n_ops"}`` for two traces."""
    first = first_divergence(a["ops"], b["ops"])
    params = first_parameter_difference(a["steps"], b["steps"])
    return {"identical": first is None and params is None, "first_op": first, "first_parameters": params,
            "environment": environment_differences(a["environment"], b["environment"]),
            "n_ops": [len(a["ops"]), len(b["ops"])]}


def _describe_op(op: Mapping[str, Any] | None) -> str:
    if op is None:
        return "(no op: the trace ended)"
    shapes = ", ".join("x".join(map(str, s)) or "scalar" for s in op["in_shapes"]) or "no tensor inputs"
    return (f"{op['op']} in {op['module'] or '(no module)'} (step {op['step']}, {op['phase']}, inputs {shapes}; "
            f"{'/'.join(op['in_dtypes']) or '-'})")


def describe_divergence(first: Mapping[str, Any] | None) -> str:
    """One line naming where two op lists part, or ``identical``."""
    if first is None:
        return "identical"
    if first["kind"] == "output":
        size = first["size"] or {}
        sized = "" if size.get("sum_delta") is None else \
            f"; |Δsum| {size['sum_delta']:.3g} (relative {size['relative']:.2g}), |Δmax|abs {size['absmax_delta']:.3g}"
        return f"first differing op #{first['index']}: {_describe_op(first['a'])}: outputs differ{sized}"
    return (f"op sequences part at #{first['index']}: A runs {_describe_op(first['a'])}, "
            f"B runs {_describe_op(first['b'])}")


def comparison_text(result: Mapping[str, Any], name_a: str = "A", name_b: str = "B") -> str:
    """What ``seedbench doctor compare`` prints."""
    lines = [f"{name_a} vs {name_b}: {result['n_ops'][0]} and {result['n_ops'][1]} ops"]
    if result["identical"]:
        lines.append("identical: every op's output and every parameter after every step has the same bits")
    else:
        lines.append(describe_divergence(result["first_op"]))
        params = result["first_parameters"]
        if params:
            names = ", ".join(params["names"][:6]) + (" …" if len(params["names"]) > 6 else "")
            lines.append(f"parameters first differ after step {params['step']}: {names}")
    for diff in result["environment"]:
        lines.append(f"environment {diff['key']}: {diff['a']!r} vs {diff['b']!r}"
                     + (f" ({diff['meaning']})" if diff["meaning"] else ""))
    return "\n".join(lines) + "\n"
