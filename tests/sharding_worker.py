"""Run by `test_sharding.py` in a subprocess with 8 simulated CPU devices.

  XLA_FLAGS=--xla_force_host_platform_device_count=8 python sharding_worker.py OUT

Computes, and writes to OUT (npz) for the test to check:
  * one and two train steps on a mesh of 8 devices and on a mesh of 1 device
    from the same state and batches (global BatchNorm);
  * grouped BatchNorm in training on the 8-device mesh (output, new running
    statistics) for the test's numpy computation, and the number of
    cross-device reductions XLA needed for the normalized output.
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np

from slowfast_jax import fake_data
from slowfast_jax import models
from slowfast_jax import optim
from slowfast_jax import sharding
from slowfast_jax import train_lib
from slowfast_jax.models import norm

import train_configs  # pylint: disable=wrong-import-order

GROUPED_BN_INPUT_SHAPE = (16, 2, 3, 3, 4)


def run_steps(mesh, config, model, variables, batches):
  schedule = optim.learning_rate_schedule(
      config.optim, steps_per_epoch=4, num_epochs=config.num_epochs,
      global_batch_size=config.global_batch_size)
  tx = optim.make_optimizer(config.optim, schedule, variables["params"])
  state = sharding.replicate(
      train_lib.new_train_state(variables, tx, jax.random.key(3)), mesh)
  step = train_lib.make_train_step(mesh, model=model, tx=tx,
                                   schedule=schedule, config=config)
  losses = []
  for batch in batches:
    state, metrics = step(state, sharding.global_batch(batch, mesh))
    losses.append(float(metrics["loss"]))
  return np.asarray(losses), sharding.fetch(state.variables)


def grouped_bn(mesh, x, group_size):
  """Training-mode BatchNorm on `x` split over the mesh."""
  bn = norm.BatchNorm(group_size=group_size, momentum=0.9)
  variables = bn.init(jax.random.key(0), x[:1])
  variables = {"params": {"scale": jnp.linspace(0.5, 1.5, x.shape[-1]),
                          "bias": jnp.linspace(-1, 1, x.shape[-1])},
               "batch_stats": variables["batch_stats"]}

  def apply(x):
    return bn.apply(variables, x, train=True, mutable=["batch_stats"])

  def output_only(x):
    return apply(x)[0]

  x = jax.device_put(x, sharding.data_sharding(mesh))
  y, updated = jax.jit(apply, out_shardings=sharding.replicated(mesh))(x)
  hlo = jax.jit(output_only).lower(x).compile().as_text()
  reductions = hlo.count("all-reduce(") + hlo.count("all-gather(")
  return (np.asarray(y), sharding.fetch(updated["batch_stats"]), reductions)


def main(out_path):
  assert jax.device_count() == 8, jax.devices()
  results = {}
  config = train_configs.tiny_train_config(batch=16, bn_group_size=0)
  model = models.build_model(config.model)
  variables = jax.tree.map(
      np.asarray,
      train_lib.init_variables(model, config.model, jax.random.key(0)))
  for path, leaf in jax.tree_util.tree_flatten_with_path(variables)[0]:
    results[f"init_var{jax.tree_util.keystr(path)}"] = leaf
  batches = list(zip(range(2), fake_data.make_train_dataset(config)))
  batches = [b for _, b in batches]
  for name, devices in (("mesh8", jax.devices()), ("mesh1", jax.devices()[:1])):
    losses, new = run_steps(sharding.make_mesh(devices), config, model,
                            variables, batches)
    results[f"{name}_losses"] = losses
    for path, leaf in jax.tree_util.tree_flatten_with_path(new)[0]:
      results[f"{name}_var{jax.tree_util.keystr(path)}"] = leaf

  x = np.random.default_rng(0).normal(
      2.0, 3.0, GROUPED_BN_INPUT_SHAPE).astype(np.float32)
  results["bn_input"] = x
  mesh8 = sharding.make_mesh()
  for group in (2, 4, 0):
    y, stats, reductions = grouped_bn(mesh8, x, group)
    results[f"bn{group}_output"] = y
    results[f"bn{group}_mean"] = stats["mean"]
    results[f"bn{group}_var"] = stats["var"]
    results[f"bn{group}_reductions"] = np.asarray(reductions)
  np.savez(out_path, **results)


if __name__ == "__main__":
  main(sys.argv[1])
