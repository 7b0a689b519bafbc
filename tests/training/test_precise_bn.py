"""Precise BatchNorm statistics against fvcore's rule computed in numpy.

The numpy side runs the model on each statistics group (2 clips) alone, with
BatchNorm momentum 0 so each layer writes that group's mean and unbiased
variance (fvcore's momentum-1 trick), and combines them in float64.
"""

import itertools
import subprocess
import sys

import flax
import jax
import numpy as np
import pytest

from slowfast_jax import checkpoint
from slowfast_jax import models
from slowfast_jax import sharding
from slowfast_jax import train_lib
from slowfast_jax.data import sources
from slowfast_jax.data import model_input
from slowfast_jax.models import norm
from slowfast_jax.training import precise_bn

import precise_bn_worker
import processes
import train_configs

WORKER = precise_bn_worker.__file__


@pytest.fixture(scope="module")
def setup():
  return precise_bn_worker.setup()


def group_moments(config, variables, batches, group):
  """Per layer path: `(means, unbiased vars)` `(batches·groups, channels)` and
  the element count per channel of one group, from the model itself."""
  model_config = config.model.copy_and_resolve_references()
  model_config.bn_momentum = 0.0
  model_config.bn_group_size = 0
  model = models.build_model(model_config)

  @jax.jit
  def forward(video):
    pathways = model_input.prepare_pathways(video, model_config, config.data)
    _, state = model.apply(
        variables, pathways, train=True, rngs={"dropout": jax.random.key(1)},
        mutable=["batch_stats", "intermediates"],
        capture_intermediates=lambda m, _: isinstance(m, norm.BatchNorm))
    return state["batch_stats"], state["intermediates"]

  collected = {}
  for batch in batches:
    for start in range(0, len(batch["video"]), group):
      stats, outputs = forward(batch["video"][start:start + group])
      outputs = flax.traverse_util.flatten_dict(outputs)
      for path, value in flax.traverse_util.flatten_dict(stats).items():
        layer, kind = path[:-1], path[-1]
        entry = collected.setdefault(layer, {"mean": [], "var": []})
        entry[kind].append(np.asarray(value, np.float64))
        shape = outputs[layer + ("__call__",)][0].shape
        entry["count"] = int(np.prod(shape[:-1]))
  return collected


def numpy_precise(collected, estimator):
  """fvcore's estimators over equal-sized batches, in float64."""
  result = {}
  for layer, entry in collected.items():
    means, variances = np.stack(entry["mean"]), np.stack(entry["var"])
    n = entry["count"]
    mean = means.mean(0)
    if estimator == "population":
      var = (np.square(means) + variances * (n - 1) / n).mean(0) - mean ** 2
    else:
      var = variances.mean(0)
    result[layer + ("mean",)], result[layer + ("var",)] = mean, var
  return result


@pytest.fixture(scope="module")
def reference(setup):
  config, _, variables, batches = setup
  return group_moments(config, variables, batches, precise_bn_worker.GROUP_SIZE)


@pytest.fixture(scope="module")
def worker_results(tmp_path_factory):
  out = tmp_path_factory.mktemp("precise_bn") / "results.npz"
  result = subprocess.run(
      [sys.executable, WORKER, str(out)], cwd=processes.ROOT / "tests",
      env=processes.subprocess_env(devices=8), capture_output=True, text=True,
      timeout=1800)
  assert result.returncode == 0, result.stderr[-4000:]
  return dict(np.load(out))


@pytest.mark.parametrize("estimator", ["population", "mean_of_batch_var"])
@pytest.mark.parametrize("mesh", ["mesh8", "mesh1"])
def test_precise_stats_equal_numpy(setup, reference, worker_results, mesh,
                                   estimator):
  prefix = f"{mesh}/{estimator}/"
  got = {tuple(k[len(prefix):].split("/")): v
         for k, v in worker_results.items() if k.startswith(prefix)}
  want = numpy_precise(reference, estimator)
  assert set(got) == set(want) and len(want) > 100
  for path, value in want.items():
    np.testing.assert_allclose(got[path], value, rtol=2e-4, atol=2e-5,
                               err_msg="/".join(path))
  initial = flax.traverse_util.flatten_dict(setup[2]["batch_stats"])
  assert np.mean([not np.allclose(got[p], initial[p]) for p in want]) > 0.9


