"""Test-wide settings: one BLAS thread (2 shared cores), deterministic hypothesis runs."""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from hypothesis import settings  # noqa: E402

settings.register_profile("course", derandomize=True, deadline=None, max_examples=60)
settings.load_profile("course")
