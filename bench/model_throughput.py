r"""Model throughput: this project vs the PyTorch reference, on one machine.

  python bench/model_throughput.py
      [--presets slowfast_8x8_r50,slowfast_4x16_r50,slow_8x8_r50]
      [--batches 1,8] [--train-batches 4,8] [--rounds 5] [--repeats 2]
      [--train-repeats 1] [--settle 1]
      [--conv-impl auto] [--processes] [--jit project|plain]
      [--output bench/results/model_throughput.json]

For each preset at 224²: inference clips/s (eval mode) and training-step
clips/s (forward, backward, SGD momentum update) of the JAX model and of the
PyTorch reference (PyTorchVideo's SlowFast/Slow R50 with random weights; the
same weights go into JAX through `slowfast_jax.convert`, and the logits are
compared before timing). JAX and PyTorch run alternately, `--rounds` times;
in each round a side settles with `--settle` untimed calls before it is timed,
and medians are reported; the first call after each switch is reported too.
Also: XLA compile time of both jitted functions, peak host memory (max RSS of
the process), and each side's share of the machine's fp32 matrix-product peak
(a 4096² product), counting the model's multiply-adds at 224²
(`slowfast_jax.summary`).

With `--processes`, each framework runs in its own long-lived worker process
(this script with `--worker jax` or `--worker torch`, driven over its stdin
and stdout); the rounds still alternate. `--jit plain` jits the JAX model the
way a user writes it, a bare `jax.jit` of `model.apply` and of a
`value_and_grad` train step, in a process that only imported the package;
`--jit project` (the default) adds the project's compiler options
(`slowfast_jax.ops.xla_cpu.model_compiler_options`), as train_lib does.
`--width`/`--crop` shrink the JAX model (with `--skip-torch`: the PyTorch
reference exists at width 64 and 224² only).
"""

import argparse
import functools
import json
import os
import pathlib
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

# pylint: disable=g-import-not-at-top
import numpy as np


def torch_reference(name):
  """PyTorchVideo's model for a preset, random weights (seeded by the caller).

  8×8 and Slow are the hub's builders; 4×16 is `create_slowfast` with the
  release's 4×16 fusion (5×1×1, stride α = 8) and head pool.
  """
  import torch_stubs  # bench/torch_stubs.py
  hub = torch_stubs.import_pytorchvideo_hub()
  if name == "slowfast_8x8_r50":
    return hub.slowfast_r50(pretrained=False)
  if name == "slow_8x8_r50":
    return hub.slow_r50(pretrained=False)
  if name == "slowfast_4x16_r50":
    from pytorchvideo.models import slowfast
    return slowfast.create_slowfast(
        model_depth=50, slowfast_fusion_conv_kernel_size=(5, 1, 1),
        slowfast_fusion_conv_stride=(8, 1, 1),
        head_pool_kernel_sizes=((4, 7, 7), (32, 7, 7)))
  raise ValueError(f"No PyTorch reference for preset {name!r}; expected "
                   "slowfast_8x8_r50, slowfast_4x16_r50 or slow_8x8_r50.")


def load_preset(name):
  from common import load_preset as load  # bench/common.py
  return load(name)


def page_reporting() -> str | None:
  """The kernel's free-page-reporting settings, if any (a VM returning idle
  guest memory to its host; that memory then faults in slowly again)."""
  try:
    words = pathlib.Path("/proc/cmdline").read_text().split()
  except OSError:
    return None
  return " ".join(w for w in words if w.startswith("page_reporting")) or None


def max_rss_gib() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def matmul_peak(torch) -> float:
  """Multiply-adds per second of a 4096² fp32 product (best of 3, torch)."""
  a = torch.randn(4096, 4096)
  b = torch.randn(4096, 4096)
  a @ b
  best = float("inf")
  for _ in range(3):
    start = time.perf_counter()
    a @ b
    best = min(best, time.perf_counter() - start)
  return 4096**3 / best


def timed(fn, repeats):
  start = time.perf_counter()
  for _ in range(repeats):
    fn()
  return (time.perf_counter() - start) / repeats


