"""The multigrid schedule (training.multigrid) and its batches.

The worked example: 16 frames, 32 px crops, batch 16, LR stages at epochs
0, 14, 18 of 22, every MULTIGRID.* default (the demo_multigrid preset's
recipe), 800 training clips. Expected values are computed by hand below from
the release's formulas (utils/multigrid.py, datasets/multigrid_helper.py,
utils/lr_policy.py).
"""

import pathlib
import subprocess
import sys

import numpy as np
import pytest

from slowfast_jax import config_lib
from slowfast_jax import validate
from slowfast_jax.training import multigrid

RELEASE = pathlib.Path("/work/.mirror/facebookresearch+SlowFast/repo")


def worked_config(*, short_cycle=True, long_cycle=True):
  model = config_lib.model_config(arch="slowfast", num_frames=16, alpha=4)
  model.train_crop_size = 32
  model.bn_group_size = 8
  config = config_lib.kinetics_config(model)
  config.data.train_jitter_scales = [40, 48]
  config.global_batch_size = 16
  config.optim.base_batch_size = 16
  config.optim.base_lr = 0.1
  config.optim.warmup_epochs = 0.0
  config.optim.lr_policy = "steps_with_relative_lrs"
  config.optim.steps = (0, 14, 18)
  config.optim.lrs = (1.0, 0.1, 0.01, 0.001)
  config.num_epochs = 22
  config.multigrid = config_lib.multigrid_config(short_cycle=short_cycle,
                                                 long_cycle=long_cycle)
  return config


# Long-cycle shapes, default size 16 * 32² = 16384 frames × pixels; the
# short-cycle crops are 32 * 0.5 = 16 and 32 * 0.7071 = 22.627 (22.627² =
# 512), batch factor round(16384 / (T S²)):
#   (0.25, 0.7071): T 4,  S 23: 16384/(4*256)=16, /(4*512)=8, /(4*529)=7.74→8
#   (0.5,  0.7071): T 8,  S 23: 8, 4, 16384/(8*529)=3.87→4
#   (0.5,  1):      T 8,  S 32: 8, 4, 2
#   (1,    1):      T 16, S 32: 4, 2, 1
# Mean batch factors 32/3, 16/3, 14/3, 7/3 (sum 23). Each LR stage's epochs
# split by mean factor: stage 0 (14 epochs) 6.4928, 3.2464, 2.8406, 1.4203,
# stage 1 (4 epochs) 1.8551, 0.9275, 0.8116, 0.4058; iterations 18*12/69, a
# saving of 69/12 = 5.75; fine-tuning (22 - 18) / 5.75 * 7/3 = 1.6232
# epochs. Sum 19.6232, scaled to 22 * 1.5 = 33 epochs (x 1.68168) and
# rounded cumulatively: 10.92, 16.38, 21.16, 23.54, 26.66, 28.22, 29.59,
# 30.27, 33.
WORKED_SCHEDULE = [(0, (8, 4, 23), 11), (0, (4, 8, 23), 16),
                   (0, (2, 8, 32), 21), (0, (1, 16, 32), 24),
                   (1, (8, 4, 23), 27), (1, (4, 8, 23), 28),
                   (1, (2, 8, 32), 30), (1, (1, 16, 32), 30),
                   (2, (1, 16, 32), 33)]


def test_long_cycle_schedule_worked_example():
  config = worked_config()
  assert multigrid.long_cycle_shapes(config)[0] == [
      (16, 4, 16.0), (8, 4, 32 * 0.5**0.5), (8, 4, 23)]
  assert multigrid.long_cycle_schedule(config) == WORKED_SCHEDULE
  steps, lrs, num_epochs = multigrid.solver(config)
  # [0] + phase ends, the last replaced by (30 + 33) // 2 = 31.
  assert steps == (0, 11, 16, 21, 24, 27, 28, 30, 30, 31)
  # gamma^stage * batch factor; the fine-tuning phase's halves repeat the
  # last stage-1 rate (0.1) then 0.01.
  np.testing.assert_allclose(lrs, [8, 4, 2, 1, .8, .4, .2, .1, .1, .01])
  assert num_epochs == 33


def test_short_cycle_alone_scales_the_epochs():
  config = worked_config(long_cycle=False)
  assert multigrid.solver(config) == ((0, 21, 27), (1.0, 0.1, 0.01, 0.001),
                                      33)


def _rows(table, first, count):
  return [(table.phase_at(s).batch_size, table.phase_at(s).num_frames,
           table.phase_at(s).crop_size, table.phase_at(s).bn_group_size,
           table.phase_at(s).max_sampling_rate, table.phase_at(s).min_scale)
          for s in range(first, first + count)]


