"""Child of test_multigrid: the release's schedule code against ours.

    python multigrid_release_check.py DIR

DIR holds the release's utils/multigrid.py, utils/lr_policy.py and
datasets/multigrid_helper.py as a `slowfast` package (logger stubbed). For
the worked example, epoch by epoch: the release's long-cycle update, its
short-cycle batch sampler over the clips and its learning rate at
`epoch + i / len(loader)` must equal `step_table`'s rows.
"""

import pathlib
import sys
import types

# The release, this folder (test_multigrid), tests/ (its helpers), the checkout.
sys.path[:0] = [sys.argv[1], *(str(p) for p in
                               pathlib.Path(__file__).resolve().parents[:3])]

# pylint: disable=g-import-not-at-top,wrong-import-position
from slowfast.datasets import multigrid_helper
from slowfast.utils import lr_policy
from slowfast.utils import multigrid as release
from torch.utils.data import sampler as torch_sampler

from slowfast_jax.training import multigrid
import test_multigrid

NUM_CLIPS = 800


def release_config(config):
  """The release's cfg fields the schedule reads."""
  ns = types.SimpleNamespace
  optim, mg = config.optim, config.multigrid
  return ns(
      NUM_GPUS=1, TRAIN=ns(BATCH_SIZE=config.global_batch_size),
      DATA=ns(NUM_FRAMES=config.model.num_frames,
              TRAIN_CROP_SIZE=config.data.train_crop_size,
              SAMPLING_RATE=config.data.sampling_rate),
      SOLVER=ns(STEPS=list(optim.steps), LRS=list(optim.lrs),
                MAX_EPOCH=config.num_epochs, GAMMA=mg.gamma,
                LR_POLICY=optim.lr_policy, BASE_LR=optim.base_lr,
                WARMUP_EPOCHS=optim.warmup_epochs,
                WARMUP_START_LR=optim.warmup_start_lr),
      MULTIGRID=ns(EPOCH_FACTOR=mg.epoch_factor, SHORT_CYCLE=mg.short_cycle,
                   SHORT_CYCLE_FACTORS=list(mg.short_cycle_factors),
                   LONG_CYCLE=mg.long_cycle,
                   LONG_CYCLE_FACTORS=[tuple(f) for f in
                                       mg.long_cycle_factors],
                   BN_BASE_SIZE=mg.bn_base_size, LONG_CYCLE_SAMPLING_RATE=0,
                   DEFAULT_B=0, DEFAULT_T=0, DEFAULT_S=0),
      BN=ns(NORM_TYPE="batchnorm", NUM_SYNC_DEVICES=1, NUM_SPLITS=1))


def release_epoch(cfg):
  """`[(batch, frames, crop)]` of the release's iterations, and len(loader)."""
  sampler = multigrid_helper.ShortCycleBatchSampler(
      torch_sampler.SequentialSampler(range(NUM_CLIPS)),
      cfg.TRAIN.BATCH_SIZE, True, cfg)
  crops = [int(round(f * cfg.MULTIGRID.DEFAULT_S))
           for f in cfg.MULTIGRID.SHORT_CYCLE_FACTORS]
  crops.append(cfg.DATA.TRAIN_CROP_SIZE)
  return ([(len(b), cfg.DATA.NUM_FRAMES, crops[b[0][1]]) for b in sampler],
          len(sampler))


def main():
  config = test_multigrid.worked_config()
  config.optim.warmup_epochs, config.optim.warmup_start_lr = 1.0, 0.01
  table = multigrid.step_table(config, NUM_CLIPS)
  schedule = release.MultigridSchedule()
  cfg = schedule.init_multigrid(release_config(config))
  assert multigrid.solver(config)[0] == tuple(cfg.SOLVER.STEPS)
  step = 0
  for epoch in range(cfg.SOLVER.MAX_EPOCH):
    cfg, _ = schedule.update_long_cycle(cfg, epoch)
    shapes, length = release_epoch(cfg)
    for i, shape in enumerate(shapes):
      phase = table.phase_at(step)
      ours = (phase.batch_size, phase.num_frames, phase.crop_size)
      assert ours == shape, (epoch, i, ours, shape)
      assert phase.max_sampling_rate == cfg.MULTIGRID.LONG_CYCLE_SAMPLING_RATE
      rate = lr_policy.get_lr_at_epoch(cfg, epoch + i / length)
      assert abs(table.learning_rate[step] - rate) <= 1e-7 + 1e-6 * rate, (
          epoch, i, table.learning_rate[step], rate)
      step += 1
  assert step == table.num_steps
  print(f"{step} steps equal")


if __name__ == "__main__":
  main()
