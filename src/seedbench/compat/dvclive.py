"""DVCLive internals: a :class:`dvclive.Live` that writes its files and nothing else.

Inside a DVC stage, DVCLive would discover the repository, run ``dvc init`` or
``git add`` and post to DVC Studio. :class:`FilesOnlyLive` overrides the two
private hooks that do this (``_init_dvc``, ``_init_studio``) and sets the
private attributes they would have set. Re-check on a dvclive upgrade
(``PRIVATE_API`` is tested).
"""

from __future__ import annotations

from dvclive import Live

PRIVATE_API: tuple[tuple[str, str], ...] = (
    ("dvclive", "Live._init_dvc"),
    ("dvclive", "Live._init_dvc_file"),
    ("dvclive", "Live._init_studio"),
)
"""The private methods overridden or called below (the attributes they set are checked on an instance by the test)."""

PRIVATE_ATTRIBUTES: tuple[str, ...] = ("_dvc_file", "_dvc_studio_config", "_studio_events_to_skip")
"""Private instance attributes :class:`FilesOnlyLive` sets; a :class:`Live` instance must still have them."""


class FilesOnlyLive(Live):
    """DVCLive writing its files only: no repository discovery, no git, no dvc.yaml, no Studio."""

    def _init_dvc(self) -> None:  # no Repo(), no `dvc init`, no `git add`
        self._dvc_file = self._init_dvc_file()

    def _init_studio(self) -> None:  # never post to DVC Studio
        self._dvc_studio_config = {}
        self._studio_events_to_skip.update({"start", "data", "done"})
