"""seedbench.reporting."""
