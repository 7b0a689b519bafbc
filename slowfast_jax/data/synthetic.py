r"""A synthetic motion dataset, generated locally (no download).

  python -m slowfast_jax.data.synthetic --out DIR --videos-per-class N

writes lossless H.264 `.mp4` files `DIR/{train,val}/CLASS/NNNN.mp4` and the lists
`DIR/train.csv`, `DIR/val.csv` (`path label` lines, labels as class names),
ready for `python -m slowfast_jax.data.prepare --video-dir DIR --split
train=DIR/train.csv --split val=DIR/val.csv ...`.

Each video is a texture filling the frame and drifting across it: a tile
of 4 x 4 cells of random colours, 24 px wide, repeated. The class is the
motion: direction (right, left, down, up) x speed (slow, fast), 8 classes.
Speeds are drawn per video as fractions of the tile per frame: slow 2-4 %,
fast 8-18 %. Colours and start position are random and independent of the
class, so a single frame carries no class information: the network has to
compare frames.

Frame rate matters by construction. The demo (configs/demo.py)
samples its Slow pathway's frames exactly 10 apart and its Fast pathway's 2
apart. Between two Slow frames a fast texture moves 0.8-1.8 tiles, and
since it repeats every tile, what the Slow frames show is a shift spread
evenly over the whole tile, the same for "left" as for "right". The Fast
pathway's frames see it move 16-36 % of a tile, which shows the direction.
Trained alone, the Slow pathway gets the fast classes about as wrong as
that predicts (docs/performance.md).

A horizontal flip turns "left" into "right": train on it with
`random_flip = False`.

`--task diagonal` makes 8 other classes of the same kind, for fine-tuning
the demo model on new classes (docs/finetuning.md): the four diagonal
directions (down-right, down-left, up-right, up-left; the texture moves the
class's step along each axis) x the same two speeds.

`ensure_demo_dataset(data_dir)` generates and prepares it on first use.
"""

import fractions
import os

from absl import app
from absl import flags
import av
import numpy as np
from PIL import Image

DIRECTIONS = {"right": (0, 1), "left": (0, -1), "down": (1, 0), "up": (-1, 0)}
# The texture repeats every PERIOD pixels: CELLS x CELLS cells per tile.
PERIOD = 24
CELLS = 4
# Speed ranges in tiles (PERIOD pixels) per frame at `fps` 30; each video
# draws one uniformly.
SPEEDS = {"slow": (0.02, 0.04), "fast": (0.08, 0.18)}
CLASS_NAMES = tuple(f"{d}_{s}" for d in DIRECTIONS for s in SPEEDS)
# (down, right) unit steps of the diagonal directions (`--task diagonal`).
DIAGONALS = {"downright": (1, 1), "downleft": (1, -1), "upright": (-1, 1),
             "upleft": (-1, -1)}
# Class names of each task: the demo's and the transfer task's.
TASKS = {"demo": CLASS_NAMES,
         "diagonal": tuple(f"{d}_{s}" for d in DIAGONALS for s in SPEEDS)}
# v2: 4-px patch cells (v1's 1-px cells blurred away at the demo's 32 px).
# v3: a drifting periodic texture whose fast motion aliases between the
# Slow pathway's frames.
# v4: the same videos, lossless, so every generation decodes to the same frames.
DEMO_NAME = "synthetic_motion_v4"


def write_video(path, frames: np.ndarray, fps, *, crf: int = 20) -> None:
  """Writes uint8 RGB frames `(time, height, width, 3)` as H.264 mp4.

  Height and width must be even (yuv420p); `crf` 0 is lossless. Written to a
  temporary file and renamed, so an interrupted write leaves no partial video
  behind.
  """
  path = os.fspath(path)
  tmp = f"{path}.tmp-{os.getpid()}.mp4"
  rate = fractions.Fraction(fps).limit_denominator(1001)
  with av.open(tmp, "w") as container:
    stream = container.add_stream("libx264", rate=rate)
    stream.height, stream.width = frames.shape[1:3]
    stream.pix_fmt = "yuv420p"
    stream.options = {"crf": str(crf), "preset": "fast"}
    for frame in frames:
      for packet in stream.encode(av.VideoFrame.from_ndarray(frame,
                                                             format="rgb24")):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)
  os.replace(tmp, path)


