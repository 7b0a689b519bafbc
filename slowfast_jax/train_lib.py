"""Training loop: one jitted step over a device mesh, orbax checkpoints, clu metrics.

    state = initial or restored TrainState (replicated on the mesh)
    for each step: host batch (uint8 clips) -> global array split over `data`
                   -> train_step (normalize, Slow/Fast split, forward,
                      backward, SGD) -> metrics
    periodically: log, validate (one view per video), checkpoint

Exact resume: the state holds the step and the RNG key, dropout keys are
`fold_in(key, step)`, and the input pipeline restarts at the step, so a run
killed at any point and restarted from its latest checkpoint computes the
same steps as an uninterrupted run.
"""

import functools
import json
import signal
import time
from typing import Any, Callable, Iterator

from absl import logging
from clu import metric_writers
from clu import periodic_actions
from etils import epath
import flax
import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from slowfast_jax import checkpoint
from slowfast_jax import checkpoint_config
from slowfast_jax import fake_data
from slowfast_jax import models
from slowfast_jax import optim
from slowfast_jax import sharding
from slowfast_jax import validate
from slowfast_jax import xla_cpu
from slowfast_jax.data import model_input

CHECKPOINT_SUBDIR = checkpoint.WORKDIR_SUBDIR
SUMMARY_FILE = "train_summary.json"


class NonFiniteLossError(RuntimeError):
  """The loss or the gradients became NaN or Inf."""


@flax.struct.dataclass
class TrainState:
  """Everything a step reads and writes; replicated on every device.

  Attributes:
    step: int32 scalar, steps done.
    params: the model parameters.
    batch_stats: BatchNorm running statistics.
    opt_state: the optax state.
    rng: uint32 key data of the run's base key; step `s` uses
      `fold_in(key, s)`, so the RNG stream resumes with the step.
  """
  step: jax.Array
  params: Any
  batch_stats: Any
  opt_state: Any
  rng: jax.Array

  @property
  def variables(self) -> dict[str, Any]:
    return {"params": self.params, "batch_stats": self.batch_stats}


# ---------------------------------------------------------------------------
# Data.


def data_source(config: ml_collections.ConfigDict):
  """The module with `dataset_info`/`make_train_dataset`/`make_eval_dataset`."""
  if config.data.name == fake_data.NAME:
    return fake_data
  from slowfast_jax.data import pipeline  # pylint: disable=g-import-not-at-top
  return pipeline


def ensure_dataset(config: ml_collections.ConfigDict) -> None:
  """Generates and prepares the synthetic demo dataset on first use.

  Only for configs with `data.generate_demo = True` (the demo configs); host
  0 writes it, the others wait.
  """
  if not config.data.get("generate_demo", False):
    return
  if jax.process_index() == 0:
    from slowfast_jax.data import synthetic  # pylint: disable=g-import-not-at-top
    data_dir = epath.Path(config.data.data_dir)
    logging.info("Making sure the demo dataset %r is in %s (generated on "
                 "first use).", config.data.name, data_dir)
    synthetic.ensure_demo_dataset(
        data_dir, name=config.data.name,
        videos_per_class=config.data.demo_videos_per_class,
        val_videos_per_class=config.data.demo_val_videos_per_class,
        short_side=config.data.demo_short_side,
        height=config.data.demo_frame_size[0],
        width=config.data.demo_frame_size[1])
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices("demo dataset ready")


def as_numpy_iterator(dataset) -> Iterator[dict[str, np.ndarray]]:
  """tf.data datasets and plain iterators alike, as numpy batches."""
  if hasattr(dataset, "as_numpy_iterator"):
    return dataset.as_numpy_iterator()
  return iter(dataset)


# ---------------------------------------------------------------------------
# State.


def compile_options() -> dict[str, Any]:
  """Cheap XLA options for one-off programs (initialization) on CPU.

  Initializing a depth-50 network compiles a large random-number program
  that runs once; on CPU the default optimization level makes that compile
  about 4x slower than at level 0.
  """
  if jax.default_backend() == "cpu":
    return {"xla_backend_optimization_level": 0}
  return {}


def _init_fn(model, model_config, key):
  shapes = models.input_shapes(model_config, model_config.train_crop_size, 1)
  dummy = [jnp.zeros(s, jnp.float32) for s in shapes]
  return model.init({"params": key, "dropout": key}, dummy, train=False)