def alternate(jax_fn, torch_fn, rounds, repeats, clips, settle):
  """Clips/s of each side over `rounds` alternating rounds (medians).

  In each round a side first makes `settle` untimed calls, then `repeats`
  timed ones. The first call after a switch pays for the other framework's
  memory use: on this VM the guest returns idle freed pages to the host, so
  they fault in slowly again (see README). That call's rate is returned as
  well, as `first`.

  Returns:
    `{"jax": rate, "torch": rate or None, "jax_first": ..., "torch_first": ...}`;
    `torch_fn=None` times JAX alone.
  """
  sides = {"jax": jax_fn, "torch": torch_fn} if torch_fn else {"jax": jax_fn}
  times = {name: [] for name in sides}
  first_times = {name: [] for name in sides}
  for fn in sides.values():
    fn()  # Compile and warm up.
  for _ in range(rounds):
    for name, fn in sides.items():
      settling = [timed(fn, 1) / clips for _ in range(settle)]
      seconds = timed(fn, repeats) / clips
      times[name].append(seconds)
      first_times[name].append(settling[0] if settling else seconds)
  rates = {"torch": None, "torch_first": None}
  for name in sides:
    rates[name] = 1 / statistics.median(times[name])
    rates[f"{name}_first"] = 1 / statistics.median(first_times[name])
  return rates


# Dense bf16 peak FLOP/s per chip, from the vendors' data sheets.
ACCELERATOR_PEAK_FLOPS = {
    "TPU v4": 275e12, "TPU v5 lite": 197e12, "TPU v5e": 197e12,
    "TPU v5p": 459e12, "TPU v6 lite": 918e12, "TPU v6e": 918e12,
    "NVIDIA A100-SXM4-40GB": 312e12, "NVIDIA A100-SXM4-80GB": 312e12,
    "NVIDIA H100 80GB HBM3": 989e12,
}


def peak_flops(machine, args):
  """The device's peak FLOP/s for MFU, or None when unknown."""
  if args.peak_tflops:
    return args.peak_tflops * 1e12
  if machine["backend"] == "cpu":
    # Measured fp32 matmul (PyTorch); 2 FLOPs per multiply-add.
    macs = machine.get("fp32_matmul_peak_macs")
    return 2 * macs if macs else None
  return ACCELERATOR_PEAK_FLOPS.get(machine["device_kind"])


def step_flops(compiled):
  """FLOPs of one call of a compiled function, from XLA's cost analysis."""
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0]
  return float(cost["flops"]) if cost and "flops" in cost else None


def ratio(jax_rate, torch_rate):
  """JAX / PyTorch rounded to 2 places; None without a PyTorch rate."""
  return round(jax_rate / torch_rate, 2) if torch_rate else None


def first_after_switch(rates):
  """The JSON fields of the first calls after a switch, and their ratio."""
  return {"jax_first_call_clips_per_s": rates["jax_first"],
          "torch_first_call_clips_per_s": rates["torch_first"],
          "first_call_ratio_jax_over_torch": ratio(rates["jax_first"],
                                                   rates["torch_first"])}


def random_inputs(shapes, seed):
  """Normal float32 clips `(batch, time, height, width, 3)`, one per shape."""
  rng = np.random.RandomState(seed)
  return [rng.randn(*s).astype(np.float32) for s in shapes]


