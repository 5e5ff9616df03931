"""The default limit of ``lowprof import``'s .gz expansion, light to import (the parser shows it; the scanner in
:mod:`lowprof.tracers.kineto_scan` imports numpy)."""

# A .gz may expand to at most MAX_EXPANSION times the compressed bytes read (real Kineto traces: 7-23x).
MAX_EXPANSION = 100.0
