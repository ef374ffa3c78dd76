"""seedbench.results."""