class JaxSide:
  """The JAX model: setup, a logits check, then one jitted job at a time.

  Imports the package before JAX's backend starts, as a user's script would.
  """

  def __init__(self, args):
    from slowfast_jax import models  # Before the backend: ops sets XLA_FLAGS.
    import jax
    self.args, self.models, self.jax = args, models, jax
    self.model = self.config = self.variables = self.job = None

  def machine(self):
    jax = self.jax
    return {"jax": jax.__version__, "backend": jax.default_backend(),
            "device_kind": jax.devices()[0].device_kind,
            "xla_flags": os.environ.get("XLA_FLAGS", "")}

  def setup(self, preset, weights):
    """Builds the preset (its weights from `weights`, an .npz state dict, or
    random) and returns its multiply-adds per clip at the crop."""
    from slowfast_jax import summary
    from slowfast_jax.convert import formats
    from slowfast_jax.convert import load as convert_load
    config = load_preset(preset)
    config.model.conv_impl = self.args.conv_impl
    config.model.dtype = self.args.dtype
    config.model.width_per_group = self.args.width
    config.model.train_crop_size = self.args.crop
    config.data.test_crop_size = self.args.crop
    self.config, self.model = config, self.models.build_model(config.model)
    if weights:
      with np.load(weights) as arrays:
        source = formats.SourceTensors(
            path=weights, file_format=formats.TORCH_ZIP, is_caffe2=False,
            tensors=dict(arrays), container_key="", extras={})
      variables, _ = convert_load.convert_tensors(source, config.model)
      # On the device once, as PyTorch's weights sit in its module: numpy
      # arguments would be copied in on every call.
      self.variables = self.jax.device_put(variables)
    else:
      shapes = self.input_shapes(1)
      self.variables = self.jax.jit(self.model.init)(
          self.jax.random.PRNGKey(0),
          [self.jax.numpy.zeros(s) for s in shapes])
    return summary.model_summary(config)["gflops"] * 1e9

  def input_shapes(self, batch):
    return self.models.input_shapes(self.config.model, self.args.crop, batch)

  def jit(self, fn):
    """A plain `jax.jit` (`--jit plain`), or the project's (with options)."""
    if self.args.jit == "plain":
      return self.jax.jit(fn)
    from slowfast_jax.ops import xla_cpu
    return self.jax.jit(fn, compiler_options=xla_cpu.model_compiler_options())

  def logits(self, shapes, seed):
    x = [self.jax.numpy.asarray(a) for a in random_inputs(shapes, seed)]
    return np.asarray(self.jax.jit(self.model.apply)(self.variables,
                                                     x)).tolist()

  def prepare(self, job, shapes, seed):
    """Compiles inference (eval mode) or an SGD train step for these inputs.

    Returns:
      `{"compile_s", "flops"}` (XLA's FLOPs of one call, or None).
    """
    jax, jnp = self.jax, self.jax.numpy
    x = [jnp.asarray(a) for a in random_inputs(shapes, seed)]
    if job == "infer":
      fn, state = self.jit(self.model.apply), [self.variables]
    else:
      fn, state = self.train_step(shapes[0][0])
    start = time.perf_counter()
    compiled = fn.lower(*state, x).compile()
    compile_s = time.perf_counter() - start

    def call():
      out = compiled(*state, x)
      if job == "train":
        state[:] = out[:3]
      jax.block_until_ready(out)

    self.job = call
    return {"compile_s": round(compile_s, 1), "flops": step_flops(compiled)}

  def train_step(self, batch):
    """A user's train step: `value_and_grad` over `model.apply`, optax SGD."""
    import optax
    jax, jnp, model = self.jax, self.jax.numpy, self.model
    tx = optax.sgd(0.01, momentum=0.9)
    labels = jnp.zeros((batch,), jnp.int32)

    def loss_fn(params, batch_stats, x):
      logits, state = model.apply(
          {"params": params, "batch_stats": batch_stats}, x, train=True,
          rngs={"dropout": jax.random.PRNGKey(0)}, mutable=["batch_stats"])
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
      return loss.mean(), state["batch_stats"]

    def step(params, batch_stats, opt_state, x):
      (loss, batch_stats), grads = jax.value_and_grad(
          loss_fn, has_aux=True)(params, batch_stats, x)
      updates, opt_state = tx.update(grads, opt_state, params)
      return optax.apply_updates(params, updates), batch_stats, opt_state, loss

    params = jax.tree.map(jnp.asarray, self.variables["params"])
    batch_stats = jax.tree.map(jnp.asarray, self.variables["batch_stats"])
    return self.jit(step), [params, batch_stats, tx.init(params)]

  def call(self):
    self.job()

  def peak_rss_gib(self):
    return max_rss_gib()