def init_variables(model: models.VideoResNet,
                   model_config: ml_collections.ConfigDict,
                   rng: jax.Array) -> dict[str, Any]:
  """Fresh `{'params', 'batch_stats'}` on this host (not yet on the mesh)."""
  init = jax.jit(functools.partial(_init_fn, model, model_config))
  compiled = init.lower(rng).compile(compiler_options=compile_options())
  return dict(compiled(rng))


def new_train_state(variables: dict[str, Any], tx: optax.GradientTransformation,
                    rng: jax.Array) -> TrainState:
  return TrainState(step=jnp.zeros((), jnp.int32),
                    params=variables["params"],
                    batch_stats=variables["batch_stats"],
                    opt_state=tx.init(variables["params"]),
                    rng=jax.random.key_data(rng))


def load_pretrained(config: ml_collections.ConfigDict,
                    fresh: dict[str, Any]) -> dict[str, Any]:
  """Variables from `config.init_from`, checked against the model's shapes.

  With `config.init_head == 'reinit'` the classifier (`head`) keeps its
  fresh initialization, so a checkpoint with another class count fits.
  """
  loaded, _ = checkpoint.restore_variables(config.init_from)
  loaded = jax.tree.map(np.asarray, loaded)
  if config.init_head == "reinit":
    loaded["params"] = dict(loaded["params"])
    loaded["params"]["head"] = jax.tree.map(np.asarray, fresh["params"]["head"])
  fresh_shapes = jax.tree_util.tree_flatten_with_path(
      jax.tree.map(np.shape, fresh))[0]
  loaded_shapes = dict(jax.tree_util.tree_flatten_with_path(
      jax.tree.map(np.shape, loaded))[0])
  problems = []
  for path, shape in fresh_shapes:
    got = loaded_shapes.pop(path, None)
    if got != shape:
      problems.append(f"{jax.tree_util.keystr(path)}: model {shape}, "
                      f"checkpoint {got}")
  problems += [f"{jax.tree_util.keystr(p)}: not in the model"
               for p in loaded_shapes]
  if problems:
    hint = ""
    if any("head" in p for p in problems) and config.init_head != "reinit":
      hint = (" The classifier differs: set config.init_head='reinit' to "
              "train a new head for config.model.num_classes="
              f"{config.model.num_classes}.")
    raise ValueError(f"config.init_from={config.init_from} does not fit "
                     f"config.model: {'; '.join(problems[:8])}"
                     f"{' ...' if len(problems) > 8 else ''}.{hint}")
  logging.info("Initialized from %s (head: %s).", config.init_from,
               config.init_head)
  return loaded


# ---------------------------------------------------------------------------
# Steps.


