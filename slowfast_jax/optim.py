"""The release's optimizer and learning-rate schedule, with optax.

Optimizer (release: models/optimizer.py, torch SGD):
  * optional clipping of the raw gradients' global norm (off by default);
  * L2 weight decay added to the gradient (torch `weight_decay`) on every
    parameter except BatchNorm scale/bias, the head's bias included;
  * momentum 0.9 with Nesterov, no dampening (torch's SGD update equals
    `optax.trace(decay=momentum, nesterov=True)`);
  * the learning rate of `learning_rate_schedule`.

Schedule (release: utils/lr_policy.py, `optim.lr_policy`), as a function of
the fractional epoch `e = step / steps_per_epoch`:

    "cosine":                  policy(e) = end + (base - end) * (cos(pi * e / num_epochs) + 1) / 2
    "steps_with_relative_lrs": policy(e) = base * lrs[i], i the last with steps[i] <= e
    lr(e) = warmup_start + e * (policy(W) - warmup_start) / W   if e < W
            policy(e)                                           otherwise

with `W = warmup_epochs`: the policy starts at epoch 0, so warmup ends at
`policy(W)`, not at `base`. All three rates are scaled linearly by
`global_batch_size / base_batch_size` (the release's linear scaling rule), so
the schedule's shape does not depend on the batch size.
"""

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax


def scaled_rates(optim_config: ml_collections.ConfigDict,
                 global_batch_size: int) -> tuple[float, float, float]:
  """`(base_lr, warmup_start_lr, end_lr)` scaled by the global batch size."""
  scale = global_batch_size / optim_config.base_batch_size
  return (optim_config.base_lr * scale, optim_config.warmup_start_lr * scale,
          optim_config.end_lr * scale)


def learning_rate_schedule(optim_config: ml_collections.ConfigDict, *,
                           steps_per_epoch: int, num_epochs: float,
                           global_batch_size: int) -> optax.Schedule:
  """The release's warmup + policy schedule as a function of the step.

  Args:
    optim_config: the `optim` config section (`base_lr`, `base_batch_size`,
      `warmup_epochs`, `warmup_start_lr`, `end_lr`, `lr_policy` and for
      "steps_with_relative_lrs" `steps` and `lrs`).
    steps_per_epoch: optimizer steps per epoch (the release's iterations per
      epoch: training clips // global batch).
    num_epochs: the release's MAX_EPOCH; the cosine reaches `end_lr` there.
    global_batch_size: clips per step over all devices.

  Returns:
    `schedule(step) -> learning rate`, traceable under `jit`.
  """
  base, warmup_start, end = scaled_rates(optim_config, global_batch_size)
  warmup_epochs = float(optim_config.warmup_epochs)
  policy = LR_POLICIES[optim_config.get("lr_policy", "cosine")](
      optim_config, base, end, num_epochs)
  if warmup_epochs > 0:
    warmup = optax.linear_schedule(
        init_value=warmup_start, end_value=float(policy(warmup_epochs)),
        transition_steps=warmup_epochs)
  else:
    warmup = policy

  def schedule(step):
    epoch = jnp.asarray(step, jnp.float32) / steps_per_epoch
    return jnp.where(epoch < warmup_epochs, warmup(epoch), policy(epoch))

  return schedule


def _cosine_policy(optim_config: ml_collections.ConfigDict, base: float,
                   end: float, num_epochs: float) -> optax.Schedule:
  del optim_config
  # optax's cosine decays to `alpha * init_value`; the release's to `end`.
  return optax.cosine_decay_schedule(init_value=base, decay_steps=num_epochs,
                                     alpha=end / base if base else 0.0)


def _steps_policy(optim_config: ml_collections.ConfigDict, base: float,
                  end: float, num_epochs: float) -> optax.Schedule:
  del end, num_epochs
  # From epoch steps[i] on (inclusive, as the release): base * lrs[i]. The
  # values are the release's products, not optax.piecewise_constant's
  # running products of scales.
  values = jnp.asarray([base * float(r) for r in optim_config.lrs],
                       jnp.float32)
  boundaries = jnp.asarray([float(s) for s in optim_config.steps[1:]],
                           jnp.float32)
  return lambda epoch: values[jnp.searchsorted(boundaries, epoch,
                                               side="right")]


# The release's SOLVER.LR_POLICY values: policy(optim_config, base, end,
# num_epochs) -> a function of the fractional epoch (optax schedules accept
# floats). `validate.validate_schedule` checks the name and its fields.
LR_POLICIES = {"cosine": _cosine_policy,
               "steps_with_relative_lrs": _steps_policy}


def weight_decay_mask(params: Any) -> Any:
  """True for every parameter that gets weight decay: all but BatchNorm's.

  A BatchNorm layer is recognized by its parameters: exactly `scale` and
  `bias` (convolutions and the classifier have a `kernel`).
  """
  def mask(tree):
    if isinstance(tree, dict) or hasattr(tree, "items"):
      is_bn = set(tree.keys()) == {"scale", "bias"}
      return {k: (False if is_bn else mask(v)) for k, v in tree.items()}
    return True
  return mask(params)


def make_optimizer(optim_config: ml_collections.ConfigDict,
                   schedule: optax.Schedule,
                   params: Any) -> optax.GradientTransformation:
  """The release's SGD (see the module docstring).

  Args:
    optim_config: the `optim` config section (`momentum`, `nesterov`,
      `weight_decay`, `grad_clip_norm`; 0 = no clipping).
    schedule: the learning-rate schedule (`learning_rate_schedule`).
    params: the model parameters (their structure selects the decayed ones).
  """
  steps = []
  if optim_config.grad_clip_norm > 0:
    steps.append(optax.clip_by_global_norm(optim_config.grad_clip_norm))
  if optim_config.weight_decay > 0:
    steps.append(optax.add_decayed_weights(optim_config.weight_decay,
                                           mask=weight_decay_mask(params)))
  steps.append(optax.sgd(schedule, momentum=optim_config.momentum,
                         nesterov=optim_config.nesterov))
  return optax.chain(*steps)


def cross_entropy_loss(logits: jax.Array, labels: jax.Array,
                       label_smoothing: float = 0.0) -> jax.Array:
  """Mean cross-entropy of `logits` `(batch, classes)` and int `labels` `(batch,)`.

  With `label_smoothing` > 0 the one-hot targets are smoothed (off in the
  release's Kinetics recipe).
  """
  logits = logits.astype(jnp.float32)
  targets = jax.nn.one_hot(labels, logits.shape[-1])
  if label_smoothing > 0:
    targets = optax.smooth_labels(targets, label_smoothing)
  return optax.softmax_cross_entropy(logits, targets).mean()
