"""The stems' max-pool and the head's average pool equal Flax's
(reduce-window), gradients included."""

import flax.linen as nn
import numpy as np
import pytest

import jax
import jax.numpy as jnp
from slowfast_jax.ops import avg_pool
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


@pytest.mark.parametrize("impl", ["fast", "native"])
@pytest.mark.parametrize("window", [(2, 3, 4), (1, 2, 2)])
def test_avg_pool_and_gradient_equal_flax(window, impl):
  # (2, 3, 4) covers the map (one position: "fast" is a matmul); (1, 2, 2)
  # leaves several positions.
  rng = np.random.RandomState(0)
  x = jnp.asarray(rng.randn(3, 2, 3, 4, 5), jnp.float32)
  expected, expected_vjp = jax.vjp(
      lambda x: nn.avg_pool(x, window, strides=(1, 1, 1)), x)
  pooled, pool_vjp = jax.vjp(lambda x: avg_pool.avg_pool(x, window, impl), x)
  assert pooled.shape == expected.shape
  np.testing.assert_allclose(pooled, expected, rtol=1e-6, atol=1e-6)
  pooled_grad = jnp.asarray(rng.randn(*expected.shape), jnp.float32)
  np.testing.assert_allclose(pool_vjp(pooled_grad)[0],
                             expected_vjp(pooled_grad)[0], rtol=1e-6,
                             atol=1e-6)


def test_avg_pool_names_an_unknown_impl():
  with pytest.raises(ValueError, match="'fastest'"):
    avg_pool.avg_pool(jnp.zeros((1, 1, 1, 1, 1)), (1, 1, 1), "fastest")
