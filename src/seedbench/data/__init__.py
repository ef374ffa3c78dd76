"""seedbench.data."""
