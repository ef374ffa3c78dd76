"""The one schema of ``params.yaml`` and its validation.

Every knob of the pipeline is declared here once, as a frozen dataclass field
with a type, a constraint and a line of documentation. :func:`load_params`
turns the YAML file into a :class:`Params` object or raises
:class:`~seedbench.core.errors.ParamsError` naming the key path (``train.mlp.lr``)
and what is allowed. Unknown keys, missing keys and wrong types are all
errors: a typo must never silently fall back to a default. The params
reference in the README is generated from this schema
(:mod:`seedbench.core.params_reference`); the value checks live in
:mod:`seedbench.core.params_checks`, so this module is the schema and its validation.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seedbench.core.errors import ParamsError
from seedbench.core.methodspec import (
    MethodSpec,
    available_methods,
    fraction_open,
    method_name_problem,
    method_path,
    non_negative,
    positive,
    read_method_spec,
)
from seedbench.core.names import (
    CPU_PRECISIONS,
    DETERMINISM_MODES,
    DEVICES,
    KNOWN_DATASETS,
    METHODS_DIR,
    PORTABLE_MAX_BATCH_SIZE,
    PRECISIONS,
    SENSOR_NAMES,
)
from seedbench.core.params_checks import (
    doc,
    endpoint,
    expected_hashes,
    http_url,
    iso_date,
    method_names,
    non_empty_text,
    one_of,
    patterns,
    replicates,
    repo_id,
    revision,
    seed,
    semver,
    unique_subset_of,
    windows,
)

KNOWN_SOURCES: tuple[str, ...] = ("builtin", "local", "hf")
"""Values of ``data.source``: the simulator, a local C-MAPSS folder, a Hugging Face Hub repository."""

KNOWN_REPO_TYPES: tuple[str, ...] = ("dataset", "model")
"""Hub repository types ``data.hf.repo_type`` may name."""

KNOWN_SENSORS = SENSOR_NAMES

@dataclass(frozen=True)
class BuiltinSourceParams:
    seed: int = field(metadata=doc("Seed of the fleet simulator: part of the data's identity, not of the experiment's randomness.", seed))
    scale: float = field(metadata=doc("Fraction of the real subset's unit counts to simulate (1.0 = as many units as NASA's files).", lambda v: None if 0 < v <= 1 else "a number in (0, 1]"))


@dataclass(frozen=True)
class LocalSourceParams:
    path: str = field(metadata=doc("Folder holding NASA's files `train_FD00X.txt`, `test_FD00X.txt`, `RUL_FD00X.txt` (the zip's `CMAPSSData/`); relative to the repository root or absolute. Not a DVC dep: after replacing its files run `dvc repro --force fetch` (or pin `expected_sha256`).", non_empty_text))
    link: bool = field(metadata=doc("Hard-link the files into `data/raw/` instead of copying them (same filesystem only; fails rather than silently copying)."))
    expected_sha256: dict[str, str] = field(metadata=doc("Optional pins `{file name: \"sha256:<hex>\"}`, e.g. `{train_FD001.txt: \"sha256:…\"}`; a file whose bytes differ fails the fetch. `{}` pins nothing.", expected_hashes))


@dataclass(frozen=True)
class HfMetadataParams:
    name: str = field(metadata=doc("Dataset name; `\"\"` = take it from the Hub's Croissant record (when `fetch_remote_metadata`)."))
    description: str = field(metadata=doc("Dataset description; `\"\"` = from Croissant."))
    license: str = field(metadata=doc("License (SPDX id or URL); `\"\"` = from Croissant."))
    citation: str = field(metadata=doc("How to cite the data (BibTeX or text); `\"\"` = from Croissant's `citeAs`."))


@dataclass(frozen=True)
class HfSourceParams:
    repo_id: str = field(metadata=doc("Hugging Face Hub repository `namespace/name` holding the C-MAPSS text files.", repo_id))
    repo_type: str = field(metadata=doc("Hub repository type.", one_of(KNOWN_REPO_TYPES)))
    revision: str = field(metadata=doc("Git revision: pin a 40-hex commit. A branch or tag is resolved once to its commit (recorded in SOURCE.json) with a warning to pin it.", revision))
    files: list[str] = field(metadata=doc("Glob patterns (huggingface_hub `allow_patterns` syntax) selecting repo files; each must match at least one file. A file named `train_FD00X.txt`, `test_FD00X.txt` or `RUL_FD00X.txt` anywhere in the repo becomes `data/raw/FD00X/<name>`.", patterns))
    endpoint: str = field(metadata=doc("Hub URL; `\"\"` = huggingface_hub's default (`HF_ENDPOINT`, else https://huggingface.co). Recorded with credentials redacted. The token comes from `HF_TOKEN` and is never recorded.", endpoint))
    fetch_remote_metadata: bool = field(metadata=doc("Read name, description, license and citation from the Hub's Croissant endpoint (hashes always come from the tree API). `false` makes no such call."))
    metadata: HfMetadataParams = field(metadata=doc("Dataset metadata recorded in SOURCE.json; a non-empty value here wins over Croissant's."))


@dataclass(frozen=True)
class DataParams:
    source: str = field(metadata=doc("Where raw data come from: `builtin` (the simulator), `local` (a folder of NASA's files), `hf` (a Hugging Face Hub repository).", one_of(KNOWN_SOURCES)))
    datasets: list[str] = field(metadata=doc("C-MAPSS subsets to benchmark on.", unique_subset_of(KNOWN_DATASETS)))
    builtin: BuiltinSourceParams = field(metadata=doc("Settings of the built-in simulator (`data.source: builtin`)."))
    local: LocalSourceParams = field(metadata=doc("Settings of a local C-MAPSS folder (`data.source: local`)."))
    hf: HfSourceParams = field(metadata=doc("Settings of a Hugging Face Hub repository (`data.source: hf`)."))


@dataclass(frozen=True)
class PrepareParams:
    rul_cap: int = field(metadata=doc("Piecewise-linear RUL target cap, in cycles.", positive))
    cap_test_labels: bool = field(metadata=doc("Cap the true test RUL at `rul_cap` too (the usual protocol of published RMSEs)."))
    sensors: list[str] = field(metadata=doc("Sensor columns used as features.", unique_subset_of(KNOWN_SENSORS)))
    windows: dict[str, int] = field(metadata=doc("Window length in cycles per dataset.", windows))


@dataclass(frozen=True)
class TrainParams:
    deterministic: bool = field(metadata=doc("Use only deterministic kernels (torch.use_deterministic_algorithms, cuDNN flags)."))
    warn_only: bool = field(metadata=doc("With `deterministic`, warn instead of failing on an op without a deterministic kernel."))
    determinism: str = field(metadata=doc("CPU kernels: `native` (fastest for this CPU; bit-exact only on the same CPU model) or `portable` (ATen and OpenBLAS pinned to AVX2 kernels, MKL `COMPATIBLE` on 1 thread, oneDNN and NNPACK off, OpenBLAS on 1 thread, set by `seedbench.determinism.launch` before Python starts and by the stage, and AdamW with an IEEE-exact square root; bit-exact expected on x86-64 CPUs with AVX2 and any `torch_threads`, same library versions: README, \"Determinism modes\", says what was checked).", one_of(DETERMINISM_MODES)))
    device: str = field(metadata=doc("Where training, validation and prediction run: `cpu`, or `cuda` (torch's current CUDA device; refused before training when torch sees none, never a silent CPU fallback). Model initialisation and the data order stay on the CPU, so both devices see the same initial weights and batches. `cuda` needs `determinism: native` (portable pins CPU kernels only). README: \"Training on a GPU\".", one_of(DEVICES)))
    precision: str = field(metadata=doc("Float arithmetic: `fp32` (IEEE float32, TF32 off for cuBLAS and cuDNN, set and read back), `tf32` (cuda only: TF32 tensor cores for float32 matmuls, convolutions and LSTMs), `bf16` (bfloat16 autocast of the forward pass; `native` only). Changes results: recorded in every manifest, and runs of different precisions are only distribution-comparable.", one_of(PRECISIONS)))
    torch_threads: int = field(metadata=doc("torch intra-op threads per training process (recorded: in `native` mode it can change float reductions; in `portable` mode it changes speed only).", positive))
    num_workers: int = field(metadata=doc("DataLoader worker processes (0 = load in the training process).", non_negative))
    val_fraction: float = field(metadata=doc("Fraction of training units (whole units) held out for early stopping.", fraction_open))
    method_hparams: dict[str, dict[str, Any]] = field(default_factory=dict, metadata={"methods": True})
    """``train.<method>`` sections, validated against ``methods/<method>.py``'s declaration (not a key of its own)."""

    def hparams(self, method: str) -> dict[str, Any]:
        """The hyper-parameters of ``method`` (``train.<method>``) as a plain dict, in declared order."""
        if method not in self.method_hparams:
            raise ParamsError(f"methods: unknown method {method!r}; choose from {', '.join(self.method_hparams)}")
        return dict(self.method_hparams[method])


