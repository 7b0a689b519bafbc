"""Non-local block (Wang et al., 2018) as the release instantiates it."""

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from slowfast_jax.models import layers
from slowfast_jax.models.conv import Conv3D


class NonLocal(layers.ConvBNModule):
  """x + BN(out(attention(theta(x), phi(pool(x))) · g(pool(x)))).

  Attributes:
    inner_features: width of theta, phi and g (release: half the input width).
    instantiation: "dot_product" (affinity divided by the number of pooled
      positions) or "softmax" (scaled by inner_features^-0.5, softmax).
    pool: max-pool window = stride applied before phi and g only.
  """
  inner_features: int
  instantiation: str = "dot_product"
  pool: Sequence[int] = (1, 2, 2)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    """`(batch, time, H, W, C)` → same shape."""
    conv = functools.partial(Conv3D, kernel_size=(1, 1, 1), use_bias=True,
                             impl=self.conv_impl, dtype=self.dtype)
    batch = x.shape[0]
    theta = conv(self.inner_features, name="theta")(x)
    pooled = x
    if any(p > 1 for p in self.pool):
      pooled = nn.max_pool(x, tuple(self.pool), strides=tuple(self.pool))
    phi = conv(self.inner_features, name="phi")(pooled)
    g = conv(self.inner_features, name="g")(pooled)

    theta = theta.reshape(batch, -1, self.inner_features)  # (b, positions, c)
    phi = phi.reshape(batch, -1, self.inner_features)      # (b, pooled, c)
    g = g.reshape(batch, -1, self.inner_features)
    affinity = jnp.einsum("bqc,bkc->bqk", theta, phi)
    if self.instantiation == "softmax":
      affinity = jax.nn.softmax(affinity * self.inner_features**-0.5, axis=-1)
    elif self.instantiation == "dot_product":
      affinity = affinity / phi.shape[1]
    else:
      raise ValueError(f"Unknown non-local instantiation "
                       f"{self.instantiation!r}; expected 'dot_product' or "
                       "'softmax'.")
    attended = jnp.einsum("bqk,bkc->bqc", affinity, g)
    attended = attended.reshape(*x.shape[:-1], self.inner_features)
    out = conv(x.shape[-1], name="out")(attended)
    out = self.bn(scale_init=nn.initializers.zeros, impl=self.conv_impl,
                  name="bn")(out, train)
    return x + out