class TorchSide:
  """The PyTorch reference, with the same methods as `JaxSide`."""

  def __init__(self, args):
    import torch
    torch.set_num_threads(os.cpu_count() or 1)
    self.torch, self.model, self.job = torch, None, None

  def machine(self):
    return {"torch": self.torch.__version__,
            "fp32_matmul_peak_macs": matmul_peak(self.torch)}

  def setup(self, preset, weights):
    """Builds the reference with seed 0 and saves its weights to `weights`."""
    self.torch.manual_seed(0)
    self.model = torch_reference(preset)
    if weights:
      np.savez(weights, **{k: v.numpy() for k, v in
                           self.model.state_dict().items()})

  def batch(self, shapes, seed):
    """The clips as channels-first tensors, a new list per call (pytorchvideo
    writes its outputs into the input list)."""
    tensors = [self.torch.from_numpy(a.transpose(0, 4, 1, 2, 3).copy())
               for a in random_inputs(shapes, seed)]
    return (lambda: list(tensors)) if len(tensors) > 1 else (
        lambda: tensors[0])

  def logits(self, shapes, seed):
    self.model.eval()
    with self.torch.no_grad():
      return self.model(self.batch(shapes, seed)()).numpy().tolist()

  def prepare(self, job, shapes, seed):
    torch, model, clips = self.torch, self.model, self.batch(shapes, seed)
    if job == "infer":
      model.eval()

      def call():
        with torch.no_grad():
          model(clips())
    else:
      model.train()
      optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
      labels = torch.zeros(shapes[0][0], dtype=torch.long)

      def call():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(clips()), labels).backward()
        optimizer.step()
    self.job = call
    return {}

  def call(self):
    self.job()

  def peak_rss_gib(self):
    return max_rss_gib()


SIDES = {"jax": JaxSide, "torch": TorchSide}


def serve(side, requests=sys.stdin, replies=None):
  """A worker's loop: each request line `[method, kwargs]` → `{"result": …}`.

  Replies go to the process's original stdout, and anything else written
  to stdout (by Python or native code) to stderr.
  """
  if replies is None:
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
  for line in requests:
    method, kwargs = json.loads(line)
    try:
      reply = {"result": getattr(side, method)(**kwargs)}
    except Exception:  # pylint: disable=broad-except  (sent to the parent)
      reply = {"error": traceback.format_exc()}
    replies.write(json.dumps(reply) + "\n")
    replies.flush()


class Worker:
  """A side in its own process; its methods are called over a pipe.

  `command` starts a process running `serve`, e.g. this script with
  `--worker jax`.
  """

  def __init__(self, name, command, env=None):
    self.name = name
    self.process = subprocess.Popen(command, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True,
                                    env=env)

  def __getattr__(self, method):
    if method.startswith("_"):
      raise AttributeError(method)
    return functools.partial(self.request, method)

  def request(self, method, **kwargs):
    self.process.stdin.write(json.dumps([method, kwargs]) + "\n")
    self.process.stdin.flush()
    line = self.process.stdout.readline()
    if not line:
      raise RuntimeError(f"The {self.name} worker exited (code "
                         f"{self.process.wait()}); see its stderr above.")
    reply = json.loads(line)
    if "error" in reply:
      raise RuntimeError(f"The {self.name} worker failed:\n{reply['error']}")
    return reply["result"]

  def close(self):
    self.process.stdin.close()
    self.process.wait()


def worker_command(kind, argv):
  return [sys.executable, str(pathlib.Path(__file__).resolve()), *argv,
          "--worker", kind]

def bench_job(job, batch, jax_side, torch_side, args, peak):
  """Compiles and times one job ("infer" or "train") at one batch size."""
  seed, repeats = ((0, args.repeats) if job == "infer" else
                   (1, args.train_repeats))
  shapes = jax_side.input_shapes(batch=batch)
  info = jax_side.prepare(job=job, shapes=shapes, seed=seed)
  if torch_side:
    torch_side.prepare(job=job, shapes=shapes, seed=seed)
  rates = alternate(jax_side.call, torch_side.call if torch_side else None,
                    args.rounds, repeats, batch, args.settle)
  entry = {"batch": batch, "jax_clips_per_s": rates["jax"],
           "torch_clips_per_s": rates["torch"], **first_after_switch(rates),
           "jax_compile_s": info["compile_s"]}
  if job == "train":
    step_s, flops = batch / rates["jax"], info["flops"]
    entry.update(jax_step_s=step_s, xla_flops_per_step=flops,
                 mfu_pct=(round(100 * flops / step_s / peak, 1)
                          if flops and peak else None))
  print(f"{job} batch {batch}: JAX {rates['jax']:.3f} clips/s, PyTorch "
        f"{rates['torch']} clips/s (compile {info['compile_s']} s)",
        flush=True)
  return entry


