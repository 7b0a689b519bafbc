"""The release's multigrid training schedule, step by step (pure numpy).

Wu et al., "A Multigrid Method for Efficiently Training Video Models" (CVPR
2020), as the release schedules it (utils/multigrid.py, datasets/
multigrid_helper.py, tools/train_net.py; `config.multigrid` holds its
MULTIGRID.* fields). With `T0` frames, `S0` crop and `B0` clips per batch the
config's default shape:

  * Long cycle: each `(t, s)` of `long_cycle_factors` is a base shape
    `T = round(T0 t)` frames, `S = round(S0 s)` crop, trained with batch
    `B0 * round(T0 S0² / (T S²))` so clips × pixels stay about constant.
    Every LR stage of `optim.steps` is split over the long-cycle shapes in
    proportion to their (short-cycle averaged) batch factors, a fine-tuning
    phase at the default shape is added with the same iteration saving, and
    the epochs are rescaled so the whole run lasts `num_epochs *
    epoch_factor` epochs (rounded cumulatively). The LR stages become the
    phases' ends (the last one halved between the last stage and the end),
    with relative rates `gamma^stage * batch factor`.
  * Short cycle: within an epoch, consecutive iterations cycle through the
    crops `round(f S0)` for `f` in `short_cycle_factors`, then the base crop
    `S`, with batches `round((S / (f S0))²)` times larger for the smaller
    crops. Without the long cycle, `optim.steps` and `num_epochs` are scaled
    by `epoch_factor`.
  * An epoch is one pass over the training clips: its iterations are the
    full batches of the cycle that fit (the rest is dropped, the release's
    `drop_last`); the LR of iteration `i` of epoch `e` is the release's rate
    at `e + i / L`, `L = floor(clips / mean short-cycle batch)`.
  * Clips of a long-cycle shape with fewer frames than `T0` draw their
    sampling rate uniformly from `sampling_rate ..
    sampling_rate * (T0 // T)`; the shorter side's lower jitter bound is
    scaled by `crop / S0` (the upper one stays).
  * BatchNorm: with the long cycle, statistics over `bn_base_size` clips at
    the long-cycle batch (the release's sub-/sync-BN), otherwise over
    `model.bn_group_size`; short-cycle batches scale the group with the
    batch, as per-GPU BatchNorm does.

The model pools each phase's whole res5 map, as the release's adaptive
pooling under multigrid. `step_table` lays the run out as one row per global
step, so the phase is a function of the step and a resumed run continues
mid-cycle exactly.
"""

import dataclasses
import math

import ml_collections
import numpy as np


class MultigridError(ValueError):
  """A multigrid config gives no valid schedule (named in the message)."""


@dataclasses.dataclass(frozen=True)
class Phase:
  """One batch shape of the schedule and the clip sampling that fills it.

  Attributes:
    batch_size: global clips per step.
    num_frames: frames per clip (Fast pathway).
    crop_size: square crop side.
    bn_group_size: clips per BatchNorm statistics group (0: whole batch).
    max_sampling_rate: clips draw their sampling rate uniformly from the
      config's `data.sampling_rate` up to this.
    min_scale: lower bound of the short-side scale jitter.
  """
  batch_size: int
  num_frames: int
  crop_size: int
  bn_group_size: int
  max_sampling_rate: int
  min_scale: int


@dataclasses.dataclass(frozen=True)
class StepTable:
  """The run, one entry per global step `s` (arrays of length `num_steps`).

  Attributes:
    phases: the distinct phases.
    phase: int `(steps,)`, index into `phases`.
    epoch: int `(steps,)`, the epoch (pass over the data) step `s` is in.
    first_example: int64 `(steps,)`, position of the step's first clip in
      the global stream of clips, epoch `e` starting at `e * epoch_examples`
      (clips an epoch leaves over are skipped).
    epoch_exact: float64 `(steps,)`, the release's fractional epoch for the
      learning rate.
    learning_rate: float64 `(steps,)`.
    epoch_examples: clips per epoch the schedule counts with.
    num_epochs: epochs of the run (the release's rescaled MAX_EPOCH).
  """
  phases: tuple[Phase, ...]
  phase: np.ndarray
  epoch: np.ndarray
  first_example: np.ndarray
  epoch_exact: np.ndarray
  learning_rate: np.ndarray
  epoch_examples: int
  num_epochs: int

  @property
  def num_steps(self) -> int:
    return len(self.phase)

  def phase_at(self, step: int) -> Phase:
    return self.phases[self.phase[step]]


def enabled(config: ml_collections.ConfigDict) -> bool:
  """Whether `config` trains with a multigrid cycle."""
  multigrid = config.get("multigrid")
  return multigrid is not None and bool(multigrid.short_cycle or
                                        multigrid.long_cycle)


def _shape_batch_factor(default_size: float, num_frames: float,
                        crop: float) -> int:
  return int(round(default_size / (num_frames * crop * crop)))