def train_step(state: TrainState, batch: dict[str, jax.Array], *,
               model: models.VideoResNet, tx: optax.GradientTransformation,
               schedule: optax.Schedule, config: ml_collections.ConfigDict
               ) -> tuple[TrainState, dict[str, jax.Array]]:
  """One SGD step on a global batch.

  Args:
    state: replicated `TrainState`.
    batch: `video` uint8 `(batch, num_frames, crop, crop, 3)` and `label`
      int32 `(batch,)`, split over the mesh's `data` axis.

  Returns:
    The new state and scalar metrics (`loss`, `top1`, `lr`, `grad_norm`,
    `finite`), averaged over the global batch.
  """
  key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
  pathways = model_input.prepare_pathways(batch["video"], config.model,
                                          config.data)
  labels = batch["label"]

  def loss_fn(params):
    logits, updates = model.apply(
        {"params": params, "batch_stats": state.batch_stats}, pathways,
        train=True, rngs={"dropout": key}, mutable=["batch_stats"])
    loss = optim.cross_entropy_loss(logits, labels,
                                    config.optim.label_smoothing)
    inject_at = config.get("inject_nan_at_step", 0)
    if inject_at:  # Test aid: a deterministic divergence at a given step.
      loss = jnp.where(state.step + 1 == inject_at, jnp.nan, loss)
    return loss, (logits, updates["batch_stats"])

  (loss, (logits, batch_stats)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(state.params)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  grad_norm = optax.global_norm(grads)
  metrics = {
      "loss": loss,
      "top1": jnp.mean(jnp.argmax(logits, -1) == labels),
      "lr": schedule(state.step),
      "grad_norm": grad_norm,
      # Finite loss and gradients imply finite new parameters.
      "finite": jnp.isfinite(loss) & jnp.isfinite(grad_norm),
  }
  new_state = state.replace(step=state.step + 1, params=params,
                            batch_stats=batch_stats, opt_state=opt_state)
  return new_state, metrics


def eval_step(variables: dict[str, Any], batch: dict[str, jax.Array], *,
              model: models.VideoResNet, config: ml_collections.ConfigDict
              ) -> dict[str, jax.Array]:
  """Sums of correct views, views and NLL over a global eval batch.

  Uses the release's eval output (softmax probabilities, averaged over the
  head's positions at crops larger than the training crop); rows with
  `mask = False` are padding and count for nothing.
  """
  pathways = model_input.prepare_pathways(batch["video"], config.model,
                                          config.data)
  probs = model.apply(variables, pathways, train=False, probabilities=True)
  mask = batch["mask"].astype(jnp.float32)
  labels = jnp.maximum(batch["label"], 0)
  correct = (jnp.argmax(probs, -1) == labels).astype(jnp.float32)
  picked = jnp.take_along_axis(probs, labels[:, None], axis=-1)[:, 0]
  nll = -jnp.log(jnp.maximum(picked, 1e-12))
  return {"correct": jnp.sum(correct * mask), "count": jnp.sum(mask),
          "nll": jnp.sum(nll * mask)}


def make_train_step(mesh, **kwargs) -> Callable[..., Any]:
  """`train_step` jitted over `mesh`: state replicated, batch split, state donated."""
  replicated = sharding.replicated(mesh)
  return jax.jit(functools.partial(train_step, **kwargs),
                 in_shardings=(replicated, sharding.data_sharding(mesh)),
                 out_shardings=(replicated, replicated), donate_argnums=0,
                 compiler_options=xla_cpu.model_compiler_options())


def make_eval_step(mesh, **kwargs) -> Callable[..., Any]:
  replicated = sharding.replicated(mesh)
  return jax.jit(functools.partial(eval_step, **kwargs),
                 in_shardings=(replicated, sharding.data_sharding(mesh)),
                 out_shardings=replicated,
                 compiler_options=xla_cpu.model_compiler_options())


# ---------------------------------------------------------------------------
# Stopping on SIGTERM / preemption.


class StopSignal:
  """Whether SIGTERM (preemption notice) asked the run to save and stop.

  Single host: a SIGTERM handler sets a flag. Several hosts: JAX's preemption
  service receives the signal on any host and picks a step every host
  reaches (`reached_preemption_sync_point`), so all of them save the same
  step.
  """

  def __init__(self):
    self._requested = False
    self._previous = None
    if jax.process_count() == 1:
      self._previous = signal.signal(signal.SIGTERM, self._handle)

  def _handle(self, signum, frame):
    del frame
    logging.warning("Received signal %d: saving a checkpoint and stopping.",
                    signum)
    self._requested = True

  def should_stop(self, step: int) -> bool:
    if jax.process_count() > 1:
      return multihost_utils.reached_preemption_sync_point(step)
    return self._requested

  def restore(self) -> None:
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


# ---------------------------------------------------------------------------
# The loop.


def _metadata(config: ml_collections.ConfigDict, class_names, workdir,
              step: int) -> dict[str, Any]:
  return {
      "model": config.model.to_dict(),
      "config": json.loads(config.to_json_best_effort()),
      "class_names": list(class_names),
      "source": {"train_workdir": str(workdir), "step": step},
  }


def _check_finite(metrics: dict[str, Any], step: int, manager) -> None:
  """Raises `NonFiniteLossError` if step `step`'s loss or gradients diverged."""
  if bool(jax.device_get(metrics["finite"])):
    return
  manager.wait_until_finished()
  last = manager.latest_step()
  loss = float(jax.device_get(metrics["loss"]))
  where = (f"the last good checkpoint is step {last} in {manager.directory}"
           if last is not None else "no checkpoint was saved yet")
  raise NonFiniteLossError(
      f"Non-finite loss or gradients at step {step} (loss={loss}); training "
      f"stopped and {where}. Lower config.optim.base_lr, set "
      "config.optim.grad_clip_norm, or check the input data.")


def evaluate(eval_fn, variables, config: ml_collections.ConfigDict, mesh,
             source) -> dict[str, float]:
  """Single-view validation: one view per video (`num_clips = num_crops = 1`)."""
  batches = source.make_eval_dataset(
      config, config.data.val_split, num_clips=1, num_crops=1,
      batch_size=config.eval.batch_size, process_index=jax.process_index(),
      process_count=jax.process_count())
  totals = None
  for host_batch in as_numpy_iterator(batches):
    host_batch = {k: host_batch[k] for k in ("video", "label", "mask")}
    out = eval_fn(variables, sharding.global_batch(host_batch, mesh))
    totals = out if totals is None else jax.tree.map(jnp.add, totals, out)
  totals = sharding.fetch(totals)
  count = max(float(totals["count"]), 1.0)
  return {"val_top1": float(totals["correct"]) / count,
          "val_loss": float(totals["nll"]) / count,
          "val_views": int(totals["count"])}


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: str) -> dict[str, Any]:
  """Trains (resuming from `workdir` if it has checkpoints) and validates.

  Returns:
    A summary: `step`, `val_top1`, `val_loss`, `train_loss`, `seconds`, ...
    (also written to `workdir/train_summary.json` by host 0).

  Raises:
    validate.ConfigError: a config field is invalid (before compiling).
    NonFiniteLossError: the loss diverged (the last good checkpoint stays).
  """
  start_time = time.time()
  workdir = epath.Path(workdir)
  checkpoint_config.check_resume(workdir, config)  # Before anything is written.
  ensure_dataset(config)
  validate.validate_config(config, device_count=jax.device_count(),
                           process_count=jax.process_count())
  source = data_source(config)
  info = source.dataset_info(config)
  num_train = info.num_examples[config.data.train_split]
  steps_per_epoch = num_train // config.global_batch_size
  if steps_per_epoch == 0:
    raise validate.ConfigError(
        f"config.global_batch_size={config.global_batch_size} is larger than "
        f"the {num_train} training clips of {config.data.name!r}.")
  if info.num_classes != config.model.num_classes:
    raise validate.ConfigError(
        f"config.model.num_classes={config.model.num_classes} but dataset "
        f"{config.data.name!r} has {info.num_classes} classes.")
  total_steps = int(round(config.num_epochs * steps_per_epoch))
  eval_every = config.get("eval_every_steps", 0) or max(
      1, int(round(config.eval_every_epochs * steps_per_epoch)))
  checkpoint_every = config.checkpoint_every_steps

  mesh = sharding.make_mesh()
  model = models.build_model(config.model)
  schedule = optim.learning_rate_schedule(
      config.optim, steps_per_epoch=steps_per_epoch,
      num_epochs=config.num_epochs, global_batch_size=config.global_batch_size)
  base_key = jax.random.key(config.seed)
  init_key, run_key = jax.random.split(base_key)
  abstract_variables = jax.eval_shape(
      functools.partial(_init_fn, model, config.model), init_key)
  tx = optim.make_optimizer(config.optim, schedule,
                            abstract_variables["params"])

  manager = checkpoint.training_manager(
      workdir / CHECKPOINT_SUBDIR, keep_last=config.keep_checkpoints,
      async_save=config.get("async_checkpoints", True))
  latest = manager.latest_step()
  if latest is not None:
    abstract_state = jax.eval_shape(
        lambda v: new_train_state(v, tx, run_key), abstract_variables)
    target = sharding.abstract_replicated(abstract_state, mesh)
    variables, opt_state, meta = checkpoint.restore_training_state(
        manager, latest, variables=target.variables,
        opt_state=target.opt_state)
    state = TrainState(
        step=sharding.replicate(np.int32(meta["step"]), mesh),
        params=variables["params"], batch_stats=variables["batch_stats"],
        opt_state=opt_state,
        rng=sharding.replicate(np.asarray(meta["rng"], np.uint32), mesh))
    logging.info("Resumed from step %d of %s.", meta["step"],
                 manager.directory)
  else:
    fresh = init_variables(model, config.model, init_key)
    if config.init_from:
      fresh = load_pretrained(config, fresh)
    state = sharding.replicate(
        new_train_state(jax.tree.map(np.asarray, fresh), tx, run_key), mesh)
  start_step = int(jax.device_get(state.step))

  train_fn = make_train_step(mesh, model=model, tx=tx, schedule=schedule,
                             config=config)
  eval_fn = make_eval_step(mesh, model=model, config=config)
  host = jax.process_index()
  writer = metric_writers.create_default_writer(
      workdir, just_logging=host > 0, asynchronous=True)
  if start_step == 0:
    writer.write_hparams(_flat_hparams(config))
  logging.info(
      "Training %s on %d devices (%d hosts): %d steps (%d per epoch) of %d "
      "clips, from step %d.", config.model.arch, jax.device_count(),
      jax.process_count(), total_steps, steps_per_epoch,
      config.global_batch_size, start_step)
  profiler = None
  if config.profile and host == 0:
    profiler = periodic_actions.Profile(logdir=str(workdir),
                                        num_profile_steps=5,
                                        first_profile=start_step + 10)

  train_iter = as_numpy_iterator(source.make_train_dataset(
      config, process_index=host, process_count=jax.process_count(),
      start_step=start_step))
  stop = StopSignal()
  class_names = info.class_names
  summary = {"start_step": start_step}
  pending = []  # Device metrics since the last log.
  previous = None  # (step, metrics) not yet checked for finiteness.
  last_log_time, last_log_step = time.time(), start_step
  last_val = {}
  saved_step = manager.latest_step()
  step = start_step
  try:
    while step < total_steps:
      batch = sharding.global_batch(next(train_iter), mesh)
      state, metrics = train_fn(state, batch)
      step += 1
      if step == start_step + 1:
        jax.block_until_ready(metrics)
        logging.info("First step (with compilation) done after %.1f s.",
                     time.time() - start_time)
        summary["first_step_seconds"] = round(time.time() - start_time, 1)
        # Rates exclude the compilation.
        last_log_time, last_log_step = time.time(), step
      # Check the previous step while this one runs (no pipeline stall).
      if previous is not None:
        _check_finite(previous[1], previous[0], manager)
      previous = (step, metrics)
      pending.append(metrics)
      if profiler is not None:
        profiler(step)

      stop_now = stop.should_stop(step)
      do_eval = step % eval_every == 0 or step == total_steps
      do_save = (stop_now or do_eval or step == total_steps or
                 (checkpoint_every and step % checkpoint_every == 0))
      if step % config.log_every_steps == 0 or do_save:
        _check_finite(metrics, step, manager)
        previous = None
        now = time.time()
        scalars = _mean_metrics(pending)
        scalars["epoch"] = step / steps_per_epoch
        if step > last_log_step:  # Not right after the compiling step.
          steps_per_sec = (step - last_log_step) / max(now - last_log_time,
                                                       1e-9)
          scalars.update(
              steps_per_sec=steps_per_sec,
              clips_per_sec=steps_per_sec * config.global_batch_size,
              eta_minutes=(total_steps - step) / steps_per_sec / 60)
        writer.write_scalars(step, scalars)
        summary["train_loss"], summary["train_top1"] = (scalars["loss"],
                                                        scalars["top1"])
        pending, last_log_time, last_log_step = [], now, step
      val_metrics = None
      if do_eval:
        eval_start = time.time()
        val_metrics = evaluate(eval_fn, state.variables, config, mesh, source)
        writer.write_scalars(step, val_metrics)
        last_val = val_metrics
        logging.info("Validation at step %d: top-1 %.4f (%d views, %.1f s).",
                     step, val_metrics["val_top1"], val_metrics["val_views"],
                     time.time() - eval_start)
        last_log_time += time.time() - eval_start  # Keep steps/s honest.
      if do_save and saved_step != step:
        checkpoint.save_training_state(
            manager, step, variables=state.variables,
            opt_state=state.opt_state,
            train_meta={"step": step, "data_step": step,
                        "epoch": step / steps_per_epoch,
                        "rng": np.asarray(jax.device_get(state.rng)).tolist()},
            metadata=_metadata(config, class_names, workdir, step),
            metrics=({checkpoint.BEST_METRIC: val_metrics["val_top1"]}
                     if val_metrics else None))
        saved_step = step
      if stop_now:
        logging.warning("Stopped at step %d on request; checkpoint saved in "
                        "%s.", step, manager.directory)
        summary["stopped_early"] = True
        break
    if previous is not None:
      _check_finite(previous[1], previous[0], manager)
  finally:
    manager.wait_until_finished()
    writer.flush()
    stop.restore()
  summary.update(last_val)
  summary.update(step=step, total_steps=total_steps,
                 seconds=round(time.time() - start_time, 1),
                 devices=jax.device_count(), hosts=jax.process_count())
  if host == 0:
    (workdir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
  manager.close()
  logging.info("Done: %s", summary)
  return summary


def _mean_metrics(pending: list[dict[str, jax.Array]]) -> dict[str, float]:
  host = jax.device_get(pending)
  scalars = {k: float(np.mean([m[k] for m in host]))
             for k in ("loss", "top1", "grad_norm")}
  scalars["lr"] = float(host[-1]["lr"])
  return scalars


def _flat_hparams(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """Scalar config fields as `section.key` (TensorBoard hparams)."""
  flat = {}

  def visit(prefix, node):
    for key, value in node.items():
      name = f"{prefix}{key}"
      if isinstance(value, ml_collections.ConfigDict):
        visit(name + ".", value)
      elif isinstance(value, (int, float, str, bool)):
        flat[name] = value
  visit("", config)
  return flat