def bench_preset(name, args, jax_side, torch_side, peak):
  """Both sides' rates for one preset. `torch_side` (None at widths other
  than the reference's) gives the weights, and is timed unless
  `--skip-torch`."""
  with tempfile.TemporaryDirectory() as tmp:
    weights = os.path.join(tmp, "weights.npz") if torch_side else None
    if torch_side:
      torch_side.setup(preset=name, weights=weights)
    macs = jax_side.setup(preset=name, weights=weights)
  row = {"preset": name, "crop": args.crop,
         "gmacs_per_clip": round(macs / 1e9, 2), "infer": [], "train": []}
  if torch_side:  # Same weights, same answer (eval mode, training crop).
    check = jax_side.input_shapes(batch=1)
    row["logits_max_abs_diff"] = float(np.abs(
        np.array(jax_side.logits(shapes=check, seed=0)) -
        np.array(torch_side.logits(shapes=check, seed=0))).max())
  timed_torch = None if args.skip_torch else torch_side
  for job, batches in (("infer", args.batches), ("train", args.train_batches)):
    for batch in batches:
      print(f"{name} ", end="")
      row[job].append(bench_job(job, batch, jax_side, timed_torch, args,
                                peak))
  row["jax_peak_rss_gib"] = round(jax_side.peak_rss_gib(), 2)
  if torch_side:
    row["torch_peak_rss_gib"] = round(torch_side.peak_rss_gib(), 2)
  return row


def start_sides(args):
  """(JAX side, PyTorch side or None): objects here, or worker processes."""
  with_torch = args.width == 64 and args.crop == 224
  if args.processes:
    argv = [a for a in sys.argv[1:] if a != "--processes"]
    return (Worker("jax", worker_command("jax", argv)),
            Worker("torch", worker_command("torch", argv))
            if with_torch else None)
  # JAX first: the package is imported before JAX's backend starts.
  jax_side = JaxSide(args)
  return jax_side, TorchSide(args) if with_torch else None


def int_list(text):
  return [int(x) for x in text.split(",") if x and int(x) > 0]


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--presets", default="slowfast_8x8_r50",
                      help="comma-separated: slowfast_8x8_r50, "
                      "slowfast_4x16_r50, slow_8x8_r50")
  parser.add_argument("--batches", type=int_list, default=[1],
                      help="inference batch sizes, e.g. 1,8")
  parser.add_argument("--train-batches", type=int_list, default=[4],
                      help="training-step batch sizes, e.g. 4,8; 0 skips")
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--repeats", type=int, default=2,
                      help="inference calls per round and side")
  parser.add_argument("--train-repeats", type=int, default=1,
                      help="training steps per round and side")
  parser.add_argument("--settle", type=int, default=1,
                      help="untimed calls per round and side before the "
                      "timed ones (0: time the first call after a switch)")
  parser.add_argument("--conv-impl", default="auto")
  parser.add_argument("--dtype", default="float32",
                      help="JAX compute dtype (bfloat16 on accelerators)")
  parser.add_argument("--processes", action="store_true",
                      help="each framework in its own worker process")
  parser.add_argument("--jit", choices=("project", "plain"),
                      default="project",
                      help="plain: a bare jax.jit, as a user writes it")
  parser.add_argument("--width", type=int, default=64,
                      help="JAX model's width_per_group (64: the presets')")
  parser.add_argument("--crop", type=int, default=224)
  parser.add_argument("--skip-torch", action="store_true",
                      help="time JAX alone (default on TPU/GPU, where the "
                      "CPU-only PyTorch reference is no comparison)")
  parser.add_argument("--peak-tflops", type=float, default=0,
                      help="device peak for MFU (default: measured fp32 "
                      "matmul peak on CPU, data-sheet bf16 peak on known "
                      "accelerators)")
  parser.add_argument("--worker", choices=tuple(SIDES),
                      help=argparse.SUPPRESS)  # Set by --processes.
  parser.add_argument("--output",
                      default=str(ROOT / "bench" / "results" /
                                  "model_throughput.json"))
  args = parser.parse_args(argv)
  if (args.width, args.crop) != (64, 224) and not args.skip_torch:
    parser.error(f"--width {args.width} --crop {args.crop}: the PyTorch "
                 "reference is width 64 at 224² only; add --skip-torch.")
  return args


