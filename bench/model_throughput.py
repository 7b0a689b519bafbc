r"""Model throughput: this project vs the PyTorch reference, on one machine.

  python bench/model_throughput.py
      [--presets slowfast_8x8_r50,slowfast_4x16_r50,slow_8x8_r50]
      [--batches 1,8] [--train-batches 4,8] [--rounds 5] [--settle 1]
      [--conv-impl auto]
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
"""

import argparse
import json
import os
import pathlib
import platform
import resource
import statistics
import sys
import tempfile
import time

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


def peak_flops(jax, args, cpu_matmul_peak_macs):
  """The device's peak FLOP/s for MFU, or None when unknown."""
  if args.peak_tflops:
    return args.peak_tflops * 1e12
  if jax.default_backend() == "cpu":
    return 2 * cpu_matmul_peak_macs  # Measured fp32 matmul; 2 FLOPs per MAC.
  return ACCELERATOR_PEAK_FLOPS.get(jax.devices()[0].device_kind)


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


def bench_preset(name, args, torch, jax, jnp, optax, peak):
  from slowfast_jax import models
  from slowfast_jax import summary
  from slowfast_jax import xla_cpu
  from slowfast_jax.convert import load as convert_load

  config = load_preset(name)
  config.model.conv_impl = args.conv_impl
  config.model.dtype = args.dtype
  config.data.test_crop_size = 224
  macs = summary.model_summary(config)["gflops"] * 1e9  # per clip at 224²

  torch.manual_seed(0)
  torch_model = torch_reference(name)
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "hub.pyth")
    torch.save(torch_model.state_dict(), path)
    variables, _ = convert_load.convert_checkpoint(path, config.model)
  model = models.build_model(config.model)

  def inputs(batch, seed=0):
    rng = np.random.RandomState(seed)
    return [rng.randn(*s).astype(np.float32)
            for s in models.input_shapes(config.model, 224, batch)]

  def to_torch(arrays):
    # pytorchvideo writes its outputs into the input list: give a new list.
    tensors = [torch.from_numpy(np.asarray(x).transpose(0, 4, 1, 2, 3).copy())
               for x in arrays]
    return (lambda: list(tensors)) if len(tensors) > 1 else (
        lambda: tensors[0])

  # Same weights, same answer (eval mode, training crop: logits).
  check = inputs(1)
  torch_model.eval()
  with torch.no_grad():
    torch_logits = torch_model(to_torch(check)()).numpy()
  jax_logits = np.asarray(jax.jit(lambda v, x: model.apply(v, x))(
      variables, [jnp.asarray(x) for x in check]))
  row = {"preset": name, "gmacs_per_clip_224": round(macs / 1e9, 2),
         "logits_max_abs_diff": float(np.abs(jax_logits - torch_logits).max()),
         "infer": [], "train": []}

  for batch in args.batches:
    batch_inputs = [jnp.asarray(x) for x in inputs(batch)]
    infer = jax.jit(lambda v, x: model.apply(v, x),  # New: really compiles.
                    compiler_options=xla_cpu.model_compiler_options())
    start = time.perf_counter()
    compiled = infer.lower(variables, batch_inputs).compile()
    compile_s = time.perf_counter() - start
    torch_batch = to_torch(inputs(batch))

    def torch_infer(torch_batch=torch_batch):
      with torch.no_grad():
        torch_model(torch_batch())

    rates = alternate(
        lambda: compiled(variables, batch_inputs).block_until_ready(),
        None if args.skip_torch else torch_infer, args.rounds, args.repeats,
        batch, args.settle)
    jax_rate, torch_rate = rates["jax"], rates["torch"]
    row["infer"].append({"batch": batch, "jax_clips_per_s": jax_rate,
                         "torch_clips_per_s": torch_rate,
                         **first_after_switch(rates),
                         "jax_compile_s": round(compile_s, 1)})
    print(f"{name} inference batch {batch}: JAX {jax_rate:.3f} clips/s, "
          f"PyTorch {torch_rate} clips/s", flush=True)

  tx = optax.sgd(0.01, momentum=0.9)
  optimizer = torch.optim.SGD(torch_model.parameters(), lr=0.01, momentum=0.9)
  for batch in args.train_batches:
    labels = jnp.zeros((batch,), jnp.int32)
    train_inputs = [jnp.asarray(x) for x in inputs(batch, 1)]

    def loss_fn(params, batch_stats, x, labels=labels):
      logits, state = model.apply(
          {"params": params, "batch_stats": batch_stats}, x, train=True,
          rngs={"dropout": jax.random.PRNGKey(0)}, mutable=["batch_stats"])
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
      return loss.mean(), state["batch_stats"]

    def train_step(params, batch_stats, opt_state, x, loss_fn=loss_fn):
      (loss, batch_stats), grads = jax.value_and_grad(
          loss_fn, has_aux=True)(params, batch_stats, x)
      updates, opt_state = tx.update(grads, opt_state, params)
      return optax.apply_updates(params, updates), batch_stats, opt_state, loss

    params = jax.tree.map(jnp.asarray, variables["params"])
    batch_stats = jax.tree.map(jnp.asarray, variables["batch_stats"])
    state = [params, batch_stats, tx.init(params)]
    start = time.perf_counter()
    step = jax.jit(train_step,
                   compiler_options=xla_cpu.model_compiler_options()).lower(
                       *state, train_inputs).compile()
    compile_s = time.perf_counter() - start

    def jax_train(step=step, train_inputs=train_inputs):
      out = step(state[0], state[1], state[2], train_inputs)
      state[:] = out[:3]
      out[3].block_until_ready()

    torch_model.train()
    torch_batch = to_torch(train_inputs)
    torch_labels = torch.zeros(batch, dtype=torch.long)

    def torch_train(torch_batch=torch_batch, torch_labels=torch_labels):
      optimizer.zero_grad()
      loss = torch.nn.functional.cross_entropy(torch_model(torch_batch()),
                                               torch_labels)
      loss.backward()
      optimizer.step()

    rates = alternate(
        jax_train, None if args.skip_torch else torch_train, args.rounds, 1,
        batch, args.settle)
    jax_rate, torch_rate = rates["jax"], rates["torch"]
    flops = step_flops(step)
    step_s = batch / jax_rate
    row["train"].append({
        "batch": batch, "jax_clips_per_s": jax_rate,
        "torch_clips_per_s": torch_rate, **first_after_switch(rates),
        "jax_compile_s": round(compile_s, 1),
        "jax_step_s": step_s, "xla_flops_per_step": flops,
        "mfu_pct": (round(100 * flops / step_s / peak, 1)
                    if flops and peak else None)})
    print(f"{name} training step batch {batch}: JAX {jax_rate:.3f} clips/s "
          f"({step_s:.2f} s/step, MFU {row['train'][-1]['mfu_pct']} %), "
          f"PyTorch {torch_rate} clips/s (compile {compile_s:.1f} s)",
          flush=True)
    del state[:], step
  row["peak_rss_gib"] = round(max_rss_gib(), 2)
  return row