def long_cycle_shapes(config: ml_collections.ConfigDict
                      ) -> list[list[tuple[int, float, float]]]:
  """Per long-cycle factor, its `(batch factor, frames, crop)` shapes.

  With the short cycle: the two short-cycle crops (unrounded, as the release
  averages them) and the base shape, else the base shape alone.
  """
  multigrid, frames = config.multigrid, config.model.num_frames
  crop = config.data.train_crop_size
  default_size = float(frames * crop**2)
  all_shapes = []
  for t_factor, s_factor in multigrid.long_cycle_factors:
    base_t = int(round(frames * t_factor))
    base_s = int(round(crop * s_factor))
    shapes = [(base_t, base_s)]
    if multigrid.short_cycle:
      shapes = [(base_t, crop * f) for f in multigrid.short_cycle_factors
                ] + shapes
    all_shapes.append([(_shape_batch_factor(default_size, t, s), t, s)
                       for t, s in shapes])
  return all_shapes


def long_cycle_schedule(config: ml_collections.ConfigDict
                        ) -> list[tuple[int, tuple[int, int, int], int]]:
  """The release's long cycle: `(LR stage, (batch factor, frames, crop),
  end epoch)` per phase, the last the fine-tuning phase at the default shape.
  """
  steps, max_epoch = list(config.optim.steps), config.num_epochs
  all_shapes = long_cycle_shapes(config)
  avg_bs = [float(np.mean([s[0] for s in shapes])) for shapes in all_shapes]
  total_iters, schedule = 0.0, []
  for stage in range(len(steps) - 1):
    stage_epochs = steps[stage + 1] - steps[stage]
    for shapes, bs in zip(all_shapes, avg_bs):
      epochs = stage_epochs * bs / sum(avg_bs)
      total_iters += epochs / bs
      schedule.append((stage, shapes[-1], epochs))
  iter_saving = steps[-1] / total_iters
  # The fine-tuning phase saves as many iterations as the rest. (With the
  # short cycle off the release indexes a missing third shape and fails;
  # here the default shape is the last factor's base shape.)
  ft_epochs = (max_epoch - steps[-1]) / iter_saving * avg_bs[-1]
  schedule.append((len(steps) - 1, all_shapes[-1][-1], ft_epochs))
  scale = max_epoch * config.multigrid.epoch_factor / sum(
      s[-1] for s in schedule)
  final, total = [], 0.0
  for stage, shape, epochs in schedule:
    total += epochs * scale
    final.append((stage, shape, int(round(total))))
  return final


def solver(config: ml_collections.ConfigDict
           ) -> tuple[tuple[float, ...], tuple[float, ...], int]:
  """The release's `(SOLVER.STEPS, SOLVER.LRS, MAX_EPOCH)` under multigrid."""
  multigrid, optim = config.multigrid, config.optim
  if not multigrid.long_cycle:
    factor = multigrid.epoch_factor
    return (tuple(int(s * factor) for s in optim.get("steps", ())),
            tuple(optim.get("lrs", ())), int(config.num_epochs * factor))
  schedule = long_cycle_schedule(config)
  steps = [0] + [end for _, _, end in schedule]
  steps[-1] = (steps[-2] + steps[-1]) // 2  # The fine-tuning phase's halves.
  lrs = [multigrid.gamma**stage * shape[0] for stage, shape, _ in schedule]
  lrs = lrs[:-1] + [lrs[-2], lrs[-1]]
  return tuple(steps), tuple(lrs), schedule[-1][-1]


def epoch_shape(config: ml_collections.ConfigDict,
                schedule, epoch: int) -> tuple[int, int, int]:
  """`(batch factor, frames, crop)` of the long-cycle phase of `epoch`."""
  if schedule is None:
    return 1, config.model.num_frames, config.data.train_crop_size
  for _, shape, end in schedule:
    if epoch < end:
      return shape
  return schedule[-1][1]


