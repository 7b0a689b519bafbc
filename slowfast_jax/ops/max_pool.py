"""The stem of one pathway: conv (kt×7×7, stride 1×2×2), BN, ReLU, max-pool."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from slowfast_jax.models.conv import Conv3D
from slowfast_jax.models.norm import BatchNorm


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


@jax.custom_vjp
def max_pool_3x3_stride2(x: jax.Array) -> jax.Array:
  """Spatial max-pool 1×3×3, stride 1×2×2, padding 0×1×1 (pads with −inf).

  Written as the max of 9 strided views: XLA:CPU runs that as one loop,
  where its reduce-window (and the select-and-scatter of its gradient) was
  several times slower. The gradient goes to the first maximum of each window
  in row-major order, as XLA's and PyTorch's max-pool gradients do.
  """
  return functools.reduce(jnp.maximum, _window_taps(x))


def _max_pool_fwd(x):
  pooled = max_pool_3x3_stride2(x)
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


max_pool_3x3_stride2.defvjp(_max_pool_fwd, _max_pool_bwd)


class Stem(nn.Module):
  """`(batch, time, H, W, 3)` → `(batch, time, H/4, W/4, features)`."""
  features: int
  temporal_kernel: int
  bn: functools.partial = BatchNorm
  conv_impl: str = "auto"
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    x = Conv3D(self.features, (self.temporal_kernel, 7, 7), (1, 2, 2),
               impl=self.conv_impl, dtype=self.dtype, name="conv")(x)
    x = nn.relu(self.bn(name="bn")(x, train))
    return max_pool_3x3_stride2(x)