@dataclass(frozen=True)
class StatsParams:
    confidence: float = field(metadata=doc("Confidence level of every interval.", fraction_open))
    n_resamples: int = field(metadata=doc("Bootstrap resamples per interval.", lambda v: None if v >= 100 else "an integer >= 100"))
    seed_stable_tolerance: float = field(metadata=doc("Largest per-run |ΔRMSE| that still counts as seed-stable.", non_negative))


def _hparam_search_problem(value: dict[str, str], train: TrainParams) -> str | None:
    """What is wrong with ``publish.hparam_search`` given the validated method sections (``None`` when fine)."""
    for key, text in value.items():
        parts = key.split(".")
        known = len(parts) == 3 and parts[0] == "train" and parts[2] in train.method_hparams.get(parts[1], {})
        if not known:
            return f"keys naming a hyper-parameter, train.<method>.<key> such as train.mlp.lr (unknown: {key})"
        if not text.strip():
            return f"a non-empty description of the search for {key}"
    return None


@dataclass(frozen=True)
class PublishParams:
    date_published: str = field(metadata=doc("Croissant `datePublished` of every dataset description (YYYY-MM-DD): a fixed date, never the clock, so the published files are byte-deterministic.", iso_date))
    version: str = field(metadata=doc("Croissant `version` of the dataset descriptions (semantic version MAJOR.MINOR.PATCH).", semver))
    url: str = field(metadata=doc("Croissant `url` of builtin and local data: where this benchmark is published (e.g. its repository). Hub data use their Hub page.", http_url))
    creator: str = field(metadata=doc("Croissant `creator` of builtin data (whoever runs the simulator: the benchmark's authors).", non_empty_text))
    hparam_search: dict[str, str] = field(metadata=doc("Hyper-parameter search behind the `train.*` values, for publish/CHECKLIST.md: `{train.<method>.<key>: \"range and procedure\"}`, e.g. `{train.mlp.lr: \"log-uniform [1e-4, 1e-2], 20 trials, validation RMSE\"}`; `{}` = no search (values set by hand)."))


