r"""Exported-model throughput: ONNX in onnxruntime, the SavedModel in
TensorFlow, and JAX, on one machine.

  python bench/export_throughput.py [--preset slowfast_8x8_r50] [--size full]
      [--batches 1,8] [--runtimes onnx,savedmodel,jax] [--rounds 5]
      [--repeats 2] [--settle 1] [--checkpoint DIR]
      [--output bench/results/export_throughput.json]

The serving function (uint8 frames → probabilities, top-k;
`slowfast_jax.export.serving`) of the preset at `--size` ("full": 224²,
width 64, 400 classes; "tiny" for a smoke run) with `--checkpoint`'s
variables (default: random ones) is exported at each fixed batch size as ONNX
and as a SavedModel; "jax" is the same function jitted in JAX with the
config's own convolution path (`conv_impl="auto"`, as eval / predict run it),
"stablehlo" (optional) the exported StableHLO called from JAX. Each runtime
runs in its own process, all on the same clips; their outputs are compared
with JAX's (max |Δ probability|) before timing. Runtimes take turns,
`--rounds` times: in each round a runtime settles with `--settle` untimed
calls, then times `--repeats` calls; clips/s are medians over rounds, and the
first call after a switch is reported too (see bench/model_throughput.py).
"""

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

# pylint: disable=g-import-not-at-top
import numpy as np

RUNTIMES = ("onnx", "savedmodel", "jax", "stablehlo")
EXPORTED = {"onnx": "model.onnx", "savedmodel": "savedmodel",
            "stablehlo": "model.stablehlo"}
_REPLY = "@@bench "  # Prefix of the workers' protocol lines on stdout.


def artifact(workdir, runtime, batch) -> pathlib.Path:
  """Where the model that `runtime` runs at `batch` is written."""
  if runtime == "jax":
    return pathlib.Path(workdir) / "checkpoint"
  return pathlib.Path(workdir) / f"batch{batch}" / EXPORTED[runtime]


def prepare(args) -> None:
  """Writes the checkpoint and every export the runs need (child process)."""
  import jax
  from slowfast_jax import checkpoint
  from slowfast_jax.export import formats
  import export_models  # bench/export_models.py
  config = export_models.export_config(args.preset, args.size)
  if args.checkpoint:
    variables, _ = checkpoint.restore_variables(args.checkpoint)
  else:
    variables = export_models.random_model_variables(config)
  variables = jax.tree.map(np.asarray, variables)
  checkpoint.save_variables(artifact(args.workdir, "jax", 0), variables)
  for batch in args.batches:
    for runtime in args.runtimes:
      if runtime != "jax":
        start = time.perf_counter()
        formats.save(runtime, config, variables,
                     artifact(args.workdir, runtime, batch), batch=batch)
        print(f"exported {runtime} batch {batch} in "
              f"{time.perf_counter() - start:.1f} s", flush=True)


def load_runner(args):
  """`run(frames)` of `args.runtime` at `args.batch`, and the clips."""
  import export_models  # bench/export_models.py
  config = export_models.export_config(args.preset, args.size)
  frames = export_models.clip_frames(config, args.batch)
  path = artifact(args.workdir, args.runtime, args.batch)
  if args.runtime != "jax":
    from slowfast_jax.export import formats
    return formats.load(args.runtime, path), frames
  import jax
  from slowfast_jax import checkpoint
  from slowfast_jax import models
  from slowfast_jax.ops import xla_cpu
  from slowfast_jax.export import serving
  variables, _ = checkpoint.restore_variables(path)
  serve = jax.jit(serving.make_serving_fn(
      config, model=models.build_model(config.model)),
                  compiler_options=xla_cpu.model_compiler_options())
  return (lambda x: jax.tree.map(np.asarray, serve(variables, x))), frames


def worker(args) -> None:
  """One runtime: loads, answers timing requests on stdin until EOF."""
  start = time.perf_counter()
  run, frames = load_runner(args)
  loaded = time.perf_counter()
  probabilities, _ = run(frames)
  reply({"load_s": loaded - start,
         "first_call_s": time.perf_counter() - loaded,
         "probabilities": np.asarray(probabilities).tolist()})
  for line in sys.stdin:
    request = json.loads(line)
    seconds = []
    for _ in range(request["settle"] + request["repeats"]):
      start = time.perf_counter()
      run(frames)
      seconds.append(time.perf_counter() - start)
    reply({"seconds": seconds})


def reply(message) -> None:
  print(_REPLY + json.dumps(message), flush=True)


