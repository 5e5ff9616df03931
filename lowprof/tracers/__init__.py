"""tracers/: event timelines (GPU kernel launches, Python stacks), captured live or imported into a run directory."""