def add_ratios(row, machine, args):
  """Each entry's JAX / PyTorch ratio and, for inference on CPU, each side's
  share of the matmul peak."""
  peak = machine.get("fp32_matmul_peak_macs")
  for kind in ("infer", "train"):
    for entry in row[kind]:
      entry["ratio_jax_over_torch"] = ratio(entry["jax_clips_per_s"],
                                            entry["torch_clips_per_s"])
      if kind == "infer" and machine["backend"] == "cpu" and peak:
        for side in ("jax", "torch")[:1 if args.skip_torch else 2]:
          entry[f"{side}_pct_of_peak"] = round(
              100 * entry[f"{side}_clips_per_s"] * row["gmacs_per_clip"] *
              1e9 / peak, 1)


def print_table(results):
  print("\npreset | job | batch | JAX clips/s | PyTorch clips/s | "
        "JAX / PyTorch | JAX % of matmul peak | PyTorch % of matmul peak | "
        "train MFU % | JAX compile s | first call after a switch: JAX / "
        "PyTorch")
  for row in results["presets"]:
    for kind in ("infer", "train"):
      for e in row[kind]:
        torch_rate = e["torch_clips_per_s"]
        print(f"{row['preset']} | "
              f"{'inference' if kind == 'infer' else 'train step'} | "
              f"{e['batch']} | {e['jax_clips_per_s']:.3f} | "
              f"{'-' if torch_rate is None else f'{torch_rate:.3f}'} | "
              f"{e['ratio_jax_over_torch'] or '-'} | "
              f"{e.get('jax_pct_of_peak', '')} | "
              f"{e.get('torch_pct_of_peak', '')} | "
              f"{e.get('mfu_pct') or ''} | {e['jax_compile_s']} | "
              f"{e['first_call_ratio_jax_over_torch'] or '-'}")
  machine = results["machine"]
  peak = machine.get("fp32_matmul_peak_macs")
  print(f"fp32 matmul peak: {peak / 1e9 if peak else '-'} G "
        f"multiply-adds/s; load average {machine['load_average_start']} → "
        f"{machine['load_average_end']}")


def main(argv=None):
  args = parse_args(argv)
  os.environ.setdefault("JAX_PLATFORMS", "cpu")
  if args.worker:
    serve(SIDES[args.worker](args))
    return
  jax_side, torch_side = start_sides(args)
  machine = {"cpus": os.cpu_count(), "processor": platform.processor(),
             "platform": platform.platform(), **jax_side.machine(),
             **(torch_side.machine() if torch_side else {}),
             "load_average_start": os.getloadavg(),
             "kernel_page_reporting": page_reporting()}
  if machine["backend"] != "cpu":
    args.skip_torch = True
  device_peak = peak_flops(machine, args)
  machine["mfu_peak_tflops"] = device_peak / 1e12 if device_peak else None
  results = {"machine": machine, "args": vars(args), "presets": []}
  for name in args.presets.split(","):
    row = bench_preset(name, args, jax_side, torch_side, device_peak)
    add_ratios(row, machine, args)
    results["presets"].append(row)
    print(json.dumps(row, indent=1), flush=True)
  machine["load_average_end"] = os.getloadavg()
  for side in (jax_side, torch_side):
    if isinstance(side, Worker):
      side.close()
  print_table(results)
  output = pathlib.Path(args.output)
  output.parent.mkdir(parents=True, exist_ok=True)
  output.write_text(json.dumps(results, indent=2) + "\n")
  print(f"Wrote {output}")


if __name__ == "__main__":
  main()
