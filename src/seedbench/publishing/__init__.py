"""seedbench.publishing."""
