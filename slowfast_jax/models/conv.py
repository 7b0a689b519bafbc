"""The network's 3D convolution module, padding `k // 2` as the release's.

All convolutions of the network go through `Conv3D`, so how a convolution is
computed (`slowfast_jax.ops.conv3d`, chosen by `impl`) is decided in one
place.
"""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from slowfast_jax import ops
from slowfast_jax.ops import conv3d

# The release's Conv3d init (c2_msra_fill): kaiming normal, fan_out, no truncation.
msra_fan_out = nn.initializers.variance_scaling(2.0, "fan_out",
                                                "normal")


class Conv3D(nn.Module):
  """Conv3d with kernel `(kt, kh, kw, in, out)` and padding `k // 2`.

  Attributes:
    features: output channels.
    kernel_size: `(kt, kh, kw)`.
    strides: `(st, sh, sw)`.
    kernel_dilation: `(dt, dh, dw)`.
    use_bias: add a bias (only the non-local block's convolutions have one).
    impl: "auto", "native" or "fast", see `slowfast_jax.ops.resolve`.
    dtype: compute dtype; parameters stay float32.
  """
  features: int
  kernel_size: Sequence[int]
  strides: Sequence[int] = (1, 1, 1)
  kernel_dilation: Sequence[int] = (1, 1, 1)
  use_bias: bool = False
  impl: str = "auto"
  dtype: jnp.dtype = jnp.float32
  kernel_init: nn.initializers.Initializer = msra_fan_out

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    """`(batch, time, height, width, in)` → `(batch, time', h', w', features)`."""
    kernel = self.param("kernel", self.kernel_init,
                        (*self.kernel_size, inputs.shape[-1], self.features),
                        jnp.float32)
    outputs = conv3d.conv3d(inputs.astype(self.dtype),
                            kernel.astype(self.dtype), self.strides,
                            ops.resolve(self.impl),
                            self.kernel_dilation)
    if self.use_bias:
      bias = self.param("bias", nn.initializers.zeros, (self.features,),
                        jnp.float32)
      outputs = outputs + bias.astype(self.dtype)
    return outputs
