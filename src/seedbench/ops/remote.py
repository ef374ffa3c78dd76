"""DVC remotes (the shared cache): set up the default one, push and pull with hints on failure.

DVC stays the engine: :func:`transfer` runs ``dvc push`` / ``dvc pull`` /
``dvc fetch`` in a subprocess, and users can always type those commands
themselves. What this module adds:

- :func:`configure_local_remote` — the default, embedded remote: a local folder
  (``../seedbench-remote`` unless told otherwise), written idempotently to
  ``.dvc/config.local`` (machine-specific, never committed) and only when no
  other default remote is configured.
- :func:`resolve_remote` — which remote a command would use, with its
  non-secret settings, and which secrets are set (names only).
- :func:`~seedbench.ops.remote_failures.explain_failure` — DVC's own error line plus a hint that names the
  remote and the setting to fix (credentials, bucket, endpoint, folder).
- :func:`~seedbench.ops.secrets.redact` — every message passes through it: secret values from the DVC
  config (and any given by the caller) and ``user:password@`` parts of URLs
  never reach a log or a file.

Secrets are refused in the committed ``.dvc/config``: :func:`transfer` raises
:class:`~seedbench.core.errors.RemoteError` naming the option and the
``dvc remote modify --local`` command that moves it to ``.dvc/config.local``.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from seedbench.core.errors import RemoteError
from seedbench.core.hashing import redact_url
from seedbench.ops.remote_failures import explain_failure, hint
from seedbench.ops.secrets import is_secret_option, redact

DEFAULT_LOCAL_REMOTE_NAME = "local"
"""Name of the embedded default remote that ``make setup`` configures."""

DEFAULT_LOCAL_REMOTE_PATH = "../seedbench-remote"
"""Folder of the embedded default remote, relative to the repository root."""

Action = Literal["push", "pull", "fetch"]

@dataclass(frozen=True)
class Remote:
    """One DVC remote as a command would use it.

    Attributes
    ----------
    name : str
        Remote name (``dvc remote list``).
    url : str
        Its URL, credentials redacted (a local remote: the absolute folder).
    scheme : str
        ``s3``, ``gs``, ``azure``, ``ssh``, ``http(s)``, … or ``local``.
    settings : dict of str to str
        Non-secret options (``endpointurl``, ``region``, ``profile``, …).
    secret_options : tuple of str
        Names of the secret options that are set (values never kept here).
    committed_secrets : tuple of str
        Secret options set in the committed ``.dvc/config`` (should be empty).
    defined_in : str
        Config level that sets the URL: ``repo`` (.dvc/config), ``local``
        (.dvc/config.local), ``global`` or ``system``.
    """

    name: str
    url: str
    scheme: str
    settings: dict[str, str]
    secret_options: tuple[str, ...]
    committed_secrets: tuple[str, ...]
    defined_in: str
    secret_values: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def describe(self) -> str:
        """``remote 'NAME' (URL, endpointurl …)``: how messages name it."""
        endpoint = self.settings.get("endpointurl")
        where = f"{self.url}, endpointurl {redact_url(endpoint)}" if endpoint else self.url
        return f"remote {self.name!r} ({where})"


def _scheme(url: str) -> str:
    match = re.match(r"^([a-z][a-z0-9+.-]*)://", url, re.IGNORECASE)
    if match is None or len(match.group(1)) == 1:  # no scheme, or a Windows drive letter
        return "local"
    return match.group(1).lower()


def _load_levels(repo: Path) -> dict[str, dict[str, Any]]:
    """The DVC config of each level (system, global, repo, local), unvalidated values as written."""
    from seedbench.compat.dvc import (  # DVC's own reader and precedence
        config_error,
        config_levels,
        open_config,
    )

    dvc_dir = repo / ".dvc"
    if not dvc_dir.is_dir():
        raise RemoteError(f"{repo}: not a DVC repository (no .dvc/ folder); run seedbench commands at the repository root")
    try:
        config = open_config(str(dvc_dir))
        return {level: config.load_one(level) for level in config_levels()}
    except config_error() as exc:
        raise RemoteError(f"{dvc_dir}: DVC config unreadable: {redact(str(exc))}") from None


def _merged(levels: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, str]]:
    """(core section, remotes by name with merged options, level that sets each remote's url)."""
    core: dict[str, Any] = {}
    remotes: dict[str, dict[str, Any]] = {}
    url_level: dict[str, str] = {}
    for level in ("system", "global", "repo", "local"):  # later levels win, as in DVC
        conf = levels.get(level) or {}
        core.update(conf.get("core") or {})
        for name, options in (conf.get("remote") or {}).items():
            remotes.setdefault(name, {}).update(options or {})
            if "url" in (options or {}):
                url_level[name] = level
    return core, remotes, url_level


def _absolute_local_url(url: str, level: str, repo: Path) -> str:
    """DVC resolves a relative local remote path against the folder of the config file that holds it."""
    if _scheme(url) != "local" or os.path.isabs(url):
        return url
    base = repo / ".dvc" if level in ("repo", "local") else Path.cwd()
    return str((base / url).resolve())


def resolve_remote(repo: str | os.PathLike[str] = ".", name: str | None = None) -> Remote:
    """The remote a DVC transfer would use: ``name``, else the default (``core.remote``).

    Raises :class:`RemoteError` when no default is set or ``name`` is unknown,
    with the command that fixes it.
    """
    root = Path(repo)
    levels = _load_levels(root)
    core, remotes, url_level = _merged(levels)
    chosen = name or core.get("remote")
    if not chosen:
        raise RemoteError(
            "no DVC remote configured (core.remote is unset in .dvc/config and .dvc/config.local): run `make setup` "
            f"for the local folder remote ({DEFAULT_LOCAL_REMOTE_PATH}; `make setup REMOTE=/path` for another), "
            "or add a team remote: `dvc remote add -d NAME URL` (README: Remote cache)"
        )
    if chosen not in remotes or "url" not in remotes[chosen]:
        known = ", ".join(sorted(remotes)) or "none"
        where = "-r/--remote" if name else "core.remote"
        raise RemoteError(
            f"{where}: remote {chosen!r} is not defined (known remotes: {known}); see `dvc remote list`, "
            f"or add it: `dvc remote add {chosen} URL`"
        )
    options = {str(k): v for k, v in remotes[chosen].items()}
    secrets = {k: str(v) for k, v in options.items() if is_secret_option(k) and v not in (None, "")}
    committed = (levels.get("repo") or {}).get("remote", {}).get(chosen, {}) or {}
    url = str(options["url"])
    secret_values = tuple(secrets.values()) + _url_password(url)
    return Remote(
        name=chosen,
        url=redact(_absolute_local_url(url, url_level[chosen], root), secret_values),
        scheme=_scheme(url),
        settings={k: redact(str(v), secret_values) for k, v in sorted(options.items()) if k != "url" and k not in secrets},
        secret_options=tuple(sorted(secrets)),
        committed_secrets=tuple(sorted(k for k in committed if is_secret_option(k) and committed[k] not in (None, ""))),
        defined_in=url_level[chosen],
        secret_values=secret_values,
    )


def _url_password(url: str) -> tuple[str, ...]:
    match = re.match(r"^[a-z][a-z0-9+.-]*://([^/@\s]+)@", url, re.IGNORECASE)
    if not match:
        return ()
    return tuple(part for part in match.group(1).split(":") if part)


def check_no_committed_secrets(remote: Remote) -> None:
    """Raise :class:`RemoteError` when the committed ``.dvc/config`` holds a secret of ``remote``."""
    if remote.committed_secrets:
        options = ", ".join(f"remote.{remote.name}.{o}" for o in remote.committed_secrets)
        first = remote.committed_secrets[0]
        raise RemoteError(
            f".dvc/config (committed to git) holds {options}: move it out of git: "
            f"`dvc remote modify --local {remote.name} {first} VALUE` then "
            f"`dvc remote modify --unset {remote.name} {first}` (credentials belong in .dvc/config.local, "
            "a credentials file or the environment; README: Remote cache)"
        )


# ---------------------------------------------------------------------------------------------
# Running DVC.

@dataclass(frozen=True)
class TransferResult:
    """A successful transfer: the remote used and DVC's summary line (``4 files pushed``)."""

    action: str
    remote: Remote
    summary: str


def transfer(
    action: Action,
    repo: str | os.PathLike[str] = ".",
    *,
    remote: str | None = None,
    targets: Sequence[str] = (),
    jobs: int | None = None,
    dvc: Sequence[str] = ("dvc",),
    env: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
    timeout: float | None = None,
) -> TransferResult:
    """Run ``dvc ACTION -r REMOTE [-j JOBS] [TARGETS…]`` in ``repo``; raise :class:`RemoteError` with a hint on failure.

    Parameters
    ----------
    action : {"push", "pull", "fetch"}
    repo : path
        Repository root.
    remote : str, optional
        Remote name; default: DVC's default remote (``core.remote``).
    targets : sequence of str
        Stages or paths to transfer; empty = everything ``dvc.lock`` pins.
    jobs : int, optional
        Parallel transfers (DVC's ``-j``).
    dvc : sequence of str
        The ``dvc`` command (e.g. ``[sys.executable, "-m", "dvc"]``).
    env : mapping, optional
        Environment of the subprocess (default: inherited).
    secrets : iterable of str
        Extra values to redact from messages (e.g. credentials from the environment).
    timeout : float, optional
        Seconds before the transfer is abandoned.
    """
    if action not in ("push", "pull", "fetch"):
        raise ValueError(f"action: expected 'push', 'pull' or 'fetch', got {action!r}")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise RemoteError(f"jobs: expected a positive integer, got {jobs!r}")
    root = Path(repo)
    info = resolve_remote(root, remote)
    check_no_committed_secrets(info)
    args = [*dvc, action, "-r", info.name, *(["-j", str(jobs)] if jobs else []), *targets]
    hidden = (*info.secret_values, *secrets)
    try:
        done = subprocess.run(args, cwd=root, env=None if env is None else dict(env), capture_output=True,
                              text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise RemoteError(f"cannot run {dvc[0]!r}: is DVC installed (activate .venv: `source .venv/bin/activate`)?") from None
    except subprocess.TimeoutExpired:
        raise RemoteError(redact(f"dvc {action} with {info.describe()} did not finish in {timeout} s -- hint: "
                                 f"{hint('unreachable', action, info)}", hidden)) from None
    output = f"{done.stdout}\n{done.stderr}"
    if done.returncode != 0:
        raise RemoteError(explain_failure(action, info, output, secrets))
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    summary = lines[-1] if lines else "done"
    return TransferResult(action=action, remote=info, summary=redact(summary, hidden))


def configure_local_remote(
    repo: str | os.PathLike[str] = ".",
    path: str | os.PathLike[str] = DEFAULT_LOCAL_REMOTE_PATH,
    *,
    name: str = DEFAULT_LOCAL_REMOTE_NAME,
) -> str:
    """Make the folder ``path`` the default DVC remote of ``repo`` (idempotent); return what was done.

    ``path`` is taken relative to the repository root and written as an
    absolute path to ``.dvc/config.local`` (per machine, never committed), so
    moving the folder or choosing another is a local matter. A default remote
    set anywhere else (a team's S3 remote in ``.dvc/config``, say) is left
    alone: the function then configures nothing and says so. The folder itself
    is created by the first ``dvc push``.
    """
    from seedbench.compat.dvc import open_config

    root = Path(repo)
    levels = _load_levels(root)
    core, remotes, _ = _merged(levels)
    folder = Path(path) if os.path.isabs(path) else (root / path)
    folder = Path(os.path.normpath(folder.resolve()))
    if folder == root.resolve() or root.resolve() in folder.parents:
        raise RemoteError(f"REMOTE={path}: the remote folder must lie outside the repository ({root.resolve()})")
    default = core.get("remote")
    local_conf = levels.get("local") or {}
    if default and default != name:
        return f"default remote {default!r} kept ({remotes.get(default, {}).get('url', '?')}); local remote not configured"
    current = (local_conf.get("remote") or {}).get(name, {}).get("url")
    if current == str(folder) and (local_conf.get("core") or {}).get("remote") == name:
        return f"remote {name!r} already the default: {folder}"
    config = open_config(str(root / ".dvc"))
    with config.edit("local") as conf:
        conf.setdefault("remote", {}).setdefault(name, {})["url"] = str(folder)
        conf.setdefault("core", {})["remote"] = name
    return f"remote {name!r} set as the default in .dvc/config.local: {folder}"


def remote_options(repo: str | os.PathLike[str] = ".", name: str | None = None) -> tuple[str, dict[str, str]]:
    """``(name, options)`` of the remote :func:`resolve_remote` picks, unredacted, for a process that must use it.

    What a cluster worker writes into its own ``.dvc/config.local``: every option
    as DVC merges the config levels (credentials included), a relative local
    folder made absolute. Never print the options; describe the remote with
    :meth:`Remote.describe` instead.
    """
    root = Path(repo)
    chosen = resolve_remote(root, name)  # raises with the fixing command when unset or unknown
    _core, remotes, url_level = _merged(_load_levels(root))
    options = {str(k): str(v) for k, v in remotes[chosen.name].items() if v is not None}
    options["url"] = _absolute_local_url(options["url"], url_level[chosen.name], root)
    return chosen.name, options
