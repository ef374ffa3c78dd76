"""Which ATen ops portable training may run, one line of reason each; and a dispatch mode that lists or refuses ops.

Portable mode pins ATen (``ATEN_CPU_CAPABILITY=avx2``), MKL's BLAS
(``MKL_CBWR=COMPATIBLE``, one thread), turns oneDNN and NNPACK off
(:mod:`seedbench.determinism.modes`). An op that reaches another CPU-dispatched
library escapes those pins. The one known so far is MKL's vector math library
(VML): ATen's ``aten/src/ATen/cpu/vml.h`` sends ``acos asin atan cos erf erfc
erfinv exp log log10 log1p sin sqrt tan tanh lgamma`` to VML in MKL builds
(their float kernels in ``UnaryOpsKernel.cpp`` call ``vml::v<op>``), and
``MKL_CBWR`` does not pin VML across vendors: ``sqrt`` differed between an
AMD EPYC and an Intel Xeon with the same torch build, while ``exp``, ``log``
and ``tanh`` matched (REFERENCE.md, "Cross-vendor probe"). FFTs go to MKL's
DFT or pocketfft, measured nowhere.

- :data:`PORTABLE_OPS`: every op one training step of every built-in method
  runs in portable mode (forward, loss, backward, optimizer step, validation
  forward), with why its bits do not depend on the CPU. The op audit test
  (``tests/determinism/test_opaudit.py``) fails on any op not listed, so a new
  method, a torch upgrade or a new op cannot silently break the portable claim.
- :data:`UNPINNED_OPS`: ops known to escape the pins; portable training
  refuses them (:class:`RefuseUnpinnedOps`) on its first step and first
  validation pass, naming the op.

Op names are ``namespace::name`` of the overload packet (``aten::addmm``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from seedbench.compat.torch import TorchDispatchMode
from seedbench.core.errors import DeterminismError

_ELEMENTWISE = "ATen element-wise kernel, AVX2 pinned, exactly rounded IEEE arithmetic, thread-count independent"
_MEMORY = "no arithmetic: moves, views or fills values"
_GEMM = "MKL GEMM under MKL_CBWR=COMPATIBLE on one thread (cross-vendor SSE2 code path; measured equal AMD vs Intel)"
_REDUCE = ("ATen reduction, AVX2 pinned; split by thread only above 32,768 elements to one value, "
           "which portable mode refuses (batch_size <= 32,768)")

PORTABLE_OPS: dict[str, str] = {
    # memory, views, copies, fills
    "aten::_to_copy": _MEMORY, "aten::clone": _MEMORY, "aten::copy_": _MEMORY, "aten::detach": _MEMORY,
    "aten::empty": _MEMORY, "aten::empty_like": _MEMORY, "aten::empty_strided": _MEMORY, "aten::fill_": _MEMORY,
    "aten::zero_": _MEMORY, "aten::zeros": _MEMORY, "aten::zeros_like": _MEMORY, "aten::ones_like": _MEMORY,
    "aten::new_empty_strided": _MEMORY, "aten::new_zeros": _MEMORY, "aten::new_empty": _MEMORY,
    "aten::view": _MEMORY, "aten::_unsafe_view": _MEMORY, "aten::reshape": _MEMORY, "aten::t": _MEMORY,
    "aten::transpose": _MEMORY, "aten::permute": _MEMORY, "aten::expand": _MEMORY, "aten::squeeze": _MEMORY,
    "aten::unsqueeze": _MEMORY, "aten::select": _MEMORY, "aten::slice": _MEMORY, "aten::split": _MEMORY,
    "aten::split_with_sizes": _MEMORY, "aten::unbind": _MEMORY, "aten::chunk": _MEMORY, "aten::cat": _MEMORY,
    "aten::stack": _MEMORY, "aten::constant_pad_nd": _MEMORY, "aten::index": "gather by index: " + _MEMORY,
    "aten::index_select": "gather by index: " + _MEMORY, "aten::as_strided": _MEMORY, "aten::alias": _MEMORY,
    "aten::lift_fresh": _MEMORY, "aten::_local_scalar_dense": "reads one value (.item()): " + _MEMORY,
    "aten::set_": _MEMORY, "aten::unsafe_split": _MEMORY, "aten::select_backward": "scatters a gradient: " + _MEMORY,
    "profiler::_record_function_enter_new": "profiler marker (optimizer.step): no arithmetic",
    "profiler::_record_function_exit": "profiler marker (optimizer.step): no arithmetic", "aten::contiguous": _MEMORY, "aten::im2col": "unfolds windows for convolution: " + _MEMORY,
    "aten::col2im": "folds convolution gradients back: ATen loop, fixed order of additions, thread-count independent",
    # GEMM
    "aten::addmm": _GEMM, "aten::mm": _GEMM, "aten::bmm": _GEMM, "aten::baddbmm": _GEMM, "aten::addmv": _GEMM,
    "aten::mv": _GEMM,
    "aten::convolution": "oneDNN and NNPACK off (PORTABLE_TORCH_SETTINGS): ATen's slow_conv, im2col + " + _GEMM,
    "aten::convolution_backward": "oneDNN off: ATen's slow_conv backward, col2im + " + _GEMM,
    # element-wise arithmetic (exactly rounded)
    "aten::add": _ELEMENTWISE, "aten::add_": _ELEMENTWISE, "aten::sub": _ELEMENTWISE, "aten::sub_": _ELEMENTWISE,
    "aten::mul": _ELEMENTWISE, "aten::mul_": _ELEMENTWISE, "aten::div": _ELEMENTWISE, "aten::div_": _ELEMENTWISE,
    "aten::neg": _ELEMENTWISE, "aten::rsub": _ELEMENTWISE, "aten::lerp_": _ELEMENTWISE,
    "aten::addcmul_": _ELEMENTWISE, "aten::addcdiv_": _ELEMENTWISE, "aten::pow": _ELEMENTWISE + " (pow(x, 2) is x*x)",
    "aten::relu": _ELEMENTWISE, "aten::relu_": _ELEMENTWISE, "aten::threshold_backward": _ELEMENTWISE,
    "aten::where": _ELEMENTWISE, "aten::gt": _ELEMENTWISE, "aten::ge": _ELEMENTWISE, "aten::le": _ELEMENTWISE,
    "aten::lt": _ELEMENTWISE, "aten::eq": _ELEMENTWISE,
    "aten::mse_loss": _REDUCE, "aten::mse_loss_backward": _ELEMENTWISE,
    # transcendental: Sleef or ATen's own vectorised code, or VML measured equal across vendors
    "aten::sigmoid": "ATen's vectorised sigmoid (exp in Sleef, not VML); measured equal AMD vs Intel",
    "aten::sigmoid_": "ATen's vectorised sigmoid (exp in Sleef, not VML); measured equal AMD vs Intel",
    "aten::sigmoid_backward": _ELEMENTWISE,
    "aten::tanh": "reaches MKL VML (vsTanh) but measured equal on AMD EPYC and Intel Xeon (LSTM cell)",
    "aten::tanh_": "reaches MKL VML (vsTanh) but measured equal on AMD EPYC and Intel Xeon (LSTM cell)",
    "aten::tanh_backward": _ELEMENTWISE,
    # reductions
    "aten::sum": _REDUCE, "aten::mean": _REDUCE,
    # random
    "aten::bernoulli_": "dropout mask from torch's CPU generator (mt19937): same draws on every CPU; measured",
    "aten::native_dropout": "dropout mask from torch's CPU generator (mt19937): same draws on every CPU; measured",
    "aten::native_dropout_backward": _ELEMENTWISE,
    "aten::uniform_": "weight initialisation from torch's CPU generator (mt19937), one exactly rounded affine map",
    "aten::random_": "DataLoader base seed from a seeded torch.Generator (mt19937): integer draws",
    "aten::ones": _MEMORY,
    "aten::randperm": "batch order from a seeded torch.Generator (mt19937): integer draws, CPU independent",
}
"""Every op portable training of the built-in methods may run → why its bits are the same on any AVX2 CPU."""

UNPINNED_OPS: dict[str, str] = {
    **{f"aten::{op}{suffix}": f"{op}: float kernel calls MKL VML (aten/src/ATen/cpu/vml.h), which MKL_CBWR does not "
                              "pin across CPU vendors"
       for op in ("acos", "asin", "atan", "cos", "erf", "erfc", "erfinv", "log10", "log1p", "sin", "tan", "lgamma")
       for suffix in ("", "_")},
    "aten::sqrt": "sqrt: MKL VML vsSqrt, measured different on AMD EPYC and Intel Xeon; use "
                  "seedbench.training.optim.exact_sqrt",
    "aten::sqrt_": "sqrt: MKL VML vsSqrt, measured different on AMD EPYC and Intel Xeon; use "
                   "seedbench.training.optim.exact_sqrt",
    **{f"aten::{op}": "FFT: MKL DFT or pocketfft, outside the portable pins, not measured across CPUs"
       for op in ("_fft_r2c", "_fft_c2c", "_fft_c2r")},
}
"""Ops known to escape portable mode's pins → why; portable training refuses them."""


