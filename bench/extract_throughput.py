r"""Feature-extraction throughput: windows/s of `extract` on real-size video.

  python bench/extract_throughput.py [--preset slowfast_8x8_r50] [--size full]
      [--videos 2] [--seconds 60] [--height 360] [--width 640]
      [--window-frames 32] [--stride-frames 16] [--batch 8] [--rounds 2]
      [--output bench/results/extract_throughput.json]

Generates `--videos` H.264 videos of `--seconds` at 30 fps and
`--height`×`--width` (a panning textured scene with moving objects and
sensor noise, as bench/input_pipeline.py), then times three things on them,
taking turns for `--rounds` rounds (medians reported):

* extract: `slowfast_jax.evaluation.features.extract`, what
  `python -m slowfast_jax.extract` runs (decode in a thread, the model on the
  previous batches, `.npy` + `.json` written per video);
* decode only: the same windows decoded and cut, no model;
* model only: the jitted feature function on one batch of windows, repeated.

If decoding and the model overlap, extract's rate is close to the slower of
the other two; run one after the other it would be their harmonic sum. The
preset runs at `--size` ("full": width 64, 400 classes; "tiny" for a smoke
run) with random variables and the extract defaults' centre crop.
"""

import argparse
import json
import os
import pathlib
import platform
import shutil
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

# pylint: disable=g-import-not-at-top
import numpy as np


def make_videos(workdir, count, seconds, height, width) -> list[str]:
  """`count` H.264 videos of bench/input_pipeline.py (kept between runs)."""
  import input_pipeline  # bench/input_pipeline.py
  folder = os.path.join(workdir, f"videos_{height}x{width}_{seconds:g}s")
  with open(input_pipeline.make_sources(folder, count, seconds, height,
                                        width)) as f:
    return [os.path.join(folder, line.split()[0]) for line in f]


def time_extract(paths, spec, apply, batch, out_dir) -> tuple[float, int]:
  from slowfast_jax.evaluation import features
  shutil.rmtree(out_dir, ignore_errors=True)
  summary = features.extract(paths, out_dir, spec, apply, batch_size=batch,
                             progress=False)
  assert not summary.failed, summary.failed
  return summary.seconds, summary.windows


def decoded_windows(path, spec):
  """The windows `extract` cuts from `path`."""
  from slowfast_jax.data import decode
  from slowfast_jax.evaluation import windows
  return windows.iter_windows(
      decode.iter_decoded(path, fps=spec.fps, short_side=spec.short_side),
      spec)


def time_decode(paths, spec) -> tuple[float, int]:
  start = time.time()
  count = sum(1 for path in paths for _ in decoded_windows(path, spec))
  return time.time() - start, count


def time_model(apply, clips, calls) -> tuple[float, int]:
  start = time.time()
  for _ in range(calls):
    np.asarray(apply(clips))
  return time.time() - start, calls * len(clips)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--preset", default="slowfast_8x8_r50")
  parser.add_argument("--size", default="full", choices=("full", "tiny"))
  parser.add_argument("--videos", type=int, default=2)
  parser.add_argument("--seconds", type=float, default=60)
  parser.add_argument("--height", type=int, default=360)
  parser.add_argument("--width", type=int, default=640)
  parser.add_argument("--window-frames", type=int, default=32)
  parser.add_argument("--stride-frames", type=float, default=16)
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--rounds", type=int, default=2)
  parser.add_argument("--model-calls", type=int, default=4,
                      help="model-only batches timed per round")
  parser.add_argument("--workdir", default=os.path.join(
      tempfile.gettempdir(), "slowfast_extract_bench"))
  parser.add_argument("--output", default=str(
      ROOT / "bench" / "results" / "extract_throughput.json"))
  args = parser.parse_args()

  import export_models  # bench/export_models.py
  import input_pipeline  # bench/input_pipeline.py: the videos' frame rate
  from slowfast_jax.evaluation import features
  from slowfast_jax.evaluation import windows

  load_start = os.getloadavg()
  paths = make_videos(args.workdir, args.videos, args.seconds, args.height,
                      args.width)
  config = export_models.export_config(args.preset, args.size)
  variables = export_models.random_model_variables(config)
  spec = windows.spec_from_config(config, window_frames=args.window_frames,
                                  stride_frames=args.stride_frames,
                                  fps=input_pipeline.TARGET_FPS)
  apply = features.make_feature_fn(config.model, config.data, variables)
  clips = np.stack([w.clip for _, w in zip(range(args.batch),
                                            decoded_windows(paths[0], spec))])
  start = time.time()
  np.asarray(apply(clips))  # Compiles.
  compile_s = time.time() - start

  jobs = {
      "extract": lambda: time_extract(paths, spec, apply, args.batch,
                                      os.path.join(args.workdir, "out")),
      "decode only": lambda: time_decode(paths, spec),
      "model only": lambda: time_model(apply, clips, args.model_calls),
  }
  rates = {name: [] for name in jobs}
  for r in range(args.rounds):
    for name, job in jobs.items():
      seconds, count = job()
      rates[name].append(count / seconds)
      print(f"round {r}: {name}: {count} windows in {seconds:.1f} s "
            f"({count / seconds:.2f} windows/s)", flush=True)

  medians = {name: statistics.median(v) for name, v in rates.items()}
  serial = 1 / (1 / medians["decode only"] + 1 / medians["model only"])
  result = {
      "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                  "load_average_start": load_start,
                  "load_average_end": os.getloadavg()},
      "args": vars(args), "compile_s": round(compile_s, 1),
      "spec": {"window_frames": spec.window_frames,
               "stride_frames": spec.stride_frames,
               "clip_frames": spec.clip_frames, "short_side": spec.short_side,
               "crop_size": spec.crop_size},
      "windows_per_s": medians, "rounds": rates,
      "decode_then_model_windows_per_s": serial,
  }
  print("\njob | windows/s (median)")
  for name, rate in medians.items():
    print(f"{name} | {rate:.2f}")
  print(f"decode and model one after the other (computed) | {serial:.2f}")
  os.makedirs(os.path.dirname(args.output), exist_ok=True)
  with open(args.output, "w") as f:
    json.dump(result, f, indent=1)
  print(f"Wrote {args.output}")


if __name__ == "__main__":
  main()
