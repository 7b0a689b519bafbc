"""The stems' max-pool equals Flax's (reduce-window), gradient included."""

import flax.linen as nn
import numpy as np
import pytest

import jax
import jax.numpy as jnp
from slowfast_jax.ops import max_pool


def reference_pool(x):
  return nn.max_pool(x, (1, 3, 3), strides=(1, 2, 2),
                     padding=((0, 0), (1, 1), (1, 1)))


@pytest.mark.parametrize("impl", ["fast", "native"])
@pytest.mark.parametrize("shape", [(2, 3, 8, 10, 4), (1, 2, 7, 9, 3),
                                   (1, 1, 1, 2, 2)])
def test_max_pool_and_gradient_equal_reduce_window(shape, impl):
  rng = np.random.RandomState(0)
  # After ReLU, rounded: many ties, where the gradient must go to the first
  # maximum of the window as XLA's (and PyTorch's) does.
  x = jnp.asarray(np.maximum(rng.randn(*shape), 0).round(1), jnp.float32)
  expected, expected_vjp = jax.vjp(reference_pool, x)
  pooled, pool_vjp = jax.vjp(
      lambda x: max_pool.max_pool_3x3_stride2(x, impl), x)
  assert pooled.shape == expected.shape
  np.testing.assert_array_equal(pooled, expected)
  pooled_grad = jnp.asarray(rng.randn(*expected.shape), jnp.float32)
  np.testing.assert_allclose(pool_vjp(pooled_grad)[0],
                             expected_vjp(pooled_grad)[0], atol=1e-6)
