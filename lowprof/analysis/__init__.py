"""analysis/: reports computed from recorded run directories only (pure functions of a loaded Run)."""
