"""seedbench: multi-seed benchmarks with pinned data, pinned randomness and honest statistics.

Importing this package is cheap: no torch, no network. Modules that train import torch
themselves (``seedbench.training.models``, ``seedbench.training.loop``).
"""

__version__ = "0.1.0"
