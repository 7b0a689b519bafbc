"""The stem of one pathway: conv (kt×7×7, stride 1×2×2), BN, ReLU, max-pool."""


import flax.linen as nn
import jax

from slowfast_jax import ops
from slowfast_jax.models import layers
from slowfast_jax.models.conv import Conv3D
from slowfast_jax.ops import max_pool


class Stem(layers.ConvBNModule):
  """`(batch, time, H, W, 3)` → `(batch, time, H/4, W/4, features)`."""
  features: int
  temporal_kernel: int

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    x = Conv3D(self.features, (self.temporal_kernel, 7, 7), (1, 2, 2),
               impl=self.conv_impl, dtype=self.dtype, name="conv")(x)
    x = nn.relu(self.bn(impl=self.conv_impl, name="bn")(x, train))
    return max_pool.max_pool_3x3_stride2(x, ops.resolve(self.conv_impl))
