"""Shared test setup: tests run on CPU, quietly; bench/'s helpers importable.

One persistent compilation cache serves the whole session: this process, the
pytest-xdist workers and every child JAX process the tests start inherit
`JAX_COMPILATION_CACHE_DIR`, so a program that several tests compile (a tiny
model's initialisation, its training or scoring step) compiles once.
"""

import atexit
import os
import pathlib
import shutil
import sys
import tempfile

sys.path.append(str(pathlib.Path(__file__).resolve().parents[1] / "bench"))

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  # Set before any JAX import, here and in the children (they inherit it).
  _CACHE = tempfile.mkdtemp(prefix="slowfast_jax_test_compile_cache_")
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE
  atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
