"""Parameter count, GFLOPs and stage output shapes of a preset.

  python -m slowfast_jax.summary --config configs/slowfast_8x8_r50.py

GFLOPs follow the paper's convention (one multiply-add = one FLOP), for one
view at the preset's test crop, over convolutions and the classifier; the
non-local blocks' attention products are reported on their own line.
Nothing is computed: shapes come from `jax.eval_shape`.
"""

import math
from typing import Any

from absl import app
from absl import flags
import flax.linen as nn
import jax
import jax.numpy as jnp
from ml_collections import config_flags

from slowfast_jax import models
from slowfast_jax.models.conv import Conv3D
from slowfast_jax.models.nonlocal_block import NonLocal



def _layer_macs(module: nn.Module, args: tuple[Any, ...],
                output: Any) -> tuple[str, int]:
  """(kind, multiply-adds) of one call of a counted layer; kind '' if none."""
  if isinstance(module, Conv3D):
    inputs = args[0]
    kernel_volume = math.prod(module.kernel_size)
    return "conv", (math.prod(output.shape) * kernel_volume *
                    inputs.shape[-1])
  if isinstance(module, nn.Dense):
    return "classifier", math.prod(output.shape) * args[0].shape[-1]
  if isinstance(module, NonLocal):
    inputs = args[0]
    positions = math.prod(inputs.shape[1:4])
    pooled = math.prod(s // p for s, p in zip(inputs.shape[1:4], module.pool))
    # theta·phi and affinity·g: positions × pooled × inner, each.
    return "attention", 2 * inputs.shape[0] * positions * pooled * \
        module.inner_features
  return "", 0


def model_summary(config) -> dict[str, Any]:
  """Counts for one view at `config.data.test_crop_size`, batch 1.

  Returns:
    dict with `params`, `gflops` (conv + classifier), `attention_gflops`,
    `stage_shapes` ({stage: [shape per pathway]}) and `input_shapes`.
  """
  model = models.build_model(config.model)
  crop = config.data.test_crop_size
  shapes = models.input_shapes(config.model, crop, batch_size=1)
  dummy = [jax.ShapeDtypeStruct(s, jnp.float32) for s in shapes]
  variables = jax.eval_shape(
      lambda x: model.init(jax.random.PRNGKey(0), x), dummy)
  macs = {"conv": 0, "classifier": 0, "attention": 0}

  def count(next_fun, args, kwargs, context):
    output = next_fun(*args, **kwargs)
    if context.method_name == "__call__":
      kind, n = _layer_macs(context.module, args, output)
      if kind:
        macs[kind] += n
    return output

  def forward(v, x):
    with nn.intercept_methods(count):
      return model.apply(v, x, train=False, mutable=["intermediates"])

  _, state = jax.eval_shape(forward, variables, dummy)
  sown = state["intermediates"]
  stage_shapes = {
      name: [tuple(a.shape) for a in sown[name][0]]
      for name in ("stem", "res2", "res3", "res4", "res5")
  }
  return {
      "params": sum(math.prod(p.shape)
                    for p in jax.tree.leaves(variables["params"])),
      "gflops": (macs["conv"] + macs["classifier"]) / 1e9,
      "attention_gflops": macs["attention"] / 1e9,
      "stage_shapes": stage_shapes,
      "input_shapes": [tuple(s) for s in shapes],
  }


def format_summary(name: str, summary: dict[str, Any]) -> str:
  lines = [
      f"model: {name}",
      f"input (batch, time, height, width, channels): "
      f"{', '.join(map(str, summary['input_shapes']))}",
      f"parameters: {summary['params']:,}",
      f"GFLOPs per view (multiply-adds; conv + classifier): "
      f"{summary['gflops']:.2f}",
  ]
  if summary["attention_gflops"]:
    lines.append(f"GFLOPs of non-local attention products: "
                 f"{summary['attention_gflops']:.2f}")
  lines.append("stage outputs (batch, time, height, width, channels), "
               "Slow first:")
  for stage, shapes in summary["stage_shapes"].items():
    lines.append(f"  {stage:>5}: {'  '.join(map(str, shapes))}")
  return "\n".join(lines)


def _define_flags() -> None:
  """The command line's flag (defined only when run as a program, so that
  importing this module defines none)."""
  config_flags.DEFINE_config_file("config", None, "Preset config file.")


def main(argv):
  del argv
  config = flags.FLAGS.config
  if config is None:
    raise app.UsageError("--config is required, e.g. "
                         "--config configs/slowfast_8x8_r50.py")
  name = config_flags.get_config_filename(flags.FLAGS["config"])
  print(format_summary(name, model_summary(config)))


if __name__ == "__main__":
  _define_flags()
  app.run(main)
