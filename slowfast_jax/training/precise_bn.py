"""Precise BatchNorm statistics: the release's `BN.USE_PRECISE_STATS`.

The release (tools/train_net.py, before each checkpoint or eval epoch when
`BN.USE_PRECISE_STATS`) calls fvcore's `update_bn_stats` on
`min(BN.NUM_BATCHES_PRECISE, len(loader))` batches of the ordinary training
loader (training augmentation): the model runs in training mode with every
BatchNorm's momentum set to 1, so after each forward a layer's running mean
is that batch's mean and its running variance that batch's unbiased
(Bessel-corrected) variance. fvcore (0.1.5.post20221221 and its git head,
which the release's INSTALL.md installs) combines them with its
`_PopulationVarianceEstimator`:

    mean = average over batches of the batch means
    var  = average over batches of (batch mean² + biased batch variance)
           − mean²

(batches weighted by their element count `clips·time·height·width`, equal
here since every global batch has one shape), i.e. the variance of all the
batches' activations pooled. Older fvcore (`_MeanOfBatchVarianceEstimator`,
the BatchNorm paper's Sec. 3.1) used the average of the unbiased batch
variances instead: `estimator="mean_of_batch_var"`.

Each statistics group of `models.norm.BatchNorm` (`group_size` clips, the
release's per-GPU batch) counts as one batch of that computation, so the
result does not depend on the device count. (On several GPUs the release's
own result is rank 0's estimate from its own batches, which DDP broadcasts;
here every group of every batch contributes.)
"""

import functools
import itertools
from typing import Any, Callable, Iterable

import flax.linen as nn
from flax import traverse_util
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from slowfast_jax import sharding
from slowfast_jax.data import model_input
from slowfast_jax.models import norm

from slowfast_jax.ops.batch_norm import grouped_moments

ESTIMATORS = ("population", "mean_of_batch_var")


def _train_forward(model: nn.Module, variables: dict[str, Any],
                   batch: dict[str, jax.Array],
                   config: ml_collections.ConfigDict) -> None:
  """The training-mode forward pass of `batch` (its outputs are not needed).

  The one call that depends on the model's signature.
  """
  pathways = model_input.prepare_pathways(batch["video"], config.model,
                                          config.data)
  model.apply(variables, pathways, train=True, mutable=["batch_stats"],
              rngs={"dropout": jax.random.key(0)})


def batch_moments(model: nn.Module, variables: dict[str, Any],
                  batch: dict[str, jax.Array],
                  config: ml_collections.ConfigDict
                  ) -> dict[tuple[str, ...], tuple[jax.Array, ...]]:
  """Every BatchNorm's per-batch statistics in a training-mode forward.

  Returns `{layer path: (mean, mean of squares, unbiased variance)}`, each
  `(channels,)` and averaged over the layer's statistics groups; the mean of
  squares is `mean² + biased variance`.
  """
  moments = {}

  def capture(next_fun, args, kwargs, context):
    module = context.module
    if isinstance(module, norm.BatchNorm) and context.method_name == "__call__":
      path = tuple(module.scope.path)
      if path in moments:
        raise ValueError(f"BatchNorm {'/'.join(path)} runs twice in one "
                         "forward; precise statistics need one call per layer.")
      x = args[0].astype(jnp.float32)
      mean, var = grouped_moments(x, module.group_size)
      count = x.size // x.shape[-1] // mean.shape[0]
      moments[path] = (mean.mean(0), (jnp.square(mean) + var).mean(0),
                       (var * (count / max(count - 1, 1))).mean(0))
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(capture):
    _train_forward(model, variables, batch, config)
  return moments


def _accumulate(averages, index, variables, batch, *, model, config):
  """Running averages over batches: `avg += (new − avg) / index`, as fvcore."""
  new = batch_moments(model, variables, batch, config)
  return jax.tree.map(lambda avg, x: avg + (x - avg) / index, averages, new)


@functools.partial(jax.jit, static_argnames="estimator")
def _finalize(batch_stats: dict[str, Any], averages, estimator: str):
  """The new `batch_stats`; layers that never ran keep their statistics."""
  flat = traverse_util.flatten_dict(batch_stats)
  for path, (mean, mean_square, unbiased_var) in averages.items():
    flat[path + ("mean",)] = mean
    flat[path + ("var",)] = (mean_square - jnp.square(mean)
                             if estimator == "population" else unbiased_var)
  return traverse_util.unflatten_dict(flat)


def make_precise_batch_stats(model: nn.Module, *, mesh: jax.sharding.Mesh,
                             config: ml_collections.ConfigDict
                             ) -> Callable[..., dict[str, Any]]:
  """`precise_batch_stats(variables, batches, num_batches, estimator=...)`.

  Recomputes every BatchNorm's running statistics over `num_batches`
  global batches. Make it once per run (it holds the compiled forward pass)
  and call it wherever the release does: when `config.precise_bn.enabled`,
  before saving a checkpoint or evaluating, and at the end of training,
  with batches from the training pipeline:

      precise = precise_bn.make_precise_batch_stats(model, mesh=mesh,
                                                    config=config)
      ...
      stats = precise(state.variables,
                      (sharding.global_batch(b, mesh) for b in train_batches),
                      config.precise_bn.num_batches)
      state = state.replace(batch_stats=stats)

  The release uses `min(num_batches, batches per epoch)`.

  Args:
    model: the network (`models.build_model(config.model)`).
    mesh: the device mesh.
    config: the run's config (`model`, `data`: how clips become pathways).

  The returned function's arguments:
    variables: `{"params", "batch_stats"}`, replicated on `mesh`.
    batches: global batches as the training step takes them (`video` uint8
      `(batch, num_frames, crop, crop, 3)`, split over the mesh's `data` axis).
    num_batches: how many batches to average over; fewer raise.
    estimator: "population" (fvcore today) or "mean_of_batch_var".
  It returns new `batch_stats` (the tree of `variables["batch_stats"]`),
  replicated.
  """
  replicated = sharding.replicated(mesh)
  step = jax.jit(
      functools.partial(_accumulate, model=model, config=config),
      in_shardings=(replicated, replicated, replicated,
                    sharding.data_sharding(mesh)),
      out_shardings=replicated, donate_argnums=0)
  shapes_of = functools.partial(batch_moments, model, config=config)

  def precise_batch_stats(variables: dict[str, Any],
                          batches: Iterable[dict[str, jax.Array]],
                          num_batches: int, estimator: str = "population"):
    if estimator not in ESTIMATORS:
      raise ValueError(f"estimator={estimator!r}; expected one of "
                       f"{ESTIMATORS}.")
    averages, done = None, 0
    for batch in itertools.islice(batches, num_batches):
      if averages is None:
        averages = sharding.replicate(jax.tree.map(
            lambda s: np.zeros(s.shape, s.dtype),
            jax.eval_shape(shapes_of, variables, batch)), mesh)
      done += 1
      averages = step(averages, sharding.replicate(np.float32(done), mesh),
                      variables, batch)
    if done < num_batches:
      raise ValueError(f"Precise BatchNorm needs {num_batches} batches; the "
                       f"iterator gave {done}.")
    return _finalize(variables["batch_stats"], averages, estimator=estimator)

  return precise_batch_stats
