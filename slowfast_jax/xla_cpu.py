"""XLA compiler options that make the model's programs faster on CPU.

XLA:CPU (jaxlib 0.10) hands dots, convolutions and reductions to YNNPACK. Its
reductions are slow on the ones BatchNorm makes (per-channel sums over every
pixel, channels minor): in a SlowFast 8×8 train step they took a quarter of
the op time, far below memory bandwidth. Left to XLA's own emitter instead,
the step ran about 20% faster. YNNPACK keeps the dots and convolutions.

Only training programs take the option. Inference has no batch statistics to
reduce, and there YNNPACK's default fusions were faster: SlowFast 8×8 at 224²,
batch 1, ran 0.67 s per clip with them and 0.71 s with the option.
"""

import functools
import os

import jax

OPTION = "xla_cpu_experimental_ynn_fusion_type"
_YNN_FUSIONS = ("LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,"
                "LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION")


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
  """`compiler_options` for jitting a training step of the model, or None.

  None off CPU, where the option does not apply, and when `XLA_FLAGS` already
  sets it (the user's choice wins).
  """
  if jax.default_backend() != "cpu" or OPTION in os.environ.get("XLA_FLAGS",
                                                                  ""):
    return None
  return {OPTION: _YNN_FUSIONS} if _option_supported() else None