def int_list(text):
  return [int(x) for x in text.split(",") if x and int(x) > 0]


def main():
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
  parser.add_argument("--settle", type=int, default=1,
                      help="untimed calls per round and side before the "
                      "timed ones (0: time the first call after a switch)")
  parser.add_argument("--conv-impl", default="auto")
  parser.add_argument("--dtype", default="float32",
                      help="JAX compute dtype (bfloat16 on accelerators)")
  parser.add_argument("--skip-torch", action="store_true",
                      help="time JAX alone (default on TPU/GPU, where the "
                      "CPU-only PyTorch reference is no comparison)")
  parser.add_argument("--peak-tflops", type=float, default=0,
                      help="device peak for MFU (default: measured fp32 "
                      "matmul peak on CPU, data-sheet bf16 peak on known "
                      "accelerators)")
  parser.add_argument("--output",
                      default=str(ROOT / "bench" / "results" /
                                  "model_throughput.json"))
  args = parser.parse_args()
  threads = os.cpu_count() or 1
  os.environ.setdefault("JAX_PLATFORMS", "cpu")
  import torch
  torch.set_num_threads(threads)
  import jax
  import jax.numpy as jnp
  import optax

  peak = matmul_peak(torch)
  if jax.default_backend() != "cpu":
    args.skip_torch = True
  device_peak = peak_flops(jax, args, peak)
  results = {"machine": {"cpus": threads, "processor": platform.processor(),
                         "platform": platform.platform(),
                         "jax": jax.__version__, "torch": torch.__version__,
                         "backend": jax.default_backend(),
                         "xla_flags": os.environ.get("XLA_FLAGS", ""),
                         "device_kind": jax.devices()[0].device_kind,
                         "fp32_matmul_peak_gmacs": round(peak / 1e9, 1),
                         "mfu_peak_tflops": (device_peak / 1e12
                                             if device_peak else None),
                         "load_average_start": os.getloadavg(),
                         "kernel_page_reporting": page_reporting()},
             "args": vars(args), "presets": []}
  table = []
  for name in args.presets.split(","):
    row = bench_preset(name, args, torch, jax, jnp, optax, device_peak)
    for kind in ("infer", "train"):
      for entry in row[kind]:
        entry["ratio_jax_over_torch"] = ratio(entry["jax_clips_per_s"],
                                              entry["torch_clips_per_s"])
        if kind == "infer" and jax.default_backend() == "cpu":
          for side in ("jax", "torch")[:1 if args.skip_torch else 2]:
            entry[f"{side}_pct_of_peak"] = round(
                100 * entry[f"{side}_clips_per_s"] *
                row["gmacs_per_clip_224"] * 1e9 / peak, 1)
        table.append((name, kind, entry))
    results["presets"].append(row)
    print(json.dumps(row, indent=1), flush=True)
  results["machine"]["load_average_end"] = os.getloadavg()
  print("\npreset | job | batch | JAX clips/s | PyTorch clips/s | JAX / PyTorch "
        "| JAX % of matmul peak | PyTorch % of matmul peak | train MFU % "
        "| JAX compile s | first call after a switch: JAX / PyTorch")
  for name, kind, e in table:
    torch_rate = e["torch_clips_per_s"]
    print(f"{name} | {'inference' if kind == 'infer' else 'train step'} | "
          f"{e['batch']} | {e['jax_clips_per_s']:.3f} | "
          f"{'-' if torch_rate is None else f'{torch_rate:.3f}'} | "
          f"{e['ratio_jax_over_torch'] or '-'} | "
          f"{e.get('jax_pct_of_peak', '')} | {e.get('torch_pct_of_peak', '')} | "
          f"{e.get('mfu_pct') or ''} | {e['jax_compile_s']} | "
          f"{e['first_call_ratio_jax_over_torch'] or '-'}")
  print(f"fp32 matmul peak: {peak / 1e9:.1f} G multiply-adds/s; peak RSS "
        f"{max_rss_gib():.2f} GiB; load average "
        f"{results['machine']['load_average_start']} → "
        f"{results['machine']['load_average_end']}")
  output = pathlib.Path(args.output)
  output.parent.mkdir(parents=True, exist_ok=True)
  output.write_text(json.dumps(results, indent=2) + "\n")
  print(f"Wrote {output}")


if __name__ == "__main__":
  main()
