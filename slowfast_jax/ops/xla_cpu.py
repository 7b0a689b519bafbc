"""XLA compiler options that make the model's programs faster on CPU.

XLA:CPU (jaxlib 0.10) hands dots, convolutions, reductions and elementwise
ops to YNNPACK. The option keeps only the dots there, one per call; XLA's own
emitters and convolutions do the rest. Measured on SlowFast 8×8 at 224², 2
cores, alternating in one process:
- Training: YNNPACK's reductions are slow on BatchNorm's per-channel sums
  over every pixel (a quarter of the train step's op time). Dots alone: 5.55 s
  per step at batch 2, against 5.92 s with YNNPACK's convolutions as well and
  about 20% more with its defaults.
- Inference, batch 1: 0.627 s per clip against 0.665 s with the defaults and
  0.676 s with YNNPACK's convolutions as well. XLA's own convolution ran the
  Fast stem (7×7, 3 → 40 channels, 32×224²) in 60 ms, YNNPACK's in 93 ms.
"""

import functools
import os

import jax

OPTION = "xla_cpu_experimental_ynn_fusion_type"
_YNN_FUSIONS = "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"


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

  None off CPU, where the option does not apply, and when `XLA_FLAGS` already
  sets it (the user's choice wins).
  """
  if jax.default_backend() != "cpu" or OPTION in os.environ.get("XLA_FLAGS",
                                                                  ""):
    return None
  return {OPTION: _YNN_FUSIONS} if _option_supported() else None