def smooth_texture(rng, height: int, width: int, cell: int) -> np.ndarray:
  """Random colour texture with features about `cell` pixels wide, in [-1, 1]."""
  coarse = rng.uniform(0, 255, size=(height // cell + 2, width // cell + 2, 3))
  image = Image.fromarray(coarse.astype(np.uint8)).resize(
      (width, height), Image.Resampling.BICUBIC)
  return np.asarray(image, np.float32) / 127.5 - 1.0


def velocity(class_name: str, fraction: float) -> tuple[float, float]:
  """The (down, right) pixels per frame of `class_name`'s motion.

  `fraction` in [0, 1) picks the speed within the class's range.
  """
  direction, speed = class_name.split("_")
  dy, dx = {**DIRECTIONS, **DIAGONALS}[direction]
  low, high = SPEEDS[speed]
  step = PERIOD * (low + (high - low) * fraction)
  return dy * step, dx * step


def motion_video(rng, class_name: str, *, height: int = 64, width: int = 80,
                 num_frames: int = 60) -> np.ndarray:
  """One video of class `class_name`: uint8 `(num_frames, height, width, 3)`."""
  cell = PERIOD // CELLS
  colours = rng.uniform(0, 255, size=(CELLS, CELLS, 3))
  tile = np.repeat(np.repeat(colours, cell, axis=0), cell, axis=1)
  y0, x0 = rng.uniform(0, PERIOD, size=2)
  vy, vx = velocity(class_name, rng.uniform())
  frames = np.empty((num_frames, height, width, 3), np.uint8)
  rows, cols = np.arange(height), np.arange(width)
  for t in range(num_frames):
    y = int(round(y0 + vy * t))
    x = int(round(x0 + vx * t))
    frames[t] = tile[np.ix_((rows - y) % PERIOD, (cols - x) % PERIOD)]
  return frames


def generate(out_dir, *, videos_per_class: int, val_videos_per_class: int,
             height: int = 64, width: int = 80, seconds: float = 2.0,
             fps: float = 30.0, seed: int = 0,
             class_names: tuple[str, ...] = CLASS_NAMES) -> dict[str, str]:
  """Writes the videos and lists; returns {split: list path}.

  Deterministic for a given seed; videos already on disk are kept (so an
  interrupted run continues). Lengths vary by +-10% around `seconds`.
  `class_names` is one of `TASKS`' values (default: the demo's classes).
  """
  out_dir = os.fspath(out_dir)
  counts = {"train": videos_per_class, "val": val_videos_per_class}
  lists = {}
  for split_id, (split, count) in enumerate(counts.items()):
    lines = []
    for class_id, name in enumerate(class_names):
      folder = os.path.join(out_dir, split, name)
      os.makedirs(folder, exist_ok=True)
      for i in range(count):
        relative = f"{split}/{name}/{i:04d}.mp4"
        path = os.path.join(out_dir, relative)
        if not os.path.exists(path):
          rng = np.random.default_rng([seed, split_id, class_id, i])
          num_frames = int(round(seconds * fps * rng.uniform(0.9, 1.1)))
          frames = motion_video(rng, name, height=height, width=width,
                                num_frames=num_frames)
          # Lossless (crf 0): libx264's lossy output varied from run to run
          # on the same frames, and so did the decoded pixels.
          write_video(path, frames, fps, crf=0)
        lines.append(f"{relative} {name}\n")
    lists[split] = os.path.join(out_dir, f"{split}.csv")
    with open(lists[split], "w") as f:
      f.writelines(lines)
  return lists


def ensure_demo_dataset(data_dir, *, name: str = DEMO_NAME,
                        videos_per_class: int = 40,
                        val_videos_per_class: int = 20,
                        short_side: int = 64, height: int = 64,
                        width: int = 80, workers: int | None = None,
                        seed: int = 0, progress: bool = True) -> str:
  """Generates and prepares the synthetic dataset unless it already exists.

  The raw videos go to `data_dir/{name}_videos`, the TFDS dataset to
  `data_dir/{name}/1.0.0`. A no-op (no decoding, no writing) when the
  dataset is already prepared with these numbers of videos; an interrupted
  first run resumes. Other numbers prepare it again (videos already
  generated are kept).

  Returns:
    The prepared dataset's directory.
  """
  from slowfast_jax.data import builder  # pylint: disable=g-import-not-at-top
  from slowfast_jax.data import prepare  # pylint: disable=g-import-not-at-top
  directory = builder.version_dir(data_dir, name)
  sizes = {"train": videos_per_class * len(CLASS_NAMES),
           "val": val_videos_per_class * len(CLASS_NAMES)}
  if (builder.is_complete(directory) and builder.has_frame_store(directory)
      and builder.split_sizes(directory) == sizes):
    return directory
  video_dir = os.path.join(os.fspath(data_dir), f"{name}_videos")
  lists = generate(video_dir, videos_per_class=videos_per_class,
                   val_videos_per_class=val_videos_per_class, height=height,
                   width=width, seed=seed)
  if workers is None:
    workers = min(2, os.cpu_count() or 1)
  summary = prepare.prepare(name=name, video_dir=video_dir, splits=lists,
                            data_dir=data_dir, fps=30.0,
                            short_side=short_side, workers=workers,
                            videos_per_shard=16, progress=progress,
                            overwrite=True)  # Its own (older) dataset.
  if summary.skipped:
    raise RuntimeError(f"synthetic videos failed to decode: "
                       f"{summary.skipped[:3]}")
  return directory


def define_frame_flags(*, height: int, width: int, seconds: float) -> None:
  """`--height`, `--width`, `--seconds` and `--seed` of a generator command."""
  flags.DEFINE_integer("height", height, "Frame height (even).")
  flags.DEFINE_integer("width", width, "Frame width (even).")
  flags.DEFINE_float("seconds", seconds, "Length of each video.")
  flags.DEFINE_integer("seed", 0, "Random seed.")


def frame_flag_values() -> dict[str, float]:
  """Those flags' values; a usage error unless the frame size is even."""
  values = {k: flags.FLAGS[k].value
            for k in ("height", "width", "seconds", "seed")}
  if values["height"] % 2 or values["width"] % 2:
    raise app.UsageError("--height and --width must be even (H.264 yuv420p)")
  return values


def _define_flags() -> None:
  """The command line's flags (defined only when run as a program)."""
  flags.DEFINE_string("out", None, "Output folder.", required=True)
  flags.DEFINE_integer("videos-per-class", None, "Training videos per class.",
                       required=True)
  flags.DEFINE_integer("val-videos-per-class", None,
                       "Validation videos per class (default: a quarter of "
                       "--videos-per-class, at least 1).")
  define_frame_flags(height=64, width=80, seconds=2.0)
  flags.DEFINE_float("fps", 30.0, "Frame rate.")
  flags.DEFINE_enum("task", "demo", list(TASKS),
                    "Classes: the demo's 4 directions x 2 speeds, or the "
                    "4 diagonal directions x 2 speeds (fine-tuning).")


def main(argv: list[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  value = lambda name: flags.FLAGS[name].value
  frame = frame_flag_values()
  videos_per_class = value("videos-per-class")
  val = value("val-videos-per-class")
  if val is None:
    val = max(1, videos_per_class // 4)
  lists = generate(value("out"), videos_per_class=videos_per_class,
                   val_videos_per_class=val, fps=value("fps"),
                   class_names=TASKS[value("task")], **frame)
  num_classes = len(TASKS[value("task")])
  total = (videos_per_class + val) * num_classes
  print(f"Wrote {total} videos ({num_classes} classes) to "
        f"{value('out')}; lists: {', '.join(lists.values())}")
  return 0


if __name__ == "__main__":
  _define_flags()
  app.run(main)
