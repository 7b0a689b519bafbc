"""The XLA:CPU compiler option for the model: process-wide, or per jit.

XLA:CPU (jaxlib 0.10) hands dots, convolutions, reductions and elementwise
ops to YNNPACK. `xla_cpu_experimental_ynn_fusion_type=
LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT` keeps only the dots there, one per call;
XLA's own emitters and convolutions do the rest (BatchNorm's per-channel
sums over every pixel among them), which runs the model's training and
inference programs faster.

The option is an XLA debug option: XLA reads `XLA_FLAGS` once, when JAX's
backends initialise. `enable_cpu_fast_path()`, which importing
`slowfast_jax.ops` (and so `slowfast_jax.models`) calls, adds the option to
`XLA_FLAGS` if that has not happened yet; then every jit in the process
compiles with it, a user's own `jax.jit` of the model included. If the
backends are already up, it logs that once, and the project's own jits pass
the option per call (`model_compiler_options`).
"""

import functools
import os

from absl import logging
import jax

from slowfast_jax.ops import cpu_heap

OPTION = "xla_cpu_experimental_ynn_fusion_type"
_YNN_FUSIONS = "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"
# jaxlib (major, minor) versions whose XLA knows the option. XLA aborts the
# process on an unknown flag in XLA_FLAGS, so it only goes there for these;
# others get the per-jit path, which checks by compiling.
_JAXLIB_WITH_OPTION = ((0, 10),)


def _option_in_xla_flags() -> bool:
  return f"--{OPTION}" in os.environ.get("XLA_FLAGS", "")


def _backends_initialized() -> bool:
  try:
    from jax._src import xla_bridge  # pylint: disable=g-import-not-at-top
    return xla_bridge.backends_are_initialized()
  except (ImportError, AttributeError):
    return True  # Unknown: do not touch XLA_FLAGS.


def _jaxlib_has_option() -> bool:
  import jaxlib.version  # pylint: disable=g-import-not-at-top
  major_minor = tuple(int(p) for p in jaxlib.version.__version__.split(".")[:2])
  return major_minor in _JAXLIB_WITH_OPTION


@functools.lru_cache(maxsize=None)
def _log_once(message: str) -> None:
  logging.info(message)


def enable_cpu_fast_path() -> bool:
  """Sets the option in `XLA_FLAGS` for every later jit of this process.

  Call before JAX's first computation (importing `slowfast_jax.models` does).
  A value the user put in `XLA_FLAGS` stays. Off CPU the option is unused.
  Also runs CPU computations on the calling thread
  (`cpu_heap.run_cpu_calls_inline`), if the backends have not started.

  Returns:
    Whether `XLA_FLAGS` sets the option (now or already).
  """
  if not _backends_initialized():
    cpu_heap.run_cpu_calls_inline()
  if _option_in_xla_flags():
    return True
  if _backends_initialized():
    _log_once(
        "JAX's backends were initialised before slowfast_jax.ops was "
        f"imported, so --{OPTION} is not set process-wide: only the "
        "project's own jits get it (per jit). Import slowfast_jax.models "
        "first, or set it in XLA_FLAGS, for any jax.jit of the model to "
        "run at full speed on CPU.")
    return False
  if not _jaxlib_has_option():
    _log_once(f"--{OPTION} not set: this jaxlib is not known to have it.")
    return False
  flags = os.environ.get("XLA_FLAGS", "")
  os.environ["XLA_FLAGS"] = f"{flags} --{OPTION}={_YNN_FUSIONS}".strip()
  return True


@functools.lru_cache(maxsize=None)
def _option_supported() -> bool:
  """Whether this XLA knows the option (older and newer ones may not)."""
  try:
    jax.jit(lambda x: x + 1).lower(1.0).compile(
        compiler_options={OPTION: _YNN_FUSIONS})
  except (jax.errors.JaxRuntimeError, ValueError, TypeError):
    return False
  return True


def model_compiler_options() -> dict[str, str] | None:
  """`compiler_options` for jitting the model (training or inference), or None.

  None off CPU, where the option does not apply, and when `XLA_FLAGS` sets it
  (`enable_cpu_fast_path`, or the user's own value, which wins).
  """
  if jax.default_backend() != "cpu" or _option_in_xla_flags():
    return None
  return {OPTION: _YNN_FUSIONS} if _option_supported() else None
