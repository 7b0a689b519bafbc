"""Frozen early stages for fine-tuning (`config.finetune.frozen_stages`).

Stages are the release's: stage 1 is the stems and the first Fast→Slow
fusion (`s1`, `s1_fuse`), stage N in 2..5 is `resN` of every pathway and the
fusion after it (`sN`, `sN_fuse`). Freezing stages 1..N wraps the optimizer
in `optax.multi_transform`: their parameters take `optax.set_to_zero()`
updates (no gradient step, no weight decay, no momentum state); the others
take the given optimizer. BatchNorm statistics are not parameters: freezing
them is `config.finetune.frozen_bn`.
"""

import re
from typing import Any

import flax
import optax

FROZEN = "frozen"
TRAINED = "trained"
# Every stage but the head's: 5 freezes the whole backbone (a linear probe).
MAX_FROZEN_STAGES = 5
# Top-level modules of `VideoResNet`: `{pathway}_stem`, `{pathway}_res{N}`,
# `fuse{N}` (the head, `head`, has no stage).
_STEM = re.compile(r"^[a-z]+_stem$")
_STAGE = re.compile(r"^(?:[a-z]+_res|fuse)([1-5])$")


def module_stage(name: str) -> int | None:
  """The release stage of top-level module `name`; None for the head.

  `slow_stem`, `fast_stem` and `fuse1` are stage 1; `slow_res3`, `fast_res3`
  and `fuse3` stage 3.
  """
  if _STEM.match(name):
    return 1
  match = _STAGE.match(name)
  return int(match.group(1)) if match else None


def freeze_labels(params: Any, frozen_stages: int) -> Any:
  """`FROZEN` or `TRAINED` for every leaf of `params` (the same tree).

  A leaf is `FROZEN` when its top-level module's stage is at most
  `frozen_stages` (0: none).
  """
  def label(path, _):
    stage = module_stage(path[0])
    return FROZEN if stage is not None and stage <= frozen_stages else TRAINED

  return flax.traverse_util.path_aware_map(label, params)


def freeze_stages(tx: optax.GradientTransformation, params: Any,
                  frozen_stages: int) -> optax.GradientTransformation:
  """`tx` on every parameter but those of stages 1..`frozen_stages`.

  Args:
    tx: the optimizer (`optim.make_optimizer`).
    params: the model parameters, or their shapes (`jax.eval_shape`).
    frozen_stages: 0 (returns `tx` itself) to `MAX_FROZEN_STAGES`.
  """
  if frozen_stages == 0:
    return tx
  return optax.multi_transform({TRAINED: tx, FROZEN: optax.set_to_zero()},
                               freeze_labels(params, frozen_stages))
