"""One module per scenario of the issue; each adds its figures to the BenchContext."""
