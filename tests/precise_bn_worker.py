"""Run by `test_precise_bn.py` with 8 simulated CPU devices.

  XLA_FLAGS=--xla_force_host_platform_device_count=8 python precise_bn_worker.py OUT

Writes to OUT (npz) the precise BatchNorm statistics of `setup()`'s model
and batches (both estimators) computed on a mesh of 8 devices and on a mesh
of 1 device, under `mesh/estimator/layer path/mean|var`.
"""

import sys

import flax
import jax
import numpy as np

from slowfast_jax import models
from slowfast_jax import sharding
from slowfast_jax import train_lib
from slowfast_jax.training import precise_bn

import train_configs  # pylint: disable=wrong-import-order

GROUP_SIZE = 2


def setup(num_batches=3, batch=8):
  """A tiny SlowFast (BN groups of 2 clips), variables, random uint8 batches."""
  config = train_configs.tiny_train_config(batch=batch,
                                           bn_group_size=GROUP_SIZE)
  model = models.build_model(config.model)
  variables = jax.tree.map(np.asarray, train_lib.init_variables(
      model, config.model, jax.random.key(0)))
  rng = np.random.default_rng(0)
  shape = (batch, config.model.num_frames, config.model.train_crop_size,
           config.model.train_crop_size, 3)
  batches = [{"video": rng.integers(0, 256, shape, np.uint8)}
             for _ in range(num_batches)]
  return config, model, variables, batches


def precise_stats(mesh, config, model, variables, batches):
  """Both estimators' statistics on `mesh` (one compiled step), as numpy."""
  precise = precise_bn.make_precise_batch_stats(model, mesh=mesh,
                                                config=config)
  variables = sharding.replicate(variables, mesh)
  return {estimator: sharding.fetch(precise(
      variables, (sharding.global_batch(b, mesh) for b in batches),
      len(batches), estimator)) for estimator in precise_bn.ESTIMATORS}


def main(out_path):
  assert jax.device_count() == 8, jax.devices()
  config, model, variables, batches = setup()
  results = {}
  for name, devices in (("mesh8", jax.devices()), ("mesh1", jax.devices()[:1])):
    stats = precise_stats(sharding.make_mesh(devices), config, model,
                          variables, batches)
    for estimator, tree in stats.items():
      for path, leaf in flax.traverse_util.flatten_dict(tree).items():
        results["/".join((name, estimator) + path)] = leaf
  np.savez(out_path, **results)


if __name__ == "__main__":
  main(sys.argv[1])
