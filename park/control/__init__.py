"""The control plane: the store, the controllers that reconcile it, and (later) the scheduler."""