@dataclass(frozen=True)
class Params:
    seed: int = field(metadata=doc("Experiment seed: every random stream of the experiment derives from it.", seed))
    replicates: list[int] = field(metadata=doc("Replicate indices; replicate r's seed is derived from (seed, r).", replicates))
    methods: list[str] = field(metadata=doc("Methods to train on every dataset: method `<name>` is the file `methods/<name>.py` (README, \"Benchmark your own method in 10 minutes\").", method_names))
    data: DataParams = field(metadata=doc("Raw data: where from, which subsets."))
    prepare: PrepareParams = field(metadata=doc("Preprocessing: labels, features, scaling, windows."))
    train: TrainParams = field(metadata=doc("Training: determinism, threads, hyper-parameters per method."))
    stats: StatsParams = field(metadata=doc("Aggregation over seeds."))
    publish: PublishParams = field(metadata=doc("Published descriptions: Croissant metadata and the checklist's hand-filled items."))

    def window(self, dataset: str) -> int:
        """The window length (cycles) of ``dataset``."""
        return self.prepare.windows[dataset]

    def runs(self) -> list[tuple[str, str, int]]:
        """Every run ``(dataset, method, replicate)`` of the matrix, in dvc.yaml's order (datasets, methods, replicates)."""
        return [(d, m, int(r)) for d in self.data.datasets for m in self.methods for r in self.replicates]


# --------------------------------------------------------------------------- validation


def type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp)
        return f"a list of {type_name(item)}s"
    if origin is dict:
        key, value = typing.get_args(tp)
        return f"a mapping of {type_name(key)} to {type_name(value)}"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "integer", float: "number", bool: "boolean", str: "string"}.get(tp, str(tp))


