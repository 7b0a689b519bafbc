"""Loading presets and shrinking them to tiny test models."""

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PRESETS = sorted(p.stem for p in (ROOT / "configs").glob("*.py")
                 if not p.stem.startswith(("demo", "_")))


def load_preset(name: str):
  """`configs/NAME.py`'s `get_config()`."""
  path = ROOT / "configs" / f"{name}.py"
  spec = importlib.util.spec_from_file_location(f"configs.{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


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
