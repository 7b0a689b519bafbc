"""Training loop: one jitted step over a device mesh, orbax checkpoints, clu metrics.

    state = initial or restored TrainState (replicated on the mesh)
    for each step: host batch (uint8 clips) -> global array split over `data`
                   -> train_step (normalize, Slow/Fast split, forward,
                      backward, SGD) -> metrics
    periodically: log, validate (`evaluation.validation`; precise BatchNorm
                  statistics first where the config asks), checkpoint

Exact resume: the state holds the step and the RNG key, dropout keys are
`fold_in(key, step)`, and the input pipeline restarts at the step, so a run
killed at any point and restarted from its latest checkpoint computes the
same steps as an uninterrupted run.
"""

import dataclasses
import functools
import json
import signal
import time
from typing import Any, Callable

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
from slowfast_jax import config_lib
from slowfast_jax import models
from slowfast_jax import optim
from slowfast_jax import sharding
from slowfast_jax import validate
from slowfast_jax.ops import xla_cpu
from slowfast_jax.data import model_input
from slowfast_jax.data import sources
from slowfast_jax.evaluation import scorer
from slowfast_jax.evaluation import validation as validation_lib
from slowfast_jax.training import detection_loss
from slowfast_jax.training import freeze
from slowfast_jax.training import multigrid as multigrid_schedule
from slowfast_jax.training import multigrid_steps
from slowfast_jax.training import precise_bn

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


@dataclasses.dataclass(frozen=True)
class Plan:
  """Step counts of a run, from the config and the training split's size.

  `steps_per_epoch` is the plain schedule's (clips // global batch); a
  multigrid run's epochs vary in length, its `multigrid` table has them.
  """
  steps_per_epoch: int
  total_steps: int
  eval_every: int
  multigrid: multigrid_schedule.StepTable | None = None

  def epoch(self, step: int) -> float:
    """Epochs done after `step` steps."""
    if self.multigrid is None:
      return step / self.steps_per_epoch
    if step >= self.multigrid.num_steps:
      return float(self.multigrid.num_epochs)
    return float(self.multigrid.epoch_exact[step])


# ---------------------------------------------------------------------------
# Data.


def ensure_dataset(config: ml_collections.ConfigDict) -> None:
  """Generates and prepares the synthetic demo dataset on first use.

  Only for configs with `data.generate_demo = True` (the demo configs); host
  0 writes it, the others wait.
  """
  if not config.data.get("generate_demo", False):
    return
  if jax.process_index() == 0 and config.model.detection:
    from slowfast_jax.data import ava_synthetic  # pylint: disable=g-import-not-at-top
    logging.info("Making sure the demo dataset %r is in %s (generated on "
                 "first use).", config.data.name, config.data.data_dir)
    ava_synthetic.ensure_demo_dataset(
        config, train_movies=config.data.demo_train_movies,
        val_movies=config.data.demo_val_movies)
  elif jax.process_index() == 0:
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



def training_plan(config: ml_collections.ConfigDict, info) -> Plan:
  """Steps per epoch, in all and between validations; checks the dataset."""
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
  eval_every = config.get("eval_every_steps", 0) or max(
      1, int(round(config.eval_every_epochs * steps_per_epoch)))
  plan = Plan(steps_per_epoch=steps_per_epoch,
              total_steps=int(round(config.num_epochs * steps_per_epoch)),
              eval_every=eval_every)
  if not multigrid_schedule.enabled(config):
    return plan
  table = multigrid_schedule.step_table(
      config, multigrid_schedule.host_examples(num_train, jax.process_count()))
  mean_steps_per_epoch = table.num_steps / table.num_epochs
  return dataclasses.replace(
      plan, total_steps=table.num_steps, multigrid=table,
      eval_every=config.get("eval_every_steps", 0) or max(
          1, int(round(config.eval_every_epochs * mean_steps_per_epoch))))


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


