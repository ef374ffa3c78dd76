"""seedbench.ops."""
