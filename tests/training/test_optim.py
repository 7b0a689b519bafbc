"""Optimizer and LR schedule against the release's formulas and torch SGD."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from slowfast_jax import config_lib
from slowfast_jax import optim
from slowfast_jax import validate


def release_lr(epoch, *, base, warmup_start, end, warmup_epochs, max_epoch):
  """utils/lr_policy.py: get_lr_at_epoch with policy cosine, in float64."""
  def cosine(e):
    return end + (base - end) * (math.cos(math.pi * e / max_epoch) + 1.0) * 0.5
  if epoch < warmup_epochs:
    alpha = (cosine(warmup_epochs) - warmup_start) / warmup_epochs
    return epoch * alpha + warmup_start
  return cosine(epoch)


def kinetics_optim():
  return config_lib.kinetics_config(config_lib.model_config()).optim


@pytest.mark.parametrize("global_batch", [64, 256])
def test_schedule_equals_release_formula(global_batch):
  optim_config = kinetics_optim()
  steps_per_epoch = 3756  # The release's K400 iterations per epoch at batch 64.
  schedule = optim.learning_rate_schedule(
      optim_config, steps_per_epoch=steps_per_epoch, num_epochs=196,
      global_batch_size=global_batch)
  scale = global_batch / 64
  points = {
      "warmup start": 0,
      "mid warmup": 17 * steps_per_epoch + 5,
      "warmup end": 34 * steps_per_epoch,
      "mid": 115 * steps_per_epoch + 1234,
      "end": 196 * steps_per_epoch,
  }
  for name, step in points.items():
    want = release_lr(step / steps_per_epoch, base=0.1 * scale,
                      warmup_start=0.01 * scale, end=0.0,
                      warmup_epochs=34.0, max_epoch=196)
    got = float(jax.jit(schedule)(step))
    assert got == pytest.approx(want, rel=1e-5, abs=1e-8), name
  # The release's warmup ends on the cosine curve, not at the base LR.
  assert float(schedule(34 * steps_per_epoch)) == pytest.approx(
      0.092757 * scale, rel=1e-4)
  assert float(schedule(196 * steps_per_epoch)) == pytest.approx(0.0, abs=1e-9)


def test_schedule_with_end_lr_and_no_warmup():
  optim_config = kinetics_optim()
  optim_config.warmup_epochs = 0.0
  optim_config.end_lr = 0.001
  schedule = optim.learning_rate_schedule(
      optim_config, steps_per_epoch=10, num_epochs=5, global_batch_size=64)
  for step in (0, 7, 25, 50):
    want = release_lr(step / 10, base=0.1, warmup_start=0.01, end=0.001,
                      warmup_epochs=0.0, max_epoch=5)
    assert float(schedule(step)) == pytest.approx(want, rel=1e-5)


def release_steps_lr(epoch, *, base, warmup_start, warmup_epochs, steps, lrs,
                     max_epoch):
  """get_lr_at_epoch with policy steps_with_relative_lrs, in float64."""
  def policy(e):
    bounds = list(steps) + [max_epoch]
    for index, step in enumerate(bounds):
      if e < step:
        break
    return lrs[index - 1] * base
  if epoch < warmup_epochs:
    alpha = (policy(warmup_epochs) - warmup_start) / warmup_epochs
    return epoch * alpha + warmup_start
  return policy(epoch)


@pytest.mark.parametrize("preset", ["ava_slowfast_32x2_r50_short",
                                    "ava_slow_8x8_r50_short"])
def test_steps_with_relative_lrs_equals_release_formula(preset):
  config = validate.load_config_file(f"configs/{preset}.py")
  optim_config = config.optim
  assert optim_config.lr_policy == "steps_with_relative_lrs"
  steps_per_epoch = 7
  schedule = jax.jit(optim.learning_rate_schedule(
      optim_config, steps_per_epoch=steps_per_epoch,
      num_epochs=config.num_epochs, global_batch_size=128))
  scale = 128 / optim_config.base_batch_size
  for step in range(0, 20 * steps_per_epoch + 1):
    want = release_steps_lr(
        step / steps_per_epoch, base=optim_config.base_lr * scale,
        warmup_start=optim_config.warmup_start_lr * scale,
        warmup_epochs=optim_config.warmup_epochs, steps=optim_config.steps,
        lrs=optim_config.lrs, max_epoch=config.num_epochs)
    # float32 arithmetic: 1.3e-5 relative at the warmup's first step.
    assert float(schedule(step)) == pytest.approx(want, rel=5e-5), step
  # Warmup ends at base × lrs[0]; the steps at epochs 10 and 15 apply from
  # their first step on.
  assert float(schedule(5 * steps_per_epoch)) == pytest.approx(0.2, rel=1e-6)
  assert float(schedule(10 * steps_per_epoch)) == pytest.approx(0.02, rel=1e-6)
  assert float(schedule(15 * steps_per_epoch - 1)) == pytest.approx(0.02)
  assert float(schedule(15 * steps_per_epoch)) == pytest.approx(0.002)


@pytest.mark.parametrize("field,value,message", [
    ("lr_policy", "linear", "lr_policy='linear'"),
    ("lrs", (1.0, 0.1), "one relative rate per step"),
    ("steps", (5, 10, 15, 20), "steps increasing from 0"),
])
def test_lr_policy_fields_are_checked(field, value, message):
  config = validate.load_config_file("configs/ava_slowfast_32x2_r50_short.py")
  config.optim[field] = value
  with pytest.raises(validate.ConfigError, match=message):
    validate.validate_schedule(config)


def toy_params():
  rng = np.random.default_rng(0)
  return {
      "conv": {"kernel": rng.normal(size=(3, 4)).astype(np.float32)},
      "bn": {"scale": rng.normal(size=(4,)).astype(np.float32),
             "bias": rng.normal(size=(4,)).astype(np.float32)},
      "head": {"projection": {
          "kernel": rng.normal(size=(4, 2)).astype(np.float32),
          "bias": rng.normal(size=(2,)).astype(np.float32)}},
  }


def test_weight_decay_mask_skips_only_batchnorm():
  mask = optim.weight_decay_mask(toy_params())
  assert mask == {"conv": {"kernel": True},
                  "bn": {"scale": False, "bias": False},
                  "head": {"projection": {"kernel": True, "bias": True}}}


@pytest.mark.parametrize("clip", [0.0, 0.5])
def test_sgd_matches_torch_with_param_groups(clip):
  """Five steps of ours == torch SGD(nesterov, wd on non-BN, BN wd 0)."""
  optim_config = kinetics_optim()
  optim_config.grad_clip_norm = clip
  lrs = [0.1, 0.05, 0.2, 0.01, 0.3]
  params = toy_params()
  tx = optim.make_optimizer(optim_config, lambda step: jnp.asarray(lrs)[step],
                            params)
  rng = np.random.default_rng(1)
  grads_per_step = [jax.tree.map(lambda p: rng.normal(size=p.shape).astype(
      np.float32), params) for _ in lrs]

  torch_params = jax.tree.map(lambda p: torch.tensor(p, requires_grad=True),
                              params)
  decay = [torch_params["conv"]["kernel"],
           torch_params["head"]["projection"]["kernel"],
           torch_params["head"]["projection"]["bias"]]
  no_decay = [torch_params["bn"]["scale"], torch_params["bn"]["bias"]]
  torch_opt = torch.optim.SGD(
      [{"params": decay, "weight_decay": 1e-4},
       {"params": no_decay, "weight_decay": 0.0}],
      lr=lrs[0], momentum=0.9, nesterov=True, dampening=0.0)

  state = tx.init(params)
  for lr, grads in zip(lrs, grads_per_step):
    updates, state = tx.update(grads, state, params)
    params = optax.apply_updates(params, updates)
    for group in torch_opt.param_groups:
      group["lr"] = lr
    jax.tree.map(lambda t, g: setattr(t, "grad", torch.tensor(g)),
                 torch_params, grads)
    if clip:
      torch.nn.utils.clip_grad_norm_(jax.tree.leaves(torch_params), clip)
    torch_opt.step()
  for ours, theirs in zip(jax.tree.leaves(params), jax.tree.leaves(
      jax.tree.map(lambda t: t.detach().numpy(), torch_params))):
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_label_smoothing_loss():
  logits = jnp.asarray([[2.0, 0.0, -1.0]])
  labels = jnp.asarray([0])
  plain = optim.cross_entropy_loss(logits, labels)
  log_p = jax.nn.log_softmax(logits)[0]
  assert float(plain) == pytest.approx(-float(log_p[0]), rel=1e-6)
  smoothed = optim.cross_entropy_loss(logits, labels, label_smoothing=0.3)
  targets = np.array([0.7 + 0.1, 0.1, 0.1])
  assert float(smoothed) == pytest.approx(-float((targets * log_p).sum()),
                                          rel=1e-6)
