"""seedbench.stats."""
