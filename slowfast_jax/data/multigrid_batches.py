"""Training batches of a multigrid schedule: each step in its phase's shape.

A `training.multigrid.StepTable` says, for every global step, its phase
(batch size, frames, crop, sampling rates, scale jitter) and where its clips
start in the stream of clips (epoch e at `e * epoch_examples`, what an epoch
leaves over skipped). On one host of `n`, step s takes the host stream's
examples

    k in [e * host_epoch + (first_example - e * epoch_examples) / n,
          ... + batch_size / n)

(`host_epoch` = the host's examples per epoch, at least `epoch_examples /
n`), every clip made in its step's shape from the stateless seed (seed,
host, k) as in the plain pipeline, and batched per step. So the batches are
a function of the table and the seed only: a run resumed at step s gets the
batches an uninterrupted run gets from s on.
"""

import numpy as np
import tensorflow as tf

from slowfast_jax.data import pipeline


def host_example_ranges(table, host_epoch: int, process_count: int
                        ) -> tuple[np.ndarray, np.ndarray]:
  """`(starts, ends)`, int64 `(steps,)`: each step's host stream range."""
  rows = np.asarray([pipeline.host_batch_size(p.batch_size, process_count)
                     for p in table.phases], np.int64)
  within = table.first_example - table.epoch.astype(
      np.int64) * table.epoch_examples
  if np.any(within % process_count) or host_epoch * process_count < (
      table.epoch_examples):
    raise ValueError(f"the schedule's {table.epoch_examples} clips per epoch "
                     f"do not split over {process_count} hosts of "
                     f"{host_epoch} clips")
  starts = table.epoch.astype(np.int64) * host_epoch + within // process_count
  return starts, starts + rows[table.phase]


def make_train_dataset(stream: pipeline.TrainStream, table, *,
                       start_step: int, process_count: int
                       ) -> tf.data.Dataset:
  """Host-local batches of steps `start_step..table.num_steps - 1`.

  Returns:
    `{"video": uint8 (rows, frames, crop, crop, 3), "label"}` of step s's
    phase (rows = its batch size / `process_count`), then the end.
  """
  if not 0 <= start_step < table.num_steps:
    raise ValueError(f"start_step={start_step} is outside the multigrid "
                     f"schedule's {table.num_steps} steps")
  starts, ends = host_example_ranges(table, stream.examples_per_epoch,
                                     process_count)
  starts_t, ends_t = tf.constant(starts), tf.constant(ends)
  phase_of_step = tf.constant(table.phase, tf.int32)
  rows_of_step = ends_t - starts_t
  first = int(starts[start_step])
  examples = stream.examples(first).take(int(ends[-1]) - first)

  def step_of(index):
    return tf.searchsorted(starts_t, index[None], side="right",
                           out_type=tf.int64)[0] - 1

  def in_a_step(index, serialized):
    del serialized
    return index < tf.gather(ends_t, step_of(index))

  makers = [stream.clip_maker(num_frames=p.num_frames, crop_size=p.crop_size,
                              min_scale=p.min_scale,
                              max_sampling_rate=p.max_sampling_rate)
            for p in table.phases]

  def make_clip(index, serialized):
    step = step_of(index)
    clip = tf.switch_case(
        tf.gather(phase_of_step, step),
        [lambda m=m: m(index, serialized) for m in makers])
    return dict(clip, step=step)

  ds = examples.filter(in_a_step).map(
      make_clip, num_parallel_calls=pipeline.AUTOTUNE, deterministic=True)
  ds = ds.group_by_window(
      key_func=lambda example: example["step"],
      reduce_func=lambda step, window: window.batch(
          tf.gather(rows_of_step, step)),
      window_size_func=lambda step: tf.gather(rows_of_step, step))
  ds = ds.map(lambda batch: {k: v for k, v in batch.items() if k != "step"})
  return ds.prefetch(pipeline.AUTOTUNE).with_options(
      pipeline.dataset_options())
