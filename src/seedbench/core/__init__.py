"""seedbench.core."""
