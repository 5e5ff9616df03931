"""Files put on a traced workload's PYTHONPATH (standard library only)."""
