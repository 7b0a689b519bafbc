"""The stems' spatial max-pool (1×3×3, stride 1×2×2, padding 0×1×1).

"native" is XLA's `reduce_window` (and select-and-scatter for its gradient);
"fast" is the max of 9 strided views with a matching hand-written gradient,
which XLA:CPU runs as one loop.
"""

import functools

import jax
import jax.numpy as jnp

from slowfast_jax import ops


def _window_taps(x: jax.Array):
  """The 9 strided views of `x` (−inf padded by 1), one per 3×3 window tap.

  Each is `(batch, time, ceil(H/2), ceil(W/2), C)`: tap `(i, j)` of every
  output's window, in row-major window order.
  """
  height, width = x.shape[2:4]
  rows, cols = (height - 1) // 2 + 1, (width - 1) // 2 + 1
  padded = jnp.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1), (0, 0)],
                   constant_values=-jnp.inf)
  return [padded[:, :, i:i + 2 * rows - 1:2, j:j + 2 * cols - 1:2]
          for i in range(3) for j in range(3)]


def max_pool_3x3_stride2(x: jax.Array, impl: str) -> jax.Array:
  """`(batch, time, H, W, C)` → `(batch, time, ceil(H/2), ceil(W/2), C)`.

  Window 1×3×3, stride 1×2×2, padding 0×1×1 with −inf. `impl` is "native"
  (`reduce_window`) or "fast" (the max of strided views); the same numbers,
  gradient included.
  """
  if impl == "native":
    return jax.lax.reduce_window(
        x, -jnp.inf, jax.lax.max, (1, 1, 3, 3, 1),
        (1, 1, 2, 2, 1), ((0, 0), (0, 0), (1, 1), (1, 1), (0, 0)))
  if impl == "fast":
    return _max_of_strided_views(x)
  raise ops.unknown_impl("max-pool", impl)


@jax.custom_vjp
def _max_of_strided_views(x: jax.Array) -> jax.Array:
  """The max of the 9 strided views of the 3×3 window taps.

  The gradient goes to the first maximum of each window in row-major order,
  as XLA's and PyTorch's max-pool gradients do.
  """
  return functools.reduce(jnp.maximum, _window_taps(x))


def _max_pool_fwd(x):
  pooled = _max_of_strided_views(x)
  return pooled, (x, pooled)


def _max_pool_bwd(residuals, pooled_grad):
  x, pooled = residuals
  height, width = x.shape[2:4]
  taken = jnp.zeros(pooled.shape, bool)
  grad = jnp.zeros((x.shape[0], x.shape[1], height + 2, width + 2,
                    x.shape[4]), pooled_grad.dtype)
  for tap, view in enumerate(_window_taps(x)):
    winner = (view == pooled) & ~taken
    taken = taken | winner
    i, j = divmod(tap, 3)
    # The transpose of the strided view: zeros between, offset (i, j).
    rows, cols = view.shape[2:4]
    grad = grad + jax.lax.pad(
        jnp.where(winner, pooled_grad, 0), jnp.array(0, pooled_grad.dtype),
        [(0, 0, 0), (0, 0, 0), (i, height + 2 - i - 2 * rows + 1, 1),
         (j, width + 2 - j - 2 * cols + 1, 1), (0, 0, 0)])
  return (grad[:, :, 1:-1, 1:-1],)


_max_of_strided_views.defvjp(_max_pool_fwd, _max_pool_bwd)