class Worker:
  """A runtime's process, spoken to over its stdin / stdout."""

  def __init__(self, args, runtime, batch):
    command = [sys.executable, __file__, "--worker", runtime,
               "--batch", str(batch), "--preset", args.preset,
               "--size", args.size, "--workdir", str(args.workdir)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    self.process = subprocess.Popen(command, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True, env=env)
    self.ready = self.read()

  def read(self):
    for line in self.process.stdout:
      if line.startswith(_REPLY):
        return json.loads(line[len(_REPLY):])
    raise RuntimeError(f"Worker exited with status {self.process.wait()}.")

  def time(self, settle, repeats) -> list[float]:
    self.process.stdin.write(json.dumps(
        {"settle": settle, "repeats": repeats}) + "\n")
    self.process.stdin.flush()
    return self.read()["seconds"]

  def close(self):
    self.process.stdin.close()
    self.process.wait()


def take_turns(workers, rounds, repeats, settle, clips):
  """Clips/s per runtime: medians over `rounds` in which each runtime in
  turn makes `settle` untimed and `repeats` timed calls; `first` is the rate
  of the first call after a switch."""
  per_call = {name: [] for name in workers}
  first = {name: [] for name in workers}
  for _ in range(rounds):
    for name, w in workers.items():
      seconds = w.time(settle, repeats)
      first[name].append(seconds[0])
      per_call[name].append(statistics.mean(seconds[settle:]))
  return {name: {"clips_per_s": clips / statistics.median(per_call[name]),
                 "first_call_clips_per_s": clips / statistics.median(
                     first[name])}
          for name in workers}


def bench_batch(args, batch) -> dict:
  workers = {name: Worker(args, name, batch) for name in args.runtimes}
  try:
    reference = np.asarray(workers[args.runtimes[0]].ready["probabilities"])
    if "jax" in workers:
      reference = np.asarray(workers["jax"].ready["probabilities"])
    rates = take_turns(workers, args.rounds, args.repeats, args.settle, batch)
  finally:
    for w in workers.values():
      w.close()
  rows = []
  for name, w in workers.items():
    rows.append({
        "runtime": name, "batch": batch, **rates[name],
        "load_s": round(w.ready["load_s"], 2),
        "first_call_s": round(w.ready["first_call_s"], 2),
        "max_abs_diff_vs_jax": float(np.abs(
            np.asarray(w.ready["probabilities"]) - reference).max())})
    print(f"batch {batch} {name}: {rates[name]['clips_per_s']:.3f} clips/s "
          f"(max |Δp| vs JAX {rows[-1]['max_abs_diff_vs_jax']:.2e})",
          flush=True)
  return rows


def versions() -> dict:
  """Installed versions of the runtimes (without importing them here)."""
  from importlib import metadata
  found = {}
  for package in ("jax", "tensorflow-cpu", "tensorflow", "onnxruntime",
                  "jax2onnx", "onnx"):
    try:
      found[package] = metadata.version(package)
    except metadata.PackageNotFoundError:
      found[package] = None
  return found


def int_list(text):
  return [int(x) for x in text.split(",") if x]


def parse_args():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--preset", default="slowfast_8x8_r50")
  parser.add_argument("--size", default="full", choices=("full", "tiny"))
  parser.add_argument("--batches", type=int_list, default=[1, 8])
  parser.add_argument("--runtimes", default="onnx,savedmodel,jax",
                      help=f"comma-separated, of {', '.join(RUNTIMES)}")
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--repeats", type=int, default=2)
  parser.add_argument("--settle", type=int, default=1)
  parser.add_argument("--checkpoint", default=None,
                      help="variables to export (default: random)")
  parser.add_argument("--workdir", default=None,
                      help="where exports go (default: a temporary directory)")
  parser.add_argument("--output", default=str(
      ROOT / "bench" / "results" / "export_throughput.json"))
  parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
  parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
  parser.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
  args = parser.parse_args()
  args.runtimes = [r for r in args.runtimes.split(",") if r]
  unknown = set(args.runtimes) - set(RUNTIMES)
  if unknown:
    parser.error(f"--runtimes: unknown {sorted(unknown)}; expected {RUNTIMES}")
  return args


def child_command(args) -> list[str]:
  return [sys.executable, __file__, "--prepare", "--preset", args.preset,
          "--size", args.size, "--batches", ",".join(map(str, args.batches)),
          "--runtimes", ",".join(args.runtimes), "--workdir",
          str(args.workdir)] + (
              ["--checkpoint", args.checkpoint] if args.checkpoint else [])


def main():
  os.environ.setdefault("JAX_PLATFORMS", "cpu")
  args = parse_args()
  if args.worker:
    args.runtime = args.worker
    return worker(args)
  if args.prepare:
    return prepare(args)
  with tempfile.TemporaryDirectory() as tmp:
    args.workdir = args.workdir or tmp
    subprocess.run(child_command(args), check=True,
                   env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    load_start = os.getloadavg()
    rows = [row for batch in args.batches for row in bench_batch(args, batch)]
  results = {"machine": {"cpus": os.cpu_count(),
                         "processor": platform.processor(),
                         "platform": platform.platform(), **versions(),
                         "load_average_start": load_start,
                         "load_average_end": os.getloadavg()},
             "args": {k: v for k, v in vars(args).items()
                      if k not in ("worker", "prepare", "batch", "workdir")},
             "rows": rows}
  print_table(rows)
  pathlib.Path(args.output).parent.mkdir(parents=True, exist_ok=True)
  pathlib.Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
  print(f"Wrote {args.output}")


def print_table(rows) -> None:
  print("\nruntime | batch | clips/s | first call after a switch, clips/s "
        "| load s | first call s | max |Δp| vs JAX")
  for r in rows:
    print(f"{r['runtime']} | {r['batch']} | {r['clips_per_s']:.3f} | "
          f"{r['first_call_clips_per_s']:.3f} | {r['load_s']} | "
          f"{r['first_call_s']} | {r['max_abs_diff_vs_jax']:.1e}")


if __name__ == "__main__":
  main()