def test_too_few_batches_and_bad_estimator(setup):
  config, model, variables, batches = setup
  mesh = sharding.make_mesh(jax.devices()[:1])
  precise = precise_bn.make_precise_batch_stats(model, mesh=mesh,
                                                config=config)
  with pytest.raises(ValueError, match="estimator='median'"):
    precise(variables, batches, 3, "median")
  with pytest.raises(ValueError, match="needs 5 batches; the iterator gave 0"):
    precise(variables, iter(()), 5)


def test_numpy_rule_is_fvcores():
  """`numpy_precise` is what fvcore's `update_bn_stats` does to a torch BN."""
  torch = pytest.importorskip("torch")
  fvcore_precise_bn = pytest.importorskip("fvcore.nn.precise_bn")
  rng = np.random.default_rng(0)
  batches = [rng.normal(1.5, 2.0, (2, 3, 2, 3, 3)).astype(np.float32)
             for _ in range(4)]  # (N, C, T, H, W), as the release's BN3d.
  collected = {}
  for estimator in ("population", "mean_of_batch_var"):
    model = torch.nn.Sequential(torch.nn.BatchNorm3d(3)).train()
    if estimator == "mean_of_batch_var":  # Older fvcore's estimator.
      old = fvcore_precise_bn._PopulationVarianceEstimator
      fvcore_precise_bn._PopulationVarianceEstimator = (
          fvcore_precise_bn._MeanOfBatchVarianceEstimator)
    try:
      fvcore_precise_bn.update_bn_stats(
          model, [torch.from_numpy(b) for b in batches], len(batches))
    finally:
      if estimator == "mean_of_batch_var":
        fvcore_precise_bn._PopulationVarianceEstimator = old
    axes = (0, 2, 3, 4)
    collected[("bn",)] = {
        "mean": [b.astype(np.float64).mean(axes) for b in batches],
        "var": [b.astype(np.float64).var(axes, ddof=1) for b in batches],
        "count": 2 * 2 * 3 * 3}
    want = numpy_precise(collected, estimator)
    np.testing.assert_allclose(model[0].running_mean.numpy(),
                               want[("bn", "mean")], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model[0].running_var.numpy(),
                               want[("bn", "var")], rtol=1e-5, atol=1e-6)


def test_training_loop_recomputes_stats_before_each_validation(tmp_path):
  """The checkpoint saved at each validation holds the statistics numpy
  computes from its parameters over the precise-BN pipeline's first
  min(num_batches, steps per epoch) batches."""
  config = train_configs.tiny_train_config(batch=4, train_size=8, epochs=2,
                                           precise_bn=True)
  config.precise_bn.num_batches = 3  # An epoch has 2 steps: 2 are used.
  config.eval_every_steps = 2  # Validations (and checkpoints) at 2 and 4.
  config.checkpoint_every_steps = 0
  summary = train_lib.train_and_evaluate(config, str(tmp_path))
  assert summary["step"] == 4
  directory = tmp_path / train_lib.CHECKPOINT_SUBDIR
  assert checkpoint.all_steps(directory) == [2, 4]
  source = sources.get(config)
  for step in (2, 4):
    variables, _ = checkpoint.restore_variables(directory, step=step)
    batches = list(itertools.islice(source.make_train_dataset(
        config, seed=train_lib.precise_bn_seed(config.seed, step)), 2))
    want = numpy_precise(group_moments(config, variables, batches, group=4),
                         "population")
    got = flax.traverse_util.flatten_dict(variables["batch_stats"])
    assert set(got) == set(want) and len(want) > 100
    for path, value in want.items():
      np.testing.assert_allclose(got[path], value, rtol=2e-4, atol=2e-5,
                                 err_msg=f"step {step}: {'/'.join(path)}")
