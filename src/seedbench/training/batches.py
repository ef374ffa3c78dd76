"""Mini-batches whose order depends on one seed only, whatever the number of DataLoader workers.

:class:`ShuffledBatches` draws the batches, :func:`make_loader` wraps them in
a DataLoader with seeded workers (``seedbench.training.loop`` trains on it).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler, TensorDataset

from seedbench.core.seeds import STREAM_WORKERS, derive_seed
from seedbench.determinism.seeding import dataloader_generator, seed_worker


class ShuffledBatches(Sampler[torch.Tensor]):
    """Whole mini-batches as index tensors, shape ``(≤ batch_size,)``, in a fresh random order each epoch.

    Each epoch draws ``torch.randperm(n, generator=generator)`` and cuts it
    into ``batch_size`` pieces (the last one shorter), then draws a second
    permutation it does not use: exactly the draws of
    ``RandomSampler(generator=generator)`` batched by ``batch_size``, so the
    batches, and the trained weights, are those of that sampler bit for bit.
    Handing the DataLoader whole batches (``batch_size=None``) lets
    :class:`~torch.utils.data.TensorDataset` index all windows of a batch at
    once instead of one ``__getitem__`` and a ``torch.stack`` per window (an
    mlp epoch spent ~40% of its time there; BENCHMARKS.md, "Training
    throughput").
    """

    def __init__(self, n: int, batch_size: int, generator: torch.Generator) -> None:
        if n < 1 or batch_size < 1:
            raise ValueError(f"ShuffledBatches needs n >= 1 and batch_size >= 1, got n={n}, batch_size={batch_size}")
        self.n, self.batch_size, self.generator = n, batch_size, generator

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        # A generator function: the draws happen when the epoch starts, not when iter() is called (the
        # DataLoader calls iter() on its sampler once more than it iterates when it starts workers).
        order = torch.randperm(self.n, generator=self.generator)
        torch.randperm(self.n, generator=self.generator)  # RandomSampler's unused draw for num_samples % n == 0
        yield from order.split(self.batch_size)


def make_loader(X: np.ndarray, y: np.ndarray, *, batch_size: int, data_order_seed: int, num_workers: int) -> DataLoader:
    """Shuffling DataLoader over ``(X, y)`` whose batch order depends on ``data_order_seed`` only.

    The sampler (:class:`ShuffledBatches`) draws one permutation per epoch from
    ``dataloader_generator(data_order_seed)``; the DataLoader's own generator,
    which torch draws worker base seeds from (once per iterator, so once per
    epoch without workers but only once with persistent workers), is a
    separate derived stream ``derive_seed(data_order_seed, "workers")``.
    Hence ``num_workers`` changes speed, never the batches: a run gives the
    same bytes with 0 or 2 workers. Workers are persistent and seeded by
    :func:`seedbench.determinism.seeding.seed_worker`.
    """
    dataset = TensorDataset(torch.from_numpy(X), torch.from_numpy(y))
    return DataLoader(
        dataset,
        batch_size=None,
        sampler=ShuffledBatches(len(dataset), batch_size, dataloader_generator(data_order_seed)),
        generator=dataloader_generator(derive_seed(data_order_seed, STREAM_WORKERS)),
        worker_init_fn=seed_worker,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )
