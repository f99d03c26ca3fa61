"""The read side: one package per read model, checkpoints, the runner and consistency waits."""
