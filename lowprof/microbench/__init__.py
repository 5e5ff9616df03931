"""GPU SM, register-file, memory and launch microbenchmarks (``lowprof bench gpu``) and host-side dispatch
cost (``lowprof bench host``). CUDA sources live in ``kernels/``; published reference figures with their
sources in ``references.json``; one module per benchmark under ``benchmarks/``.

Light to import (``lowprof bench gpu --help`` lists the benchmarks): import what you need from its modules,
e.g. :mod:`lowprof.microbench.registry`, :mod:`lowprof.microbench.results`."""
