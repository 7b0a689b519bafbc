r"""Model throughput: this project vs the PyTorch reference, on one machine.

  python bench/model_throughput.py [--presets slowfast_8x8_r50,slow_8x8_r50]
      [--batch 1] [--train-batch 4] [--rounds 5] [--conv-impl auto]
      [--output bench/results/model_throughput.json]

For each preset at 224²: inference clips/s (eval mode) and training-step
clips/s (forward, backward, SGD momentum update) of the JAX model and of the
PyTorch reference (pytorchvideo's hub builder with random weights; the same
weights go into JAX through `slowfast_jax.convert`, and the logits are checked
to agree before timing). JAX and PyTorch run alternately, `--rounds` times;
medians are reported. Also: XLA compile time of both jitted functions, peak
host memory (max RSS of the process), and each side's share of the machine's
fp32 matrix-product peak (a 4096² product), counting the model's
multiply-adds at 224² (`slowfast_jax.summary`).
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
sys.path.insert(0, str(ROOT / "tests"))

# pylint: disable=g-import-not-at-top
import numpy as np

HUB_BUILDERS = {"slowfast_8x8_r50": "slowfast_r50", "slow_8x8_r50": "slow_r50"}


def load_preset(name):
  from model_configs import load_preset as load  # tests/model_configs.py
  return load(name)


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


def bench_preset(name, args, torch, jax, jnp, optax):
  from slowfast_jax import models
  from slowfast_jax import summary
  from slowfast_jax.convert import load as convert_load
  import torch_stubs

  config = load_preset(name)
  config.model.conv_impl = args.conv_impl
  config.data.test_crop_size = 224
  macs = summary.model_summary(config)["gflops"] * 1e9  # per clip at 224²

  hub = torch_stubs.import_pytorchvideo_hub()
  torch.manual_seed(0)
  torch_model = getattr(hub, HUB_BUILDERS[name])(pretrained=False)
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "hub.pyth")
    torch.save(torch_model.state_dict(), path)
    variables, _ = convert_load.convert_checkpoint(path, config.model)
  model = models.build_model(config.model)

  def inputs(batch, seed=0):
    rng = np.random.RandomState(seed)
    return [rng.randn(*s).astype(np.float32)
            for s in models.input_shapes(config.model, 224, batch)]

  # Same weights, same answer (eval mode, training crop: logits).
  check = inputs(1)
  torch_model.eval()
  with torch.no_grad():
    torch_logits = torch_model(
        [torch.from_numpy(x.transpose(0, 4, 1, 2, 3).copy()) for x in check]
        if len(check) > 1 else
        torch.from_numpy(check[0].transpose(0, 4, 1, 2, 3).copy())).numpy()

  infer = jax.jit(lambda v, x: model.apply(v, x))
  batch_inputs = [jnp.asarray(x) for x in inputs(args.batch)]
  start = time.perf_counter()
  infer_compiled = infer.lower(variables, batch_inputs).compile()
  infer_compile_s = time.perf_counter() - start
  jax_logits = np.asarray(jax.jit(lambda v, x: model.apply(v, x))(
      variables, [jnp.asarray(x) for x in check]))
  max_diff = float(np.abs(jax_logits - torch_logits).max())

  torch_batch = [torch.from_numpy(x.transpose(0, 4, 1, 2, 3).copy())
                 for x in inputs(args.batch)]

  def as_torch_input(tensors):
    # pytorchvideo writes its outputs into the input list: pass a new list.
    return list(tensors) if len(tensors) > 1 else tensors[0]

  def torch_infer():
    with torch.no_grad():
      torch_model(as_torch_input(torch_batch))

  def jax_infer():
    infer_compiled(variables, batch_inputs).block_until_ready()

  rows = {"preset": name, "batch": args.batch,
          "gmacs_per_clip_224": round(macs / 1e9, 2),
          "logits_max_abs_diff": max_diff,
          "jax_infer_compile_s": round(infer_compile_s, 1)}
  jax_infer(), torch_infer()  # Warm up.
  jax_times, torch_times = [], []
  for _ in range(args.rounds):
    jax_times.append(timed(jax_infer, args.repeats) / args.batch)
    torch_times.append(timed(torch_infer, args.repeats) / args.batch)
  rows["jax_infer_clips_per_s"] = 1 / statistics.median(jax_times)
  rows["torch_infer_clips_per_s"] = 1 / statistics.median(torch_times)

  if args.train_batch:
    tx = optax.sgd(0.01, momentum=0.9)
    labels = jnp.zeros((args.train_batch,), jnp.int32)
    train_inputs = [jnp.asarray(x) for x in inputs(args.train_batch, 1)]

    def loss_fn(params, batch_stats, x):
      logits, state = model.apply(
          {"params": params, "batch_stats": batch_stats}, x, train=True,
          rngs={"dropout": jax.random.PRNGKey(0)}, mutable=["batch_stats"])
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
      return loss.mean(), state["batch_stats"]

    def train_step(params, batch_stats, opt_state, x):
      (loss, batch_stats), grads = jax.value_and_grad(
          loss_fn, has_aux=True)(params, batch_stats, x)
      updates, opt_state = tx.update(grads, opt_state, params)
      return optax.apply_updates(params, updates), batch_stats, opt_state, loss

    params = jax.tree.map(jnp.asarray, variables["params"])
    batch_stats = jax.tree.map(jnp.asarray, variables["batch_stats"])
    opt_state = tx.init(params)
    start = time.perf_counter()
    step = jax.jit(train_step).lower(params, batch_stats, opt_state,
                                     train_inputs).compile()
    rows["jax_train_compile_s"] = round(time.perf_counter() - start, 1)
    state = [params, batch_stats, opt_state]

    def jax_train():
      out = step(state[0], state[1], state[2], train_inputs)
      state[:] = out[:3]
      out[3].block_until_ready()

    torch_model.train()
    optimizer = torch.optim.SGD(torch_model.parameters(), lr=0.01,
                                momentum=0.9)
    torch_train_batch = [torch.from_numpy(np.asarray(x).transpose(
        0, 4, 1, 2, 3).copy()) for x in train_inputs]
    torch_labels = torch.zeros(args.train_batch, dtype=torch.long)

    def torch_train():
      optimizer.zero_grad()
      loss = torch.nn.functional.cross_entropy(
          torch_model(as_torch_input(torch_train_batch)), torch_labels)
      loss.backward()
      optimizer.step()

    jax_train(), torch_train()
    jax_times, torch_times = [], []
    for _ in range(args.rounds):
      jax_times.append(timed(jax_train, 1) / args.train_batch)
      torch_times.append(timed(torch_train, 1) / args.train_batch)
    rows["train_batch"] = args.train_batch
    rows["jax_train_clips_per_s"] = 1 / statistics.median(jax_times)
    rows["torch_train_clips_per_s"] = 1 / statistics.median(torch_times)
  rows["peak_rss_gib"] = round(max_rss_gib(), 2)
  return rows


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--presets", default="slowfast_8x8_r50")
  parser.add_argument("--batch", type=int, default=1)
  parser.add_argument("--train-batch", type=int, default=4,
                      help="0 skips the training step")
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--repeats", type=int, default=2,
                      help="inference calls per round and side")
  parser.add_argument("--conv-impl", default="auto")
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
  results = {"machine": {"cpus": threads, "processor": platform.processor(),
                         "platform": platform.platform(),
                         "jax": jax.__version__, "torch": torch.__version__,
                         "backend": jax.default_backend(),
                         "fp32_matmul_peak_gmacs": round(peak / 1e9, 1),
                         "load_average_start": os.getloadavg()},
             "presets": []}
  for name in args.presets.split(","):
    row = bench_preset(name, args, torch, jax, jnp, optax)
    for side in ("jax", "torch"):
      row[f"{side}_infer_pct_of_peak"] = round(
          100 * row[f"{side}_infer_clips_per_s"] *
          row["gmacs_per_clip_224"] * 1e9 / peak, 1)
    row["infer_ratio_jax_over_torch"] = round(
        row["jax_infer_clips_per_s"] / row["torch_infer_clips_per_s"], 2)
    if "jax_train_clips_per_s" in row:
      row["train_ratio_jax_over_torch"] = round(
          row["jax_train_clips_per_s"] / row["torch_train_clips_per_s"], 2)
    results["presets"].append(row)
    print(json.dumps(row, indent=1), flush=True)
  results["machine"]["load_average_end"] = os.getloadavg()
  print("\npreset | batch | JAX infer clips/s | torch infer clips/s | ratio | "
        "JAX % peak | torch % peak | JAX train clips/s | torch train clips/s "
        "| ratio | infer compile s | train compile s")
  for r in results["presets"]:
    print(f"{r['preset']} | {r['batch']} | {r['jax_infer_clips_per_s']:.3f} | "
          f"{r['torch_infer_clips_per_s']:.3f} | "
          f"{r['infer_ratio_jax_over_torch']} | {r['jax_infer_pct_of_peak']} | "
          f"{r['torch_infer_pct_of_peak']} | "
          f"{r.get('jax_train_clips_per_s', float('nan')):.3f} | "
          f"{r.get('torch_train_clips_per_s', float('nan')):.3f} | "
          f"{r.get('train_ratio_jax_over_torch', '-')} | "
          f"{r['jax_infer_compile_s']} | {r.get('jax_train_compile_s', '-')}")
  print(f"fp32 matmul peak: {peak / 1e9:.1f} G multiply-adds/s; "
        f"load average {results['machine']['load_average_start']} → "
        f"{results['machine']['load_average_end']}")
  output = pathlib.Path(args.output)
  output.parent.mkdir(parents=True, exist_ok=True)
  output.write_text(json.dumps(results, indent=2) + "\n")
  print(f"Wrote {output}")


if __name__ == "__main__":
  main()
