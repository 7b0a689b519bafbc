"""Loading presets and shrinking them to tiny test models."""

from common import load_preset  # bench/common.py
from common import ROOT

# The release's presets (not the demos or the fine-tuning recipe).
PRESETS = sorted(p.stem for p in (ROOT / "configs").glob("*.py")
                 if not p.stem.startswith(("demo", "finetune", "_", "ava_",
                                           "charades_", "ssv2_")))
# The detection presets (tests/models/test_detection_model.py).
AVA_PRESETS = sorted(p.stem for p in (ROOT / "configs").glob("ava_*.py"))
# The multi-label presets (tests/evaluation/test_charades.py): Kinetics models with a
# 157-class head.
CHARADES_PRESETS = sorted(p.stem for p in
                          (ROOT / "configs").glob("charades_*.py"))
# The Something-Something v2 presets (tests/data/test_ssv2.py): 174 classes.
SSV2_PRESETS = sorted(p.stem for p in (ROOT / "configs").glob("ssv2_*.py"))


def tiny_model_config(name: str, *, width: int = 8, classes: int = 10,
                      crop: int = 64, frames: int = 16):
  """The preset's model section at a tiny width, crop and clip length."""
  config = load_preset(name)
  model = config.model
  model.width_per_group = width
  model.num_classes = classes
  model.train_crop_size = crop
  model.num_frames = frames
  return model


def random_variables(model, inputs, seed: int = 0):
  """Random variables for `model`, without compiling its init.

  Kernels ~ N(0, 1/fan_in) keep activations O(1) through deep stacks; every
  1-D leaf (BN scale, bias, statistics) ~ U(0.5, 1.5), so no BN is the
  identity and no residual branch is zero.
  """
  import jax
  import numpy as np

  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), inputs)
  rng = np.random.RandomState(seed)

  def fill(leaf):
    if len(leaf.shape) == 1:
      return rng.uniform(0.5, 1.5, leaf.shape).astype(np.float32)
    fan_in = int(np.prod(leaf.shape[:-1]))
    return (rng.randn(*leaf.shape) / np.sqrt(fan_in)).astype(np.float32)

  return jax.tree.map(fill, shapes)


def assert_config_fields(config, expected):
  """Each `(section, field): value` of `expected` (section None: top level)
  equals the config's; lists compare as lists."""
  for (section, field), want in expected.items():
    got = (config[section] if section else config)[field]
    got = list(got) if isinstance(want, list) else got
    assert got == want, (section, field)