def _run_once(fn: Callable[..., Any], *args, out_shardings=None) -> Any:
  """`fn(*args)` jitted with `compile_options()`, for programs run once."""
  lowered = jax.jit(fn, out_shardings=out_shardings).lower(*args)
  return lowered.compile(compiler_options=compile_options())(*args)


def _init_fn(model, model_config, key):
  shapes = models.input_shapes(model_config, model_config.train_crop_size, 1)
  dummy = [jnp.zeros(s, jnp.float32) for s in shapes]
  return model.init({"params": key, "dropout": key}, dummy, train=False)


def init_variables(model: models.VideoResNet,
                   model_config: ml_collections.ConfigDict,
                   rng: jax.Array) -> dict[str, Any]:
  """Fresh `{'params', 'batch_stats'}` on this host's default device."""
  return dict(_run_once(functools.partial(_init_fn, model, model_config), rng))


def new_train_state(variables: dict[str, Any], tx: optax.GradientTransformation,
                    rng: jax.Array) -> TrainState:
  return TrainState(step=jnp.zeros((), jnp.int32),
                    params=variables["params"],
                    batch_stats=variables["batch_stats"],
                    opt_state=tx.init(variables["params"]),
                    rng=jax.random.key_data(rng))


def _fresh_state_fn(model, config, tx) -> Callable[[], TrainState]:
  """The step-0 state as a function of nothing (keys from `config.seed`)."""

  def fresh_state():
    init_key, run_key = jax.random.split(jax.random.key(config.seed))
    return new_train_state(_init_fn(model, config.model, init_key), tx,
                           run_key)

  return fresh_state


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



def initial_state(config: ml_collections.ConfigDict, model, tx, mesh,
                  manager) -> TrainState:
  """The latest checkpoint's state, else a fresh (or `init_from`) one.

  Every array comes out replicated on `mesh`: restored with replicated
  targets, or computed there by `jax.jit(..., out_shardings=replicated)`.
  """
  fresh_state = _fresh_state_fn(model, config, tx)
  latest = manager.latest_step()
  if latest is not None:
    target = sharding.abstract_replicated(jax.eval_shape(fresh_state), mesh)
    variables, opt_state, meta = checkpoint.restore_training_state(
        manager, latest, variables=target.variables,
        opt_state=target.opt_state)
    logging.info("Resumed from step %d of %s.", meta["step"],
                 manager.directory)
    return TrainState(
        step=sharding.replicate(np.int32(meta["step"]), mesh),
        params=variables["params"], batch_stats=variables["batch_stats"],
        opt_state=opt_state,
        rng=sharding.replicate(np.asarray(meta["rng"], np.uint32), mesh))
  state = _run_once(fresh_state, out_shardings=sharding.replicated(mesh))
  if not config.init_from:
    return state
  variables = load_pretrained(config, sharding.fetch(state.variables))
  return state.replace(
      params=sharding.replicate(variables["params"], mesh),
      batch_stats=sharding.replicate(variables["batch_stats"], mesh),
      opt_state=sharding.replicate(tx.init(variables["params"]), mesh))


# ---------------------------------------------------------------------------
# Steps.


