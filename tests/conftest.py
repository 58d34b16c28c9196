"""Shared test setup: compiled functions are cached per process, so keep one pytest process."""
import os

# Deterministic, single-device CPU runs (CI has no GPU); silence TPU/GPU probing noise.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