def _convert(value: Any, tp: Any, path: str) -> Any:
    """Convert a YAML value to ``tp`` or raise ParamsError naming ``path``."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, path)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ParamsError(f"params.yaml: {path}: expected {type_name(tp)}, got {_short(value)}")
        return [_convert(v, item_tp, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        key_tp, value_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ParamsError(f"params.yaml: {path}: expected {type_name(tp)}, got {_short(value)}")
        return {_convert(k, key_tp, f"{path} key"): _convert(v, value_tp, f"{path}.{k}") for k, v in value.items()}
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif tp is str:
        ok = isinstance(value, str)
    else:  # pragma: no cover - schema bug
        raise TypeError(f"unsupported schema type {tp!r} at {path}")
    if not ok:
        raise ParamsError(f"params.yaml: {path}: expected {type_name(tp)}, got {_short(value)}")
    return value


def _build(cls: type, raw: Any, path: str) -> Any:
    where = path or "top level"
    if not isinstance(raw, Mapping):
        raise ParamsError(f"params.yaml: {where}: expected a mapping, got {_short(raw)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    keys = [n for n, f in fields.items() if not f.metadata.get("methods")]
    unknown = sorted(set(raw) - set(keys), key=str)
    if unknown:
        prefix = f"{path}." if path else ""
        methods = len(keys) < len(fields)
        raise ParamsError(
            f"params.yaml: unknown key {prefix}{unknown[0]}; allowed keys{' under ' + path if path else ''}: "
            + ", ".join(keys) + (f", or a method <name> with a file {METHODS_DIR}/<name>.py" if methods else "")
        )
    values = {}
    for name, fld in fields.items():
        if fld.metadata.get("methods"):
            continue  # method sections: validated against their files (_method_sections)
        key_path = f"{path}.{name}" if path else name
        if name not in raw:
            raise ParamsError(f"params.yaml: missing key {key_path} ({fld.metadata.get('doc', '')})")
        value = _convert(raw[name], hints[name], key_path)
        check = fld.metadata.get("check")
        problem = check(value) if check else None
        if problem:
            raise ParamsError(f"params.yaml: {key_path}: expected {problem}, got {_short(raw[name])}")
        values[name] = value
    return cls(**values)


def _split_method_sections(raw: Any, methods_dir: Path) -> tuple[Any, dict[str, Any]]:
    """``raw`` without its ``train.<method>`` sections (those with a method file), and those sections."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("train"), Mapping):
        return raw, {}
    fixed = {f.name for f in dataclasses.fields(TrainParams) if not f.metadata.get("methods")}
    train = dict(raw["train"])
    sections = {k: train.pop(k) for k in list(train) if k not in fixed and isinstance(k, str)
                and method_name_problem(k) is None and method_path(methods_dir, k).is_file()}
    return {**raw, "train": train}, sections


def _method_hparams(spec: MethodSpec, raw: Any) -> dict[str, Any]:
    """``train.<method>`` validated against ``spec``: exactly its keys, each of its type and check."""
    path = f"train.{spec.name}"
    if not isinstance(raw, Mapping):
        raise ParamsError(f"params.yaml: {path}: expected a mapping (the hyper-parameters of {spec.path.as_posix()}), "
                          f"got {_short(raw)}")
    unknown = sorted((k for k in raw if k not in spec.keys()), key=str)
    if unknown:
        raise ParamsError(f"params.yaml: unknown key {path}.{unknown[0]}; allowed keys under {path} "
                          f"(declared in {spec.path.as_posix()}): {', '.join(spec.keys())}")
    values: dict[str, Any] = {}
    for h in spec.hparams:
        key_path = f"{path}.{h.name}"
        if h.name not in raw:
            raise ParamsError(f"params.yaml: missing key {key_path} ({h.doc} Default: {h.default!r})")
        value = _convert(raw[h.name], h.tp, key_path)
        problem = h.check(value) if h.check else None
        if problem:
            raise ParamsError(f"params.yaml: {key_path}: expected {problem}, got {_short(raw[h.name])}")
        values[h.name] = value
    return values


def _method_sections(methods: list[str], sections: dict[str, Any], methods_dir: Path) -> dict[str, dict[str, Any]]:
    """Every ``train.<method>`` section validated against its file; every listed method has one."""
    fixed = {f.name for f in dataclasses.fields(TrainParams) if not f.metadata.get("methods")}
    for name in methods:
        if name in fixed:
            raise ParamsError(f"params.yaml: methods: {name!r} collides with the setting train.{name}; "
                              f"rename the method (its file {METHODS_DIR}/{name}.py and its train section)")
        if not method_path(methods_dir, name).is_file():
            found = ", ".join(available_methods(methods_dir)) or "none"
            raise ParamsError(f"params.yaml: methods: no method file {method_path(methods_dir, name).as_posix()} "
                              f"for {name!r} (method files found: {found})")
        if name not in sections:
            raise ParamsError(f"params.yaml: missing key train.{name} (the hyper-parameters of "
                              f"{method_path(methods_dir, name).as_posix()})")
    return {name: _method_hparams(read_method_spec(method_path(methods_dir, name), name), raw)
            for name, raw in sections.items()}


