"""native/: C helpers with CFFI bindings (API mode), compiled by the package build (pip install / make test)."""
