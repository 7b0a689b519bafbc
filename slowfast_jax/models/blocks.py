"""Bottleneck residual blocks and the res stages built from them."""

import functools
from typing import Sequence

import flax.linen as nn
import jax

from slowfast_jax.models import layers
from slowfast_jax.models.conv import Conv3D
from slowfast_jax.models.nonlocal_block import NonLocal


class Bottleneck(layers.ConvBNModule):
  """ReLU(shortcut(x) + c(b(a(x)))): the release's bottleneck transform.

  The temporal kernel sits on the first 1×1 conv `a` (kt×1×1), the spatial
  stride on the 3×3 conv `b`; `bn_c` starts at zero scale.

  Attributes:
    inner_features: width of `a` and `b`.
    features: output width.
    temporal_kernel: kt of `a`.
    spatial_stride: stride of `b` and of the projection shortcut.
    dilation: spatial dilation of `b` (2 in res5 of the detection models).
  """
  inner_features: int
  features: int
  temporal_kernel: int
  spatial_stride: int = 1
  dilation: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    """`(batch, time, H, W, C)` → `(batch, time, H/stride, W/stride, features)`."""
    conv = functools.partial(Conv3D, impl=self.conv_impl, dtype=self.dtype)
    bn = functools.partial(self.bn, impl=self.conv_impl)
    stride = (1, self.spatial_stride, self.spatial_stride)
    shortcut = x
    if x.shape[-1] != self.features or self.spatial_stride != 1:
      shortcut = conv(self.features, (1, 1, 1), stride, name="shortcut_conv")(x)
      shortcut = bn(name="shortcut_bn")(shortcut, train)

    y = conv(self.inner_features, (self.temporal_kernel, 1, 1),
             name="conv_a")(x)
    y = nn.relu(bn(name="bn_a")(y, train))
    y = conv(self.inner_features, (1, 3, 3), stride,
             kernel_dilation=(1, self.dilation, self.dilation),
             name="conv_b")(y)
    y = nn.relu(bn(name="bn_b")(y, train))
    y = conv(self.features, (1, 1, 1), name="conv_c")(y)
    y = bn(scale_init=nn.initializers.zeros, name="bn_c")(y, train)
    return nn.relu(shortcut + y)


class ResStage(layers.ConvBNModule):
  """One res stage of one pathway: blocks `block{i}`, optional `nonlocal{i}`.

  Attributes:
    num_blocks: number of bottleneck blocks.
    inner_features, features: bottleneck widths.
    temporal_kernels: kt of each block's `a` conv (length `num_blocks`).
    spatial_stride: stride of block 0.
    nonlocal_after: indices of the blocks followed by a non-local block.
    dilation: spatial dilation of every block's 3×3 conv.
  """
  num_blocks: int
  inner_features: int
  features: int
  temporal_kernels: Sequence[int]
  spatial_stride: int
  nonlocal_after: Sequence[int] = ()
  nonlocal_instantiation: str = "dot_product"
  nonlocal_pool: Sequence[int] = (1, 2, 2)
  dilation: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    for i in range(self.num_blocks):
      x = Bottleneck(self.inner_features, self.features,
                     self.temporal_kernels[i],
                     self.spatial_stride if i == 0 else 1, self.dilation,
                     bn=self.bn,
                     conv_impl=self.conv_impl, dtype=self.dtype,
                     name=f"block{i}")(x, train)
      if i in self.nonlocal_after:
        x = NonLocal(self.features // 2, self.nonlocal_instantiation,
                     tuple(self.nonlocal_pool), bn=self.bn,
                     conv_impl=self.conv_impl, dtype=self.dtype,
                     name=f"nonlocal{i}")(x, train)
    return x
