"""seedbench.training."""
