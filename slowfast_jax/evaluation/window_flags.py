"""Command-line flags for sliding windows, shared by `extract` and `predict`.

Importing this module defines the flags (underscore names, with the dashed
spellings as aliases: `--window-frames` = `--window_frames`). It imports
nothing heavy, so `--help` stays instant.
"""

from absl import flags

_WINDOW_FRAMES = flags.DEFINE_integer(
    "window_frames", None, "Frames (at --fps) a window spans (default: "
    "model.num_frames * data.sampling_rate, the training clip).")
_STRIDE_SECONDS = flags.DEFINE_float(
    "stride_seconds", None, "Seconds between window starts.")
_STRIDE_FRAMES = flags.DEFINE_float(
    "stride_frames", None, "Frames between window starts (instead of "
    "--stride_seconds; default: half a window).")
_FPS = flags.DEFINE_float(
    "fps", None, "Decode at this frame rate (default: data.target_fps).")
_CROP = flags.DEFINE_enum(
    "crop", "center", ["center", "full"],  # windows.CROPS
    "center: a square crop of --crop_size; full: the whole resized frame.")
_SHORT_SIDE = flags.DEFINE_integer(
    "short_side", None,
    "Resize frames to this short side (default: data.train_jitter_scales[0]).")
_CROP_SIZE = flags.DEFINE_integer(
    "crop_size", None, "Centre crop side (default: data.test_crop_size).")
BATCH = flags.DEFINE_integer(
    "batch", 8, "Windows (with --boxes: seconds) per model call.")

for _holder in (_WINDOW_FRAMES, _STRIDE_SECONDS, _STRIDE_FRAMES, _SHORT_SIDE,
                _CROP_SIZE):
  flags.DEFINE_alias(_holder.name.replace("_", "-"), _holder.name)


def spec_from_flags(config):
  """The `windows.WindowSpec` the flags ask for, defaults from `config`."""
  # Imported here so `--help` and flag errors are instant.
  from slowfast_jax.evaluation import windows  # pylint: disable=g-import-not-at-top
  return windows.spec_from_config(
      config, window_frames=_WINDOW_FRAMES.value,
      stride_seconds=_STRIDE_SECONDS.value, stride_frames=_STRIDE_FRAMES.value,
      fps=_FPS.value, crop=_CROP.value, short_side=_SHORT_SIDE.value,
      crop_size=_CROP_SIZE.value)