def loss_and_metrics(logits: jax.Array, batch: dict[str, jax.Array],
                     config: ml_collections.ConfigDict
                     ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """The training loss and `top1` of a batch's logits.

  Classification: softmax cross-entropy (with `optim.label_smoothing`) and
  the share of clips whose best class is the label. Multi-label
  (`data.multi_label`, Charades): the release's `bce_logit`, sigmoid BCE
  with logits averaged over clips and classes, against the clips' multi-hot
  `label` `(batch, classes)`; `top1` is the share of clips with at least one
  label whose best class is one of them. Detection: the release's sigmoid
  BCE over the real boxes (`detection_loss.box_bce_loss`) and the share of
  labelled boxes whose best class is one of theirs.
  """
  if config.model.detection:
    loss = detection_loss.box_bce_loss(logits, batch["labels"],
                                       batch["box_mask"])
    return loss, {"top1": detection_loss.box_top1(logits, batch["labels"],
                                                  batch["box_mask"])}
  labels = batch["label"]
  if config.data.get("multi_label", False):
    loss = jnp.mean(optax.sigmoid_binary_cross_entropy(
        logits.astype(jnp.float32), labels.astype(jnp.float32)))
    every_clip = jnp.ones(labels.shape[:1], bool)
    return loss, {"top1": detection_loss.box_top1(logits, labels, every_clip)}
  loss = optim.cross_entropy_loss(logits, labels, config.optim.label_smoothing)
  return loss, {"top1": jnp.mean(jnp.argmax(logits, -1) == labels)}


def model_boxes(batch: dict[str, jax.Array],
                model_config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The `boxes` and `box_mask` arguments of a detection model, else none."""
  if not model_config.detection:
    return {}
  return {"boxes": batch["boxes"], "box_mask": batch["box_mask"]}


def train_step(state: TrainState, batch: dict[str, jax.Array], *,
               model: models.VideoResNet, tx: optax.GradientTransformation,
               schedule: optax.Schedule, config: ml_collections.ConfigDict
               ) -> tuple[TrainState, dict[str, jax.Array]]:
  """One SGD step on a global batch.

  With `config.finetune.frozen_bn` the BatchNorm statistics stay as they are
  (the model normalizes with them); `tx` leaves frozen stages unchanged.

  Args:
    state: replicated `TrainState`.
    batch: `video` uint8 `(batch, num_frames, crop, crop, 3)` and `label`
      int32 `(batch,)`; for a detection model `boxes` float32 `(batch,
      max_boxes, 4)`, `box_mask` bool `(batch, max_boxes)` and multi-hot
      `labels` `(batch, max_boxes, classes)` instead of `label`. Split over
      the mesh's `data` axis.

  Returns:
    The new state and scalar metrics (`loss`, `top1`, `lr`, `grad_norm`,
    `finite`), averaged over the global batch.
  """
  key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
  pathways = model_input.prepare_pathways(batch["video"], config.model,
                                          config.data)

  def loss_fn(params):
    logits, updates = model.apply(
        {"params": params, "batch_stats": state.batch_stats}, pathways,
        train=True, frozen_bn=config.finetune.frozen_bn,
        rngs={"dropout": key}, mutable=["batch_stats"],
        **model_boxes(batch, config.model))
    loss, metrics = loss_and_metrics(logits, batch, config)
    return loss, (metrics, updates["batch_stats"])

  (loss, (metrics, batch_stats)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(state.params)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  grad_norm = optax.global_norm(grads)
  metrics.update(
      loss=loss, lr=schedule(state.step), grad_norm=grad_norm,
      # Finite loss and gradients imply finite new parameters.
      finite=jnp.isfinite(loss) & jnp.isfinite(grad_norm))
  new_state = state.replace(step=state.step + 1, params=params,
                            batch_stats=batch_stats, opt_state=opt_state)
  return new_state, metrics


def make_train_step(mesh, **kwargs) -> Callable[..., Any]:
  """`train_step` jitted over `mesh`: state replicated, batch split, state donated."""
  replicated = sharding.replicated(mesh)
  return jax.jit(functools.partial(train_step, **kwargs),
                 in_shardings=(replicated, sharding.data_sharding(mesh)),
                 out_shardings=(replicated, replicated), donate_argnums=0,
                 compiler_options=xla_cpu.model_compiler_options())


# ---------------------------------------------------------------------------
# Stopping on SIGTERM / preemption, progress.


class StopSignal:
  """Whether a preemption notice (SIGTERM) asked the run to save and stop.

  Several hosts: orbax's `manager.reached_preemption(step)`, where JAX's
  preemption service picks a step every host reaches, so all of them save
  the same step. One host: that service runs only under `jax.distributed`,
  so a SIGTERM handler of our own sets a flag.
  """

  def __init__(self, manager):
    self._manager = manager
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
    return self._requested or self._manager.reached_preemption(step)

  def restore(self) -> None:
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


class ReportProgress(periodic_actions.ReportProgress):
  """clu's progress report, plus `clips_per_sec` and `eta_minutes` scalars.

  clu logs steps/s, the ETA and the share of time in `timed(...)` parts, and
  writes the `steps_per_sec` and `uptime` scalars.
  """

  def __init__(self, *, clips_per_step: int, **kwargs):
    super().__init__(**kwargs)
    self._clips_per_step = clips_per_step

  def _apply(self, step: int, t: float):
    steps_per_sec = (step - self._previous_step) / (t - self._previous_time)
    super()._apply(step, t)
    self._writer.write_scalars(step, {
        "clips_per_sec": steps_per_sec * self._clips_per_step,
        "eta_minutes": (self._num_train_steps - step) / steps_per_sec / 60})


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


def precise_bn_seed(seed: int, step: int) -> int:
  """The seed of the training pipeline that feeds precise BN at `step`.

  A pipeline of its own, as the release's separate precise-BN loader: the
  training batches stay as they are, and a resumed run draws the same
  precise-BN batches as an uninterrupted one.
  """
  return int(np.random.SeedSequence([seed, step]).generate_state(1)[0])


@dataclasses.dataclass
class _Loop:
  """What the training loop reads besides the state and the batches."""
  config: ml_collections.ConfigDict
  plan: Plan
  workdir: epath.Path
  mesh: Any
  source: sources.Source
  class_names: tuple[str, ...]
  manager: Any
  writer: Any
  train_fn: Callable[..., Any]
  score: Callable[..., Any]  # scorer.make_scorer
  validation: validation_lib.Validate
  progress: ReportProgress
  stop: StopSignal
  summary: dict[str, Any]
  profiler: periodic_actions.Profile | None = None
  # precise_bn.make_precise_batch_stats, when config.precise_bn.enabled.
  precise: Callable[..., Any] | None = None

  def run(self, state: TrainState, batches, step: int,
          start_time: float) -> tuple[TrainState, int]:
    """Trains from `step` to the plan's end or a stop request."""
    start_step, total_steps = step, self.plan.total_steps
    pending, previous = [], None  # Metrics since the last log; unchecked.
    while step < total_steps:
      state, metrics = self.train_fn(
          state, sharding.global_batch(next(batches), self.mesh))
      step += 1
      if step == start_step + 1:
        jax.block_until_ready(metrics)
        seconds = time.time() - start_time
        logging.info("First step (with compilation) done after %.1f s.",
                     seconds)
        self.summary["first_step_seconds"] = round(seconds, 1)
      # Check the previous step while this one runs (no pipeline stall).
      if previous is not None:
        _check_finite(previous[1], previous[0], self.manager)
      previous = (step, metrics)
      pending.append(metrics)
      self.progress(step)  # The first call (after compiling) only starts it.
      if self.profiler is not None:
        self.profiler(step)
      stop_now = self.stop.should_stop(step)
      do_eval = step % self.plan.eval_every == 0 or step == total_steps
      do_save = (stop_now or do_eval or step == total_steps or
                 self.manager.should_save(step))
      if step % self.config.log_every_steps == 0 or do_save:
        _check_finite(metrics, step, self.manager)
        previous = None
        self._write_train_metrics(step, pending)
        pending = []
      if do_eval and self.precise is not None:
        state = self._recompute_batch_stats(step, state)
      val_metrics = self._validate(step, state) if do_eval else None
      if do_save:
        self._save(step, state, val_metrics)
      if stop_now:
        logging.warning("Stopped at step %d on request; checkpoint saved in "
                        "%s.", step, self.manager.directory)
        self.summary["stopped_early"] = True
        break
    if previous is not None:
      _check_finite(previous[1], previous[0], self.manager)
    return state, step

  def _write_train_metrics(self, step: int, pending) -> None:
    host = jax.device_get(pending)
    scalars = {k: float(np.mean([m[k] for m in host]))
               for k in ("loss", "top1", "grad_norm")}
    scalars["lr"] = float(host[-1]["lr"])
    scalars["epoch"] = self.plan.epoch(step)
    self.writer.write_scalars(step, scalars)
    self.summary["train_loss"] = scalars["loss"]
    self.summary["train_top1"] = scalars["top1"]

  def _recompute_batch_stats(self, step: int,
                             state: TrainState) -> TrainState:
    """`state` with precise BatchNorm statistics (the release's recipe)."""
    start = time.time()
    # The release: min(BN.NUM_BATCHES_PRECISE, len(train loader)).
    num_batches = min(self.config.precise_bn.num_batches,
                      self.plan.steps_per_epoch)
    batches = self.source.make_train_dataset(
        self.config, process_index=jax.process_index(),
        process_count=jax.process_count(),
        seed=precise_bn_seed(self.config.seed, step))
    with self.progress.timed("precise_bn"):
      batch_stats = self.precise(
          state.variables,
          (sharding.global_batch(b, self.mesh) for b in batches),
          num_batches)
    logging.info("Precise BatchNorm statistics at step %d over %d batches "
                 "(%.1f s).", step, num_batches,
                 time.time() - start)
    return state.replace(batch_stats=batch_stats)

  def _validate(self, step: int, state: TrainState) -> dict[str, float]:
    eval_start = time.time()
    with self.progress.timed("eval"):
      val_metrics = self.validation(self.score, state.variables, self.mesh)
    self.writer.write_scalars(step, val_metrics)
    self.summary.update(val_metrics)
    logging.info("Validation at step %d: %s (%.1f s).", step,
                 ", ".join(f"{k} {v:.4g}" for k, v in val_metrics.items()),
                 time.time() - eval_start)
    return val_metrics

  def _save(self, step: int, state: TrainState, val_metrics) -> None:
    checkpoint.save_training_state(
        self.manager, step, variables=state.variables,
        opt_state=state.opt_state,
        train_meta={"step": step, "data_step": step,
                    "epoch": self.plan.epoch(step),
                    "rng": np.asarray(jax.device_get(state.rng)).tolist()},
        metadata=_metadata(self.config, self.class_names, self.workdir, step),
        metrics=checkpoint.best_metrics(val_metrics))


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: str) -> dict[str, Any]:
  """Trains (resuming from `workdir` if it has checkpoints) and validates.

  Checkpoints: every `config.checkpoint_every_steps` steps, at each
  validation, at the end, and on a preemption notice (then it stops).
  With `config.precise_bn.enabled`, BatchNorm statistics are recomputed over
  min(`config.precise_bn.num_batches`, steps per epoch) training batches
  before each validation (the last step's included); the checkpoint saved
  there holds them.

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
  # A bad field fails before the demo's data is generated, the data after.
  validate.validate_config(config, device_count=jax.device_count(), data=False)
  ensure_dataset(config)
  validate.validate_data(config)
  source = sources.get(config)
  info = source.dataset_info(config)
  plan = training_plan(config, info)
  mesh = sharding.make_mesh()
  model = models.build_model(config.model)
  if plan.multigrid is not None:
    schedule = multigrid_steps.table_schedule(plan.multigrid)
  else:
    schedule = optim.learning_rate_schedule(
        config.optim, steps_per_epoch=plan.steps_per_epoch,
        num_epochs=config.num_epochs,
        global_batch_size=config.global_batch_size)
  abstract_variables = jax.eval_shape(
      functools.partial(_init_fn, model, config.model), jax.random.key(0))
  tx = freeze.freeze_stages(
      optim.make_optimizer(config.optim, schedule,
                           abstract_variables["params"]),
      abstract_variables["params"], config.finetune.frozen_stages)
  manager = checkpoint.training_manager(
      workdir / CHECKPOINT_SUBDIR, keep_last=config.keep_checkpoints,
      save_interval_steps=config.checkpoint_every_steps,
      async_save=config.get("async_checkpoints", True))
  state = initial_state(config, model, tx, mesh, manager)
  start_step = int(jax.device_get(state.step))
  loop = _make_loop(config, plan, workdir, mesh, source, info, manager,
                    model=model, tx=tx, schedule=schedule,
                    start_step=start_step)
  batches = source.make_train_dataset(
      config, process_index=jax.process_index(),
      process_count=jax.process_count(), start_step=start_step,
      **({} if plan.multigrid is None else {"step_table": plan.multigrid}))
  try:
    state, step = loop.run(state, batches, start_step, start_time)
  finally:
    manager.wait_until_finished()
    loop.writer.flush()
    loop.stop.restore()
  summary = loop.summary
  if plan.multigrid is not None:
    summary["compiled_train_steps"] = loop.train_fn.compiled
  summary.update(step=step, total_steps=plan.total_steps,
                 seconds=round(time.time() - start_time, 1),
                 devices=jax.device_count(), hosts=jax.process_count())
  if jax.process_index() == 0:
    (workdir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
  manager.close()
  logging.info("Done: %s", summary)
  return summary


def _make_loop(config, plan: Plan, workdir, mesh, source, info, manager, *,
               model, tx, schedule, start_step: int) -> _Loop:
  """Compiles nothing yet: jits the steps, opens the writer, logs the run."""
  host = jax.process_index()
  writer = metric_writers.create_default_writer(
      workdir, just_logging=host > 0, asynchronous=True)
  if start_step == 0:
    writer.write_hparams(flat_hparams(config))
  logging.info(
      "Training %s on %d devices (%d hosts): %d steps (%d per epoch) of %d "
      "clips, from step %d.", config.model.arch, jax.device_count(),
      jax.process_count(), plan.total_steps, plan.steps_per_epoch,
      config.global_batch_size, start_step)
  precise = None
  if config_lib.uses_precise_bn(config):
    precise = precise_bn.make_precise_batch_stats(model, mesh=mesh,
                                                  config=config)
  profiler = None
  if config.profile and host == 0:
    profiler = periodic_actions.Profile(logdir=str(workdir),
                                        num_profile_steps=5,
                                        first_profile=start_step + 10)
  progress = ReportProgress(
      num_train_steps=plan.total_steps, writer=writer,
      every_steps=config.log_every_steps, every_secs=None,
      clips_per_step=config.global_batch_size)
  return _Loop(
      config=config, plan=plan, workdir=workdir, mesh=mesh, source=source,
      class_names=info.class_names, manager=manager, writer=writer,
      train_fn=_train_fn(config, plan, mesh, model=model, tx=tx,
                         schedule=schedule, start_step=start_step),
      score=scorer.make_scorer(config.model, config.data, mesh),
      validation=validation_lib.make_validation(config, source),
      progress=progress, stop=StopSignal(manager),
      summary={"start_step": start_step}, profiler=profiler,
      precise=precise)


def _train_fn(config, plan: Plan, mesh, *, model, tx, schedule,
              start_step: int) -> Callable[..., Any]:
  """The jitted train step; a multigrid run's, one per phase."""
  make_step = functools.partial(make_train_step, mesh, tx=tx,
                                schedule=schedule, config=config)
  if plan.multigrid is None:
    return make_step(model=model)
  return multigrid_steps.PhaseSteps(
      plan.multigrid, start_step, lambda m: make_step(model=m), config.model)


def flat_hparams(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """Scalar config fields as `section.key` (TensorBoard hparams)."""
  flat = flax.traverse_util.flatten_dict(config.to_dict(), sep=".")
  return {k: v for k, v in flat.items()
          if isinstance(v, (int, float, str, bool))}
