"""The seed matrix on a Dask cluster: ``seedbench repro --cluster ADDRESS`` and, on a local cluster, ``-j N``.

Driver side: :mod:`.snapshot` (the working tree as a commit and a git bundle),
:mod:`.driver` (plan, submit, merge, check out), :mod:`.lockmerge` (every
returned ``dvc.lock`` entry checked and written once). Worker side:
:mod:`.workspace` (a clone per worker slot, its DVC remote and cache),
:mod:`.task` (one run: pull inputs, run, ``dvc commit``, ``dvc push``),
:mod:`.stagecmd` and :mod:`.runner` (a warm, forking Python that runs a stage
script without paying interpreter start and ``import torch`` per run).
"""
