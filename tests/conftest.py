"""Shared test setup: tests run on CPU, quietly; bench/'s helpers importable.

Tests sit in one folder per package folder (`tests/models/`, `tests/ops/`,
...); the helpers they share stay here, importable from every folder since
pytest puts this conftest's folder on `sys.path`.

One persistent compilation cache serves the whole session: this process, the
pytest-xdist workers and every child JAX process the tests start inherit
`JAX_COMPILATION_CACHE_DIR`, so a program that several tests compile (a tiny
model's initialisation, its training or scoring step) compiles once.

Every test process compiles at XLA's backend optimisation level 0, with
XLA:CPU's older emitters (`processes.with_test_xla_flags`): the tiny models'
compiles dominate the suite, their run time does not. Figures in
docs/performance.md ("Test suite time").
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

import processes  # pylint: disable=g-import-not-at-top,wrong-import-position

os.environ["XLA_FLAGS"] = processes.with_test_xla_flags(
    os.environ.get("XLA_FLAGS", ""))

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  # Set before any JAX import, here and in the children (they inherit it).
  _CACHE = tempfile.mkdtemp(prefix="slowfast_jax_test_compile_cache_")
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE
  atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)

# The files with the longest runs (setup + calls, from `--durations`), longest
# first. pytest-xdist hands out whole files in collection order
# (`--no-loadscope-reorder` in pyproject.toml), so these start first and the
# short files fill in at the end instead of one long file running alone.
SLOW_FILES = (
    "test_train.py", "test_sharding.py", "test_eval.py", "test_ava_train.py",
    "test_finetune.py", "test_checkpoint_errors.py", "test_precise_bn.py",
    "test_multigrid_train.py", "test_ablation.py", "test_export.py",
    "test_models.py", "test_xla_cpu.py", "test_conv.py", "test_charades.py",
)


def pytest_collection_modifyitems(items):
  def rank(item):
    name = item.path.name
    return SLOW_FILES.index(name) if name in SLOW_FILES else len(SLOW_FILES)
  items.sort(key=rank)  # Stable: the rest keep their order.