def test_step_table_worked_example():
  table = multigrid.step_table(worked_config(), 800)
  # Epoch 0, shape (8, 4, 23): crops 16, 23, 23 with batch factors
  # round((23/16)²) = 2, round((23/22.627)²) = 1, 1: batches 8*16*(2, 1, 1).
  # 800 clips = one cycle of 512 + 288: 3 steps + one of 256 (32 left).
  # BatchNorm groups 8 * (2, 1, 1); sampling rates 2..2*(16//4); lower scale
  # round(40 * crop / 32): 20, 29.
  assert _rows(table, 0, 4) == [(256, 4, 16, 16, 8, 20),
                                (128, 4, 23, 8, 8, 29),
                                (128, 4, 23, 8, 8, 29),
                                (256, 4, 16, 16, 8, 20)]
  np.testing.assert_array_equal(table.first_example[:5],
                                [0, 256, 384, 512, 800])
  # Epochs 0-10: 4 steps each. Epoch 11, shape (4, 8, 23): 128, 64, 64,
  # 800 = 3 * 256 + 32: 9 steps, loader length floor(800 / (256/3)) = 9.
  assert table.epoch[43] == 10 and table.epoch[44] == 11
  assert _rows(table, 44, 3) == [(128, 8, 16, 16, 4, 20),
                                 (64, 8, 23, 8, 4, 29), (64, 8, 23, 8, 4, 29)]
  np.testing.assert_allclose(table.epoch_exact[44:47], [11, 11 + 1 / 9,
                                                        11 + 2 / 9])
  # Epoch 16, shape (2, 8, 32): 32 * (4, 2, 1); 800 = 3 * 224 + 128 (one
  # more of 128): 10 steps. Epoch 21, (1, 16, 32): 64, 32, 16; 800 = 7 *
  # 112 + 16: 21 steps. Epochs 24-26: 4, 27: 9, 28-29: 10, 30-32: 21.
  first_16 = 44 + 5 * 9
  assert _rows(table, first_16, 3) == [(128, 8, 16, 32, 4, 20),
                                       (64, 8, 23, 16, 4, 29),
                                       (32, 8, 32, 8, 4, 40)]
  first_21 = first_16 + 5 * 10
  assert _rows(table, first_21, 3) == [(64, 16, 16, 32, 2, 20),
                                       (32, 16, 23, 16, 2, 29),
                                       (16, 16, 32, 8, 2, 40)]
  assert table.num_steps == 44 + 45 + 50 + 63 + 12 + 9 + 20 + 63 == 306
  assert len(table.phases) == 10
  # LR: 0.1 * lrs[stage of the epoch]: 8 from epoch 0, 4 from 11, 0.1 at
  # epoch 30, 0.01 from 31 (the fine-tuning phase's second half).
  np.testing.assert_allclose(table.learning_rate[[0, 43, 44]],
                             [0.8, 0.8, 0.4], rtol=1e-6)
  at = {e: table.learning_rate[np.argmax(table.epoch == e)] for e in (30, 31)}
  np.testing.assert_allclose([at[30], at[31]], [0.01, 0.001], rtol=1e-5)


def test_learning_rate_warmup_follows_the_fractional_epoch():
  config = worked_config()
  config.optim.warmup_epochs = 1.0
  config.optim.warmup_start_lr = 0.01
  table = multigrid.step_table(config, 800)
  # Epoch e + i / 4 in epoch 0: 0.01 + (e / 1) * (0.8 - 0.01).
  np.testing.assert_allclose(table.learning_rate[:4],
                             [0.01 + i / 4 * 0.79 for i in range(4)],
                             rtol=1e-5)


def test_epoch_iterations_drop_what_an_epoch_leaves():
  assert multigrid.epoch_iterations(10, [4, 2, 1]) == (3, 4)
  assert multigrid.epoch_iterations(14, [4, 2, 1]) == (6, 6)
  assert multigrid.epoch_iterations(13, [4]) == (3, 3)


