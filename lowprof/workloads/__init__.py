"""Built-in workloads that ship with lowprof, so every command has something real to record."""
