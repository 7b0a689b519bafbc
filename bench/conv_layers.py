r"""Every distinct convolution of a preset, timed alone: JAX vs PyTorch.

  python bench/conv_layers.py [--preset slowfast_8x8_r50] [--batch 2]
      [--crop 224] [--conv-impl fast] [--repeats 3]

Finds where a model's time goes. The preset's convolutions are collected by
tracing the model (shapes only); each distinct (input shape, kernel, stride,
outputs) is then run alone, forward and backward (input and weight gradients;
the stems' inputs are data, so only their weight gradient), in JAX with
`--conv-impl` and in PyTorch's `conv3d`. Times are the best of `--repeats`.
Prints one row per convolution (with its count in the model) and the totals,
weighted by count. Needs torch (requirements-dev.txt).
"""

import argparse
import collections
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

# pylint: disable=g-import-not-at-top
import numpy as np


def collect_convolutions(config, crop, batch):
  """Counter of (input shape, kernel, strides, features) over the model."""
  import flax.linen as nn
  import jax
  import jax.numpy as jnp
  from slowfast_jax import models
  from slowfast_jax.models import conv

  config.model.train_crop_size = crop  # The head's pool window follows it.
  model = models.build_model(config.model, conv_impl="native")
  calls = collections.Counter()

  def record(next_fun, args, kwargs, context):
    module = context.module
    if isinstance(module, conv.Conv3D) and context.method_name == "__call__":
      calls[(tuple(args[0].shape), tuple(module.kernel_size),
             tuple(module.strides), module.features)] += 1
    return next_fun(*args, **kwargs)

  inputs = [jax.ShapeDtypeStruct(s, jnp.float32)
            for s in models.input_shapes(config.model, crop, batch)]
  with nn.intercept_methods(record):
    jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x), inputs)
  return calls


def best_time(fn, repeats):
  fn()
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - start)
  return best


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--preset", default="slowfast_8x8_r50")
  parser.add_argument("--batch", type=int, default=2)
  parser.add_argument("--crop", type=int, default=224)
  parser.add_argument("--conv-impl", default="fast",
                      help="native or fast (see slowfast_jax/ops/conv3d.py)")
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()
  os.environ.setdefault("JAX_PLATFORMS", "cpu")
  import jax
  import jax.numpy as jnp
  import torch
  from common import load_preset  # bench/common.py
  from slowfast_jax.ops import conv3d

  torch.set_num_threads(len(os.sched_getaffinity(0)))
  calls = collect_convolutions(load_preset(args.preset), args.crop,
                               args.batch)
  totals = collections.Counter()
  print("input (b, t, h, w, c) | kernel | stride | out | count | "
        "JAX fwd ms | PyTorch fwd ms | JAX bwd ms | PyTorch bwd ms")
  for (shape, kernel_size, strides, features), count in calls.items():
    rng = np.random.RandomState(0)
    inputs = jnp.asarray(rng.randn(*shape), jnp.float32)
    kernel = jnp.asarray(
        rng.randn(*kernel_size, shape[-1], features) * 0.05, jnp.float32)
    data_input = shape[-1] == 3  # A stem: no input gradient in training.

    def jax_conv(x, k, strides=strides):
      return conv3d.conv3d(x, k, strides, args.conv_impl)

    forward = jax.jit(jax_conv)
    outputs = forward(inputs, kernel)
    if data_input:
      backward = jax.jit(lambda x, k, g: jax.vjp(
          lambda k_: jax_conv(x, k_), k)[1](g))
    else:
      backward = jax.jit(lambda x, k, g: jax.vjp(jax_conv, x, k)[1](g))
    jax_fwd = best_time(
        lambda: forward(inputs, kernel).block_until_ready(), args.repeats)
    jax_bwd = best_time(lambda: jax.block_until_ready(
        backward(inputs, kernel, outputs)), args.repeats)

    torch_inputs = torch.from_numpy(
        np.asarray(inputs).transpose(0, 4, 1, 2, 3).copy())
    torch_kernel = torch.from_numpy(
        np.asarray(kernel).transpose(4, 3, 0, 1, 2).copy())
    padding = tuple(k // 2 for k in kernel_size)

    def torch_conv(x, k):
      return torch.nn.functional.conv3d(x, k, stride=strides, padding=padding)

    with torch.no_grad():
      torch_fwd = best_time(lambda: torch_conv(torch_inputs, torch_kernel),
                            args.repeats)
      torch_grad = torch.randn_like(torch_conv(torch_inputs, torch_kernel))
    x_var = torch_inputs.clone().requires_grad_(not data_input)
    k_var = torch_kernel.clone().requires_grad_()
    wrt = (k_var,) if data_input else (x_var, k_var)
    torch_both = best_time(lambda: torch.autograd.grad(
        torch_conv(x_var, k_var), wrt, torch_grad), args.repeats)
    torch_bwd = max(torch_both - torch_fwd, 0.0)

    for key, seconds in (("jax_fwd", jax_fwd), ("torch_fwd", torch_fwd),
                         ("jax_bwd", jax_bwd), ("torch_bwd", torch_bwd)):
      totals[key] += count * seconds
    print(f"{shape} | {kernel_size} | {strides} | {features} | {count} | "
          f"{jax_fwd * 1e3:.1f} | {torch_fwd * 1e3:.1f} | "
          f"{jax_bwd * 1e3:.1f} | {torch_bwd * 1e3:.1f}", flush=True)
  print(f"total (s, weighted by count): JAX forward {totals['jax_fwd']:.3f}, "
        f"PyTorch forward {totals['torch_fwd']:.3f}, JAX backward "
        f"{totals['jax_bwd']:.3f}, PyTorch backward {totals['torch_bwd']:.3f}")


if __name__ == "__main__":
  main()