@pytest.mark.skipif(not RELEASE.exists(), reason="release mirror not here")
def test_the_release_code_gives_the_same_schedule(tmp_path):
  # The release's own schedule code (pure python once its logger is
  # stubbed), run in a child so its modules stay out of this process.
  package = tmp_path / "slowfast"
  for sub in ("utils", "datasets"):
    (package / sub).mkdir(parents=True)
    (package / sub / "__init__.py").write_text("")
  (package / "__init__.py").write_text("")
  (package / "utils" / "logging.py").write_text(
      "import logging\nget_logger = logging.getLogger\n")
  for path in ("slowfast/utils/multigrid.py", "slowfast/utils/lr_policy.py",
               "slowfast/datasets/multigrid_helper.py"):
    (tmp_path / path).write_text(subprocess.run(
        ["git", "-C", str(RELEASE), "show", f"HEAD:{path}"], check=True,
        capture_output=True, text=True).stdout)
  script = pathlib.Path(__file__).with_name("multigrid_release_check.py")
  result = subprocess.run([sys.executable, str(script), str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
  assert "306 steps equal" in result.stdout


# ---------------------------------------------------------------- configs ---


def test_validate_accepts_the_multigrid_presets():
  config = worked_config()
  validate.validate_multigrid(config, device_count=8)
  phases = multigrid.all_phases(config)
  assert len(phases) == 10
  assert all(p.batch_size % 16 == 0 for p in phases)


@pytest.mark.parametrize("change, message", [
    (lambda c: setattr(c.optim, "lr_policy", "cosine"),
     "lr_policy='steps_with_relative_lrs'"),
    (lambda c: setattr(c.multigrid, "long_cycle_factors", ((0.3, 1.0),)),
     "gives 5 frames"),
    (lambda c: setattr(c.multigrid, "long_cycle_factors", ((2.0, 2.0),)),
     "batch factor of 0"),
    (lambda c: setattr(c.multigrid, "short_cycle_factors", (0.5, 1.5)),
     "each must be in"),
    (lambda c: setattr(c.model, "detection", True), "clip classification"),
])
def test_validate_names_what_a_schedule_cannot_use(change, message):
  config = worked_config()
  change(config)
  with pytest.raises(validate.ConfigError, match=message):
    validate.validate_multigrid(config, device_count=1)


def test_validate_checks_every_phase_batchnorm_group():
  config = worked_config(long_cycle=False)
  config.model.bn_group_size = 3  # Short-cycle groups 12, 6, 3.
  with pytest.raises(validate.ConfigError, match="BatchNorm group"):
    validate.validate_multigrid(config, device_count=1)


# ---------------------------------------------------------------- batches ---


@pytest.fixture(scope="module")
def motion_dataset(tmp_path_factory):
  """24 synthetic motion videos (3 per class), 32 px, prepared."""
  from slowfast_jax.data import synthetic  # pylint: disable=g-import-not-at-top
  data_dir = tmp_path_factory.mktemp("multigrid_data")
  synthetic.ensure_demo_dataset(data_dir, name="motion", videos_per_class=3,
                                val_videos_per_class=1, short_side=32,
                                height=32, width=32, progress=False)
  return str(data_dir)


def small_config(data_dir):
  """The worked recipe at batch 1 on the 24-clip dataset: every phase
  (batches 1 to 16) fits an epoch."""
  config = worked_config()
  config.model.num_classes = 8
  config.data.name, config.data.data_dir = "motion", data_dir
  config.data.train_jitter_scales = [32, 32]
  config.data.shuffle_buffer = 24
  config.global_batch_size = 1
  config.optim.steps, config.num_epochs = (0, 2, 3), 4
  return config


def test_batches_take_each_step_shape_and_resume_mid_cycle(motion_dataset):
  from slowfast_jax.data import pipeline  # pylint: disable=g-import-not-at-top
  config = small_config(motion_dataset)
  table = multigrid.step_table(config, 24)
  assert len(table.phases) == 10 and table.num_steps < 80

  def batches(start_step):
    return list(pipeline.make_train_dataset(
        config, start_step=start_step, step_table=table).as_numpy_iterator())

  uninterrupted = batches(0)
  assert len(uninterrupted) == table.num_steps  # Then the stream ends.
  for step, batch in enumerate(uninterrupted):
    phase = table.phase_at(step)
    assert batch["video"].shape == (phase.batch_size, phase.num_frames,
                                    phase.crop_size, phase.crop_size, 3)
    assert batch["label"].shape == (phase.batch_size,)
  # Mid-cycle starts: inside the first short cycle, in a later epoch, and
  # inside the fine-tuning phase.
  for start in (1, table.num_steps // 2 + 1, table.num_steps - 2):
    resumed = batches(start)
    assert len(resumed) == table.num_steps - start
    for want, got in zip(uninterrupted[start:], resumed):
      np.testing.assert_array_equal(got["video"], want["video"])
      np.testing.assert_array_equal(got["label"], want["label"])


def test_two_hosts_split_each_step_batch(motion_dataset):
  from slowfast_jax.data import pipeline  # pylint: disable=g-import-not-at-top
  config = small_config(motion_dataset)
  config.global_batch_size = 2
  table = multigrid.step_table(config, multigrid.host_examples(24, 2))
  hosts = [list(pipeline.make_train_dataset(
      config, process_index=i, process_count=2,
      step_table=table).as_numpy_iterator()) for i in range(2)]
  assert len(hosts[0]) == len(hosts[1]) == table.num_steps
  for step, (a, b) in enumerate(zip(*hosts)):
    rows = table.phase_at(step).batch_size // 2
    assert a["video"].shape[0] == b["video"].shape[0] == rows


def test_fake_batches_follow_the_table():
  from slowfast_jax import fake_data  # pylint: disable=g-import-not-at-top
  config = worked_config()
  config.data.name, config.model.num_classes = "fake", 4
  table = multigrid.step_table(config, 800)
  batches = list(fake_data.make_train_dataset(config, start_step=300,
                                              step_table=table))
  phases = [table.phase_at(s) for s in range(300, 306)]
  assert [b["video"].shape for b in batches] == [
      (p.batch_size, 16, p.crop_size, p.crop_size, 3) for p in phases]
  assert {p.crop_size for p in phases} == {16, 23, 32}
