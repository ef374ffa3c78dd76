"""seedbench.determinism."""
