"""DVC's Python internals: the repository object, its config reader and its YAML editor.

DVC documents ``dvc.api`` as its Python API; what seedbench needs beyond it
(the pipeline graph and ``status`` of :class:`dvc.repo.Repo`, the config levels
of :class:`dvc.config.Config`, the round-trip editor
``dvc.utils.serialize.modify_yaml`` that keeps dvc.lock's formatting) is
internal and lives here, as do the ``Repo`` methods behind ``dvc commit/pull/push/fetch`` and
``Repo.stage.collect``, which a cluster worker calls in-process (one Python per worker, not one per command). Imports are lazy (DVC is a heavy import).
Re-check on a DVC upgrade (``PRIVATE_API`` is tested).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

PRIVATE_API: tuple[tuple[str, str], ...] = (
    ("dvc.repo", "Repo.index"),
    ("dvc.repo", "Repo.status"),
    ("dvc.config", "Config.LEVELS"),
    ("dvc.config", "Config.load_one"),
    ("dvc.config", "Config.edit"),
    ("dvc.config", "ConfigError"),
    ("dvc.utils.serialize", "modify_yaml"),
    ("dvc.utils.serialize", "parse_yaml_for_update"),
    ("dvc.utils.serialize", "dumps_yaml"),
    ("dvc.repo.stage", "StageLoad.collect"),  # Repo.stage, set per instance
    ("dvc.repo", "Repo.commit"),
    ("dvc.repo", "Repo.pull"),
    ("dvc.repo", "Repo.push"),
    ("dvc.repo", "Repo.fetch"),
    ("scmrepo.git", "Git.ignore"),  # Repo.scm: what an output's ignore() calls
)


def open_repo(path: str) -> Any:
    """``dvc.repo.Repo(path)``: a context manager over the repository at ``path``."""
    from dvc.repo import Repo

    return Repo(path)


def open_config(dvc_dir: str) -> Any:
    """``dvc.config.Config`` of ``dvc_dir``, unvalidated (values as written at each level)."""
    from dvc.config import Config

    return Config(dvc_dir=dvc_dir, validate=False)


def config_levels() -> tuple[str, ...]:
    """DVC's config levels in precedence order: ``("system", "global", "repo", "local")``."""
    from dvc.config import Config

    return tuple(Config.LEVELS)


def config_error() -> type[Exception]:
    """The exception DVC raises for an unreadable config file."""
    from dvc.config import ConfigError

    return ConfigError


def modify_yaml(path: str) -> AbstractContextManager[Any]:
    """``dvc.utils.serialize.modify_yaml``: edit a YAML file in place, keeping DVC's formatting."""
    from dvc.utils.serialize import modify_yaml as _modify_yaml

    return _modify_yaml(path)


def load_yaml_for_update(text: str, path: str) -> Any:
    """``dvc.utils.serialize.parse_yaml_for_update``: ``text`` as DVC's round-trip YAML (what it edits dvc.lock with)."""
    from dvc.utils.serialize import parse_yaml_for_update

    return parse_yaml_for_update(text, path)


def dump_yaml_text(data: Any) -> str:
    """``dvc.utils.serialize.dumps_yaml``: ``data`` as DVC writes a YAML file (dvc.lock's exact formatting)."""
    from dvc.utils.serialize import dumps_yaml

    return str(dumps_yaml(data))
