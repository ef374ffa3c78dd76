"""seedbench.provenance."""
