"""One module per GPU microbenchmark; see :mod:`lowprof.microbench.registry`."""