def _check_cross_keys(params: Params) -> None:
    missing = [d for d in params.data.datasets if d not in params.prepare.windows]
    if missing:
        raise ParamsError(
            f"params.yaml: prepare.windows: no window for dataset {missing[0]} (listed in data.datasets); "
            f"add e.g. `{missing[0]}: 30`"
        )
    _check_device_keys(params.train)
    if params.train.determinism == "portable":
        for method in params.methods:
            batch_size = params.train.hparams(method).get("batch_size")
            if batch_size is not None and batch_size > PORTABLE_MAX_BATCH_SIZE:
                raise ParamsError(
                    f"params.yaml: train.{method}.batch_size: at most {PORTABLE_MAX_BATCH_SIZE} with "
                    f"train.determinism: portable (larger sums are split by thread), got {batch_size}"
                )


def _check_device_keys(train: TrainParams) -> None:
    """Refuse device, precision and determinism combinations that have no meaning (ParamsError naming the key)."""
    if train.device == "cpu" and train.precision not in CPU_PRECISIONS:
        raise ParamsError(f"params.yaml: train.precision: expected one of {', '.join(CPU_PRECISIONS)} with train.device: "
                          f"cpu ({train.precision} is a CUDA tensor-core format), got {train.precision!r}")
    if train.determinism == "portable" and train.device != "cpu":
        raise ParamsError(f"params.yaml: train.determinism: expected native with train.device: {train.device} "
                          "(portable pins CPU kernels only; GPU runs are judged by GPU model, driver, CUDA and cuDNN), "
                          "got 'portable'")
    if train.determinism == "portable" and train.precision != "fp32":
        raise ParamsError(f"params.yaml: train.precision: expected fp32 with train.determinism: portable (its pinned "
                          f"kernels are float32 ones), got {train.precision!r}")


def params_from_dict(raw: Any, methods_dir: str | Path = METHODS_DIR) -> Params:
    """Validate a parsed params mapping and return :class:`Params` (raises :class:`ParamsError`).

    ``train.<method>`` sections are validated against the declarations of the method
    files in ``methods_dir`` (``seedbench.core.methodspec``; the files are parsed, never run).
    """
    methods_dir = Path(methods_dir)
    rest, sections = _split_method_sections(raw, methods_dir)
    params = _build(Params, rest, "")
    train = dataclasses.replace(params.train, method_hparams=_method_sections(params.methods, sections, methods_dir))
    params = dataclasses.replace(params, train=train)
    _check_cross_keys(params)
    problem = _hparam_search_problem(params.publish.hparam_search, params.train)
    if problem:
        raise ParamsError(f"params.yaml: publish.hparam_search: expected {problem}, "
                          f"got {_short(params.publish.hparam_search)}")
    return params


MAX_PARAMS_BYTES = 1 << 20
"""Largest params file :func:`load_params` reads (1 MiB; the default profile is about 5 KiB)."""


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters: an error message never echoes a whole file."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def load_params(path: str | Path = "params.yaml", methods_dir: str | Path = METHODS_DIR) -> Params:
    """Read and validate ``params.yaml`` (raises :class:`ParamsError` naming file and key).

    The file must be a regular file of at most :data:`MAX_PARAMS_BYTES`; a folder,
    a device such as ``/dev/zero`` or an unreadable file is a one-line error, and
    no message quotes more than a few dozen characters of the file. Method sections
    are validated against the method files in ``methods_dir`` (relative to the
    working directory, the repository root for every stage).
    """
    from seedbench.core.files import read_bounded_bytes

    path = Path(path)
    try:
        data = read_bounded_bytes(path, MAX_PARAMS_BYTES)
    except FileNotFoundError:
        raise ParamsError(f"{path}: params file not found") from None
    except IsADirectoryError:
        raise ParamsError(f"{path}: is a directory; expected a params YAML file") from None
    except PermissionError:
        raise ParamsError(f"{path}: permission denied; expected a readable params YAML file") from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc).removeprefix(f"{path}: ")
        raise ParamsError(f"{path}: {reason}; expected a params YAML file of at most {MAX_PARAMS_BYTES} bytes") from None
    try:
        raw = yaml.safe_load(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ParamsError(f"{path}: not UTF-8 text (byte {exc.start}); expected a params YAML file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ParamsError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', None) or 'cannot parse'}") from None
    try:
        return params_from_dict(raw, methods_dir)
    except ParamsError as exc:
        raise ParamsError(str(exc).replace("params.yaml:", f"{path}:", 1)) from None


def params_as_dict(params: Params) -> dict[str, Any]:
    """Plain nested dict of ``params`` as params.yaml spells it (for config hashes and manifests)."""
    out = dataclasses.asdict(params)
    out["train"].update(out["train"].pop("method_hparams"))
    return out