def epoch_phases(config: ml_collections.ConfigDict,
                 base: tuple[int, int, int]) -> list[Phase]:
  """The phases iterations of an epoch cycle through (short cycle order)."""
  multigrid, data = config.multigrid, config.data
  factor, frames, crop = base
  default_t, default_s = config.model.num_frames, data.train_crop_size
  batch = factor * config.global_batch_size
  if multigrid.long_cycle:
    group = multigrid.bn_base_size
    max_rate = data.sampling_rate * (default_t // frames)
  else:
    group, max_rate = config.model.bn_group_size, data.sampling_rate
  crops_and_factors = [(crop, 1)]
  if multigrid.short_cycle:
    crops_and_factors = [
        (int(round(f * default_s)),
         int(round((float(crop) / (f * default_s))**2)))
        for f in multigrid.short_cycle_factors] + crops_and_factors
  min_scale = data.train_jitter_scales[0]
  return [Phase(batch_size=batch * k, num_frames=frames, crop_size=c,
                bn_group_size=group * k, max_sampling_rate=max_rate,
                min_scale=int(round(float(min_scale) * c / default_s)))
          for c, k in crops_and_factors]


def all_phases(config: ml_collections.ConfigDict) -> list[Phase]:
  """Every phase the schedule can use (before it meets a dataset size)."""
  if not config.multigrid.long_cycle:
    bases = [epoch_shape(config, None, 0)]
  else:
    bases = [shape for _, shape, _ in long_cycle_schedule(config)]
  return list(dict.fromkeys(
      p for base in bases for p in epoch_phases(config, base)))


def epoch_iterations(num_examples: int, batch_sizes: list[int]
                     ) -> tuple[int, int]:
  """`(iterations, L)` of an epoch of `num_examples` clips.

  Iterations: the full batches cycling through `batch_sizes` that fit (the
  release's short-cycle sampler with `drop_last`); `L`, the loader length the
  release's LR divides by: `floor(clips / mean batch)`.
  """
  cycle = sum(batch_sizes)
  full_cycles, rest = divmod(num_examples, cycle)
  iterations = full_cycles * len(batch_sizes)
  for size in batch_sizes:
    if rest < size:
      break
    rest -= size
    iterations += 1
  loader_length = int(math.floor(num_examples / (cycle / len(batch_sizes))))
  return iterations, loader_length


def learning_rates(config: ml_collections.ConfigDict,
                   epoch_exact: np.ndarray) -> np.ndarray:
  """The release's rate at each fractional epoch, with `solver`'s stages."""
  # Imported here: `optim` imports jax; the schedule itself is numpy.
  from slowfast_jax import optim  # pylint: disable=g-import-not-at-top
  steps, lrs, num_epochs = solver(config)
  optim_config = ml_collections.ConfigDict(config.optim.to_dict())
  optim_config.steps, optim_config.lrs = steps, lrs
  schedule = optim.learning_rate_schedule(
      optim_config, steps_per_epoch=1, num_epochs=num_epochs,
      global_batch_size=config.global_batch_size)
  return np.asarray(schedule(np.asarray(epoch_exact, np.float32)), np.float64)


def step_table(config: ml_collections.ConfigDict,
               num_examples: int) -> StepTable:
  """Every step of a multigrid run on `num_examples` training clips."""
  check_config(config)
  schedule = (long_cycle_schedule(config) if config.multigrid.long_cycle
              else None)
  num_epochs = solver(config)[2]
  phases, rows = {}, []
  for epoch in range(num_epochs):
    cycle = epoch_phases(config, epoch_shape(config, schedule, epoch))
    iterations, loader_length = epoch_iterations(
        num_examples, [p.batch_size for p in cycle])
    first = epoch * num_examples
    for i in range(iterations):
      phase = cycle[i % len(cycle)]
      rows.append((phases.setdefault(phase, len(phases)), epoch, first,
                   epoch + i / loader_length))
      first += phase.batch_size
  if not rows:
    raise MultigridError(
        f"config.multigrid: no step fits in an epoch of {num_examples} "
        "training clips; lower config.global_batch_size.")
  phase, epoch, first, epoch_exact = (np.asarray(c) for c in zip(*rows))
  return StepTable(phases=tuple(phases), phase=phase.astype(np.int32),
                   epoch=epoch.astype(np.int32),
                   first_example=first.astype(np.int64),
                   epoch_exact=epoch_exact.astype(np.float64),
                   learning_rate=learning_rates(config, epoch_exact),
                   epoch_examples=num_examples, num_epochs=num_epochs)


def host_examples(num_examples: int, process_count: int) -> int:
  """Clips per epoch the schedule counts: every host reads the same number
  of clips (the smallest host part; `tfds.even_splits` differ by one)."""
  return (num_examples // process_count) * process_count


def check_config(config: ml_collections.ConfigDict) -> None:
  """Raises `MultigridError` naming the field a schedule cannot use."""
  multigrid, optim = config.multigrid, config.optim
  factors = tuple(multigrid.short_cycle_factors)
  if multigrid.short_cycle and not all(0 < f <= 1 for f in factors):
    raise MultigridError(f"config.multigrid.short_cycle_factors={factors}: "
                         "each must be in (0, 1].")
  if multigrid.long_cycle:
    if optim.get("lr_policy", "cosine") != "steps_with_relative_lrs":
      raise MultigridError(
          "config.multigrid.long_cycle=True sets the release's LR stages "
          "(SOLVER.STEPS) per phase; it needs config.optim.lr_policy="
          f"'steps_with_relative_lrs', not {optim.get('lr_policy')!r}.")
    if len(optim.steps) < 2:
      raise MultigridError(
          f"config.optim.steps={tuple(optim.steps)}: the long cycle splits "
          "each LR stage over its shapes; give at least two steps.")
    for t_factor, s_factor in multigrid.long_cycle_factors:
      frames = int(round(config.model.num_frames * t_factor))
      alpha = config.model.alpha if config.model.arch == "slowfast" else 1
      if frames < 1 or frames % alpha:
        raise MultigridError(
            f"config.multigrid.long_cycle_factors: ({t_factor}, {s_factor}) "
            f"gives {frames} frames, not a positive multiple of "
            f"config.model.alpha={alpha}.")
    if any(s[0] < 1 for shapes in long_cycle_shapes(config) for s in shapes):
      raise MultigridError(
          "config.multigrid.long_cycle_factors: a shape larger than the "
          "default gives a batch factor of 0.")