def op_name(func: Any) -> str:
    """``namespace::name`` of an ATen overload (``aten.addmm.default`` → ``aten::addmm``)."""
    return f"{func.namespace}::{func.overloadpacket.__name__}"


class OpRecorder(TorchDispatchMode):
    """Dispatch mode that appends every op's :func:`op_name` to :attr:`ops`, in call order; changes nothing else."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.ops.append(op_name(func))
        return func(*args, **(kwargs or {}))


class RefuseUnpinnedOps(TorchDispatchMode):
    """Dispatch mode that raises :class:`DeterminismError` at the first op of ``refused`` (default :data:`UNPINNED_OPS`)."""

    def __init__(self, refused: Mapping[str, str] | None = None, where: str = "portable training") -> None:
        super().__init__()
        self.refused = UNPINNED_OPS if refused is None else refused
        self.where = where

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = op_name(func)
        if name in self.refused:
            raise DeterminismError(f"train.determinism: portable: {self.where} calls {name}, whose CPU kernel is not "
                                   f"pinned ({self.refused[name]}); change the method or use train.determinism: native")
        return func(*args, **(kwargs or {}))


def unlisted_ops(ops: list[str], allowed: Mapping[str, str] = PORTABLE_OPS) -> list[str]:
    """The ops of ``ops`` not in ``allowed``, each once, in order of first call."""
    return list(dict.fromkeys(op for op in ops if op not in allowed))


def check_ops(ops: list[str], allowed: Mapping[str, str] = PORTABLE_OPS) -> None:
    """Raise :class:`DeterminismError` naming every op of ``ops`` not in ``allowed`` (with its reason if it is unpinned)."""
    extra = unlisted_ops(ops, allowed)
    if extra:
        why = "; ".join(f"{op}: {UNPINNED_OPS.get(op, 'not audited for portable mode')}" for op in extra)
        raise DeterminismError(f"portable op audit: {len(extra)} op(s) outside seedbench.determinism.opaudit."
                               f"PORTABLE_OPS: {why}")


def record_ops(fn: Callable[[], Any]) -> list[str]:
    """Run ``fn()`` under :class:`OpRecorder`; return the ops it called, in order."""
    with OpRecorder() as recorder:
        fn()
    return recorder.ops
