"""seedbench.verify."""
