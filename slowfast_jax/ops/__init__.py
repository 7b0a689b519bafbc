"""Backend-specific formulations of the model's ops, behind one switch.

`resolve(model.conv_impl)` picks them for the whole network at once:
- "native": XLA's own ops, the path for TPU and GPU: one
  `lax.conv_general_dilated` per convolution, autodiff through BatchNorm's
  batch moments, `reduce_window` max- and average-pooling.
- "fast": what XLA:CPU runs faster, the same numbers up to float rounding:
  3D convolutions as 2D convolutions over frames and channel matmuls
  (`conv3d`) with hand-written 2D-convolution gradients (`conv2d`),
  BatchNorm's closed-form training gradient (`batch_norm`), the stem's
  max-pool as a max of strided views (`max_pool`), the head's average pool
  over a whole map as a matmul (`avg_pool`).
- "auto": "fast" on the CPU backend, "native" elsewhere.

`roi_align` (the detection head's RoIAlign) has one formulation.

Importing this package sets XLA:CPU's compiler option for the model in
`XLA_FLAGS` if JAX's backends are not up yet (`xla_cpu`), so that any jit of
the model in the process compiles with it, and has CPU computations run on
the calling thread; the first trace of the model on CPU has glibc keep freed
memory, so each call reuses the pages of the last one's temporaries
(`cpu_heap`).
"""

import jax

from slowfast_jax.ops import cpu_heap
from slowfast_jax.ops import xla_cpu

IMPLS = ("native", "fast")
enable_cpu_fast_path = xla_cpu.enable_cpu_fast_path


def unknown_impl(op: str, impl: str) -> ValueError:
  """The error for an `impl` of `op` other than "native" and "fast"."""
  return ValueError(f"Unknown {op} impl {impl!r}; expected 'native' or 'fast'.")


def resolve(impl: str) -> str:
  """`model.conv_impl` ("auto", "native" or "fast") → "native" or "fast".

  On the CPU backend, also `cpu_heap.keep_freed_memory()` (once).
  """
  on_cpu = jax.default_backend() == "cpu"
  if on_cpu:
    cpu_heap.keep_freed_memory()
  if impl == "auto":
    return "fast" if on_cpu else "native"
  if impl in IMPLS:
    return impl
  raise ValueError(
      f"model.conv_impl={impl!r}; expected 'auto', 'native' or 'fast'.")


enable_cpu_fast_path()
