"""The ops switch: "native" is XLA's own path, and it trains in bfloat16.

TPUs and GPUs take the native path ("auto" off CPU) in bfloat16; these tests
run that configuration on CPU so every change exercises it.
"""

import numpy as np
import optax
import pytest

import jax
import jax.numpy as jnp
from slowfast_jax import models

from model_configs import random_variables
from model_configs import tiny_model_config

TRAINED = "slow_8x8_r50"  # The bfloat16 train and eval step's model.


def _tiny(impl, dtype=jnp.float32, crop=32, preset="slowfast_8x8_r50"):
  """A tiny preset, its inputs (batch 2, crop², 8 frames), variables."""
  config = tiny_model_config(preset, width=8, crop=crop, frames=8)
  model = models.build_model(config, conv_impl=impl, dtype=dtype)
  rng = np.random.RandomState(0)
  inputs = [jnp.asarray(rng.randn(*s), jnp.float32)
            for s in models.input_shapes(config, crop, batch_size=2)]
  return model, inputs, random_variables(model, inputs)


def _loss_fn(model, batch_stats, inputs, labels):
  def loss(params):
    logits, state = model.apply(
        {"params": params, "batch_stats": batch_stats}, inputs, train=True,
        rngs={"dropout": jax.random.PRNGKey(0)}, mutable=["batch_stats"])
    loss = optax.softmax_cross_entropy_with_integer_labels(
        logits.astype(jnp.float32), labels).mean()
    return loss, state["batch_stats"]
  return loss


def _primitives(jaxpr) -> set[str]:
  """Every primitive's name in a jaxpr, nested jaxprs included."""
  names = set()
  for eqn in jaxpr.eqns:
    names.add(eqn.primitive.name)
    for param in eqn.params.values():
      inner = getattr(param, "jaxpr", param)
      if hasattr(inner, "eqns"):
        names |= _primitives(inner)
  return names


def _gradient_primitives(impl):
  model, inputs, variables = _tiny(impl)
  loss = _loss_fn(model, variables["batch_stats"], inputs,
                  jnp.zeros((2,), jnp.int32))
  closed = jax.make_jaxpr(jax.grad(loss, has_aux=True))(variables["params"])
  return _primitives(closed.jaxpr)


def test_native_is_xla_own_path_for_conv_batch_norm_and_max_pool():
  native = _gradient_primitives("native")
  # No custom gradients (conv2d, closed-form BatchNorm, max-pool) and no
  # im2col scan; the stems' max-pool is a reduce-window.
  assert "custom_vjp_call" not in native
  assert "scan" not in native
  assert {"conv_general_dilated", "reduce_window_max",
          "select_and_scatter_add"} <= native
  fast = _gradient_primitives("fast")
  assert "custom_vjp_call" in fast and "reduce_window_max" not in fast


def _train_and_eval(impl, dtype):
  """One SGD step and an eval forward: (loss, grads, new params, logits)."""
  # Slow R50 (half SlowFast's compile time). At 64² the last stage's
  # BatchNorms see 64 values per channel; with a few, bfloat16's rounding of
  # the activations dominates their variance and the gradient.
  model, inputs, variables = _tiny(impl, dtype, crop=64, preset=TRAINED)
  labels = jnp.asarray([1, 7], jnp.int32)
  tx = optax.sgd(0.1, momentum=0.9)

  @jax.jit
  def train_step(params, opt_state):
    (loss, _), grads = jax.value_and_grad(
        _loss_fn(model, variables["batch_stats"], inputs, labels),
        has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return loss, grads, optax.apply_updates(params, updates)

  params = variables["params"]
  loss, grads, new_params = train_step(params, tx.init(params))
  logits = jax.jit(model.apply)(variables, inputs)
  return loss, grads, new_params, logits


def _relative_l2(tree, reference):
  diff = sum(float(jnp.sum(jnp.square(a.astype(jnp.float32) - b)))
             for a, b in zip(jax.tree.leaves(tree), jax.tree.leaves(reference)))
  norm = sum(float(jnp.sum(jnp.square(b))) for b in jax.tree.leaves(reference))
  return (diff / norm)**0.5


@pytest.mark.parametrize("impl", ["native"])
def test_bfloat16_train_and_eval_step_on_the_accelerator_path(impl):
  loss16, grads16, params16, logits16 = _train_and_eval(impl, jnp.bfloat16)
  loss32, grads32, params32, logits32 = _train_and_eval(impl, jnp.float32)
  for tree in (loss16, grads16, params16, logits16):
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(tree))
  assert logits16.dtype == jnp.float32  # The head computes in float32.
  # bfloat16 keeps 8 significant bits (relative rounding 2^-9 ≈ 0.2 %).
  # Seen: logits within 0.25 % of their scale, gradients 5 % apart (L2).
  scale = float(jnp.abs(logits32).max())
  assert scale > 0.1
  np.testing.assert_allclose(logits16, logits32, atol=0.02 * scale)
  np.testing.assert_allclose(loss16, loss32, rtol=0.01)
  assert _relative_l2(grads16, grads32) < 0.15
  initial = _tiny(impl, crop=64, preset=TRAINED)[2]["params"]
  step32 = jax.tree.map(jnp.subtract, params32, initial)
  step16 = jax.tree.map(jnp.subtract, params16, initial)
  assert _relative_l2(step16, step32) < 0.15
