"""Per-epoch logging: DVCLive files in ``<run_dir>/dvclive`` and a progress line on stderr.

:class:`EpochLogger` is an ``on_epoch`` callback for
``seedbench.training.loop.train_model``. It writes, through DVCLive,
``dvclive/metrics.json`` (latest ``train_loss``, ``val_loss`` and ``step``) and
``dvclive/plots/metrics/{train_loss,val_loss}.tsv`` (``step`` = 1-based epoch,
value in cycles²). These files hold no timestamps, so the same run gives the
same bytes.

DVCLive's repository integration is switched off on purpose
(:class:`FilesOnlyLive`): out of the box ``Live()`` looks for a DVC repository
and, inside a git checkout without one, *initialises* DVC there; inside
``dvc exp run`` it ``git add``-s files of its folder; and with a Studio token
configured it posts metrics over the network. A pipeline stage must do none of
that: DVC itself tracks these files as declared outputs of the train stage.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from seedbench.compat.dvclive import FilesOnlyLive

EpochRecord = Mapping[str, float]
"""``{"epoch", "train_loss", "val_loss"}`` as produced by ``seedbench.training.loop.train_model``."""

"""Folder of a run holding DVCLive's files."""

LOGGED_METRICS: tuple[str, ...] = ("train_loss", "val_loss")
"""Keys of an epoch record that are logged (cycles², mean squared error)."""


def _metric_value(value: float) -> float | str:
    """A float for DVCLive; NaN/inf as DVCLive's own string form (``"nan"``)."""
    value = float(value)
    return value if math.isfinite(value) else str(value)


class EpochLogger:
    """``on_epoch`` callback: DVCLive metrics into ``live_dir`` and one progress line per epoch.

    Parameters
    ----------
    live_dir
        Folder for DVCLive's files (normally ``<run_dir>/dvclive``); its previous
        DVCLive files are removed.
    label
        Prefix of progress lines, e.g. ``"train FD001/mlp/rep_0"``.
    max_epochs
        Shown as ``epoch 3/30`` (``None``: just the epoch).
    stream
        Where progress goes (default ``sys.stderr``). On a terminal the line is
        rewritten in place; otherwise (a log file, DVC's output) one plain line
        per epoch.
    """

    def __init__(self, live_dir: str | os.PathLike[str], *, label: str, max_epochs: int | None = None,
                 stream: IO[str] | None = None) -> None:
        self.live_dir = Path(live_dir)
        self.label = label
        self.max_epochs = max_epochs
        self.stream = sys.stderr if stream is None else stream
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._live = FilesOnlyLive(str(self.live_dir), save_dvc_exp=False, dvcyaml=None, report=None)
        self._open_line = False

    def __call__(self, record: EpochRecord) -> None:
        """Log one epoch record (``epoch``, ``train_loss``, ``val_loss``)."""
        epoch = int(record["epoch"])
        self._live.step = epoch
        for name in LOGGED_METRICS:
            self._live.log_metric(name, _metric_value(record[name]))
        self._live.make_summary()
        self._progress(progress_line(self.label, record, self.max_epochs))

    def _progress(self, line: str) -> None:
        if self._tty:
            self.stream.write("\r\x1b[2K" + line)
            self._open_line = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Finish the progress line (DVCLive's files are complete after every epoch)."""
        if self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False

    def __enter__(self) -> EpochLogger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress_line(label: str, record: EpochRecord, max_epochs: int | None = None) -> str:
    """``"<label> epoch 3/30 train_loss 412.1 val_loss 530.7"`` (losses in cycles², 1 decimal)."""
    of = f"/{max_epochs}" if max_epochs else ""
    return (
        f"{label} epoch {int(record['epoch'])}{of} "
        f"train_loss {float(record['train_loss']):.1f} val_loss {float(record['val_loss']):.1f}"
    )
