"""The head's average pool: window `(t, h, w)`, stride 1, no padding.

"native" is XLA's `reduce_window` (flax's `avg_pool`). "fast" takes a window
that covers the whole map (the training crop: one position) as a matrix
product of each clip's positions with a row of `1 / positions`, which
XLA:CPU runs faster than its reduction over the positions
(docs/performance.md); other windows stay native.
"""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from slowfast_jax import ops


def avg_pool(x: jax.Array, window: Sequence[int], impl: str) -> jax.Array:
  """`(batch, T, H, W, C)` → `(batch, T − t + 1, H − h + 1, W − w + 1, C)`."""
  if impl == "fast" and tuple(x.shape[1:4]) == tuple(window):
    return _mean_as_matmul(x)
  if impl in ops.IMPLS:
    return nn.avg_pool(x, tuple(window), strides=(1, 1, 1), padding="VALID")
  raise ops.unknown_impl("avg-pool", impl)


def _mean_as_matmul(x: jax.Array) -> jax.Array:
  """The mean over every position, `(batch, 1, 1, 1, C)`."""
  batch, channels = x.shape[0], x.shape[-1]
  positions = x.reshape(batch, -1, channels)
  weights = jnp.full((batch, 1, positions.shape[1]), 1 / positions.shape[1],
                     x.dtype)
  return jnp.matmul(weights, positions).reshape(batch, 1, 1, 1, channels)
