"""Sweep files, the sweep manager, the results store and schema, and the `eggroll-bench` CLI."""
