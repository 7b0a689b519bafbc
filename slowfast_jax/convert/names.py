"""Name maps between the checkpoint formats and the Flax variable tree.

The canonical names are PySlowFast's state-dict names
(`s2.pathway0_res0.branch2.a.weight`). Caffe2 blob names and pytorchvideo names
are first translated into those (`caffe2_to_pyslowfast`,
`pytorchvideo_to_pyslowfast`); the Flax variables are named in the same terms
by `flax_to_pyslowfast`. A name no rule matches is passed through unchanged so
that it shows up as "unexpected" instead of vanishing.
"""

import re
from typing import Iterable, Sequence

PATHWAY_INDEX = {"slow": 0, "fast": 1}

# Torch-side suffixes: BatchNorm weight/bias/running stats and conv/linear.
_BN_SUFFIX_FROM_CAFFE2 = {"s": "weight", "b": "bias", "rm": "running_mean",
                          "riv": "running_var"}
_PARAM_SUFFIX_FROM_CAFFE2 = {"w": "weight", "b": "bias"}

def is_caffe2_non_weight(name: str) -> bool:
  """Caffe2 blobs that are not weights: optimizer state, iteration count."""
  return "momentum" in name or name in ("lr", "model_iter")


def is_dropped_buffer(name: str) -> bool:
  """Buffers of torch BatchNorm that the Flax model does not have."""
  return name.endswith(".num_batches_tracked")


# ------------------------------------------------------------------ Caffe2 ---

_C2_BLOCK_LAYER = {"branch1": "branch1", "branch2a": "branch2.a",
                   "branch2b": "branch2.b", "branch2c": "branch2.c"}
_C2_BLOCK_BN = {"branch1": "branch1_bn", "branch2a": "branch2.a_bn",
                "branch2b": "branch2.b_bn", "branch2c": "branch2.c_bn"}

# Each pattern sees the name without the Fast pathway's `t_` prefix; `{p}` in
# the replacement is the pathway index.
_CAFFE2_RULES: list[tuple[re.Pattern, object]] = [
    (re.compile(r"^pred_([wb])$"),
     lambda m, p: f"head.projection.{_PARAM_SUFFIX_FROM_CAFFE2[m[1]]}"),
    (re.compile(r"^conv1_w$"), lambda m, p: f"s1.pathway{p}_stem.conv.weight"),
    (re.compile(r"^res_conv1_bn_(s|b|rm|riv)$"),
     lambda m, p: f"s1.pathway{p}_stem.bn.{_BN_SUFFIX_FROM_CAFFE2[m[1]]}"),
    # Fusions are named after the Fast layer they read: the stem's pool for
    # s1_fuse, the last Fast block's c_bn for s{k}_fuse.
    (re.compile(r"^pool1_subsample_w$"),
     lambda m, p: "s1_fuse.conv_f2s.weight"),
    (re.compile(r"^pool1_subsample_bn_(s|b|rm|riv)$"),
     lambda m, p: f"s1_fuse.bn.{_BN_SUFFIX_FROM_CAFFE2[m[1]]}"),
    (re.compile(r"^res(\d+)_\d+_branch2c_bn_subsample_w$"),
     lambda m, p: f"s{m[1]}_fuse.conv_f2s.weight"),
    (re.compile(r"^res(\d+)_\d+_branch2c_bn_subsample_bn_(s|b|rm|riv)$"),
     lambda m, p: f"s{m[1]}_fuse.bn.{_BN_SUFFIX_FROM_CAFFE2[m[2]]}"),
    (re.compile(r"^res(\d+)_(\d+)_(branch1|branch2[abc])_w$"),
     lambda m, p: f"s{m[1]}.pathway{p}_res{m[2]}.{_C2_BLOCK_LAYER[m[3]]}.weight"),
    (re.compile(r"^res(\d+)_(\d+)_(branch1|branch2[abc])_bn_(s|b|rm|riv)$"),
     lambda m, p: (f"s{m[1]}.pathway{p}_res{m[2]}.{_C2_BLOCK_BN[m[3]]}."
                   f"{_BN_SUFFIX_FROM_CAFFE2[m[4]]}")),
    (re.compile(r"^nonlocal_conv(\d+)_(\d+)_(theta|phi|g|out)_([wb])$"),
     lambda m, p: (f"s{m[1]}.pathway{p}_nonlocal{m[2]}.conv_{m[3]}."
                   f"{_PARAM_SUFFIX_FROM_CAFFE2[m[4]]}")),
    (re.compile(r"^nonlocal_conv(\d+)_(\d+)_bn_(s|b|rm|riv)$"),
     lambda m, p: (f"s{m[1]}.pathway{p}_nonlocal{m[2]}.bn."
                   f"{_BN_SUFFIX_FROM_CAFFE2[m[3]]}")),
]


def caffe2_to_pyslowfast(name: str) -> str:
  """`t_res2_0_branch2a_bn_s` → `s2.pathway1_res0.branch2.a_bn.weight`.

  Unknown names are returned unchanged.
  """
  pathway, base = (1, name[2:]) if name.startswith("t_") else (0, name)
  for pattern, rename in _CAFFE2_RULES:
    match = pattern.match(base)
    if match:
      return rename(match, pathway)
  return name


# ------------------------------------------------------------ pytorchvideo ---

_PTV_BLOCK_LAYER = {"branch1_conv": "branch1", "branch1_norm": "branch1_bn",
                    "branch2.conv_a": "branch2.a", "branch2.norm_a": "branch2.a_bn",
                    "branch2.conv_b": "branch2.b", "branch2.norm_b": "branch2.b_bn",
                    "branch2.conv_c": "branch2.c", "branch2.norm_c": "branch2.c_bn"}
_PTV_NAME = re.compile(r"^blocks\.(\d+)\.(?:multipathway_blocks\.(\d+)\.)?(.*)$")
_PTV_FUSION = re.compile(r"^blocks\.(\d+)\.multipathway_fusion\.(conv_fast_to_slow|norm)\.(.*)$")
_PTV_RES = re.compile(r"^res_blocks\.(\d+)\.(branch1_conv|branch1_norm|branch2\.(?:conv|norm)_[abc])\.(\w+)$")
_PTV_STEM = re.compile(r"^(conv|norm)\.(\w+)$")
_PTV_HEAD = re.compile(r"^proj\.(weight|bias)$")


def looks_like_pytorchvideo(names: Iterable[str]) -> bool:
  return any(n.startswith("blocks.") for n in names)


def pytorchvideo_to_pyslowfast(names: Sequence[str]) -> dict[str, str]:
  """Maps pytorchvideo `create_slowfast` / `create_resnet` names to PySlowFast.

  `blocks.N` are numbered in network order, and C2D/I3D insert a parameterless
  pool block after res2, so the res stages are found by rank: the blocks holding
  `res_blocks`, in order, are res2..res5; `blocks.0` is the stem; a fusion in the
  stem's block is `s1_fuse`, in res stage k's block `s{k}_fuse`.

  Returns:
    source name → canonical name (unknown names map to themselves).
  """
  res_block_ids = sorted({int(m[1]) for m in map(_PTV_NAME.match, names)
                          if m and m[3].startswith("res_blocks.")})
  stage_of_block = {0: 1}
  stage_of_block.update({b: k for k, b in enumerate(res_block_ids, start=2)})
  mapping = {}
  for name in names:
    mapping[name] = name
    fusion = _PTV_FUSION.match(name)
    if fusion:
      stage = stage_of_block.get(int(fusion[1]))
      layer = "conv_f2s" if fusion[2] == "conv_fast_to_slow" else "bn"
      if stage is not None:
        mapping[name] = f"s{stage}_fuse.{layer}.{fusion[3]}"
      continue
    m = _PTV_NAME.match(name)
    if not m:
      continue
    block, pathway, rest = int(m[1]), int(m[2] or 0), m[3]
    stem, res, head = _PTV_STEM.match(rest), _PTV_RES.match(rest), _PTV_HEAD.match(rest)
    if block == 0 and stem:
      layer = "conv" if stem[1] == "conv" else "bn"
      mapping[name] = f"s1.pathway{pathway}_stem.{layer}.{stem[2]}"
    elif res and block in stage_of_block:
      mapping[name] = (f"s{stage_of_block[block]}.pathway{pathway}_res{res[1]}."
                       f"{_PTV_BLOCK_LAYER[res[2]]}.{res[3]}")
    elif head and m[2] is None:
      mapping[name] = f"head.projection.{head[1]}"
  return mapping


# -------------------------------------------------------------------- Flax ---

_FLAX_BLOCK_LAYER = {"conv_a": "branch2.a", "bn_a": "branch2.a_bn",
                     "conv_b": "branch2.b", "bn_b": "branch2.b_bn",
                     "conv_c": "branch2.c", "bn_c": "branch2.c_bn",
                     "shortcut_conv": "branch1", "shortcut_bn": "branch1_bn"}
_FLAX_NONLOCAL_LAYER = {"theta": "conv_theta", "phi": "conv_phi", "g": "conv_g",
                        "out": "conv_out", "bn": "bn"}
_FLAX_LEAF = {("params", "kernel"): "weight", ("params", "scale"): "weight",
              ("params", "bias"): "bias", ("batch_stats", "mean"): "running_mean",
              ("batch_stats", "var"): "running_var"}


class UnknownFlaxVariableError(ValueError):
  """The model has a variable this converter has no PySlowFast name for."""


def _flax_module_to_pyslowfast(modules: Sequence[str]) -> str | None:
  path = "/".join(modules)
  if m := re.fullmatch(r"(slow|fast)_stem/(conv|bn)", path):
    return f"s1.pathway{PATHWAY_INDEX[m[1]]}_stem.{m[2]}"
  if m := re.fullmatch(r"fuse(\d+)/(conv|bn)", path):
    return f"s{m[1]}_fuse.{'conv_f2s' if m[2] == 'conv' else 'bn'}"
  if m := re.fullmatch(r"(slow|fast)_res(\d+)/block(\d+)/(\w+)", path):
    if m[4] in _FLAX_BLOCK_LAYER:
      return (f"s{m[2]}.pathway{PATHWAY_INDEX[m[1]]}_res{m[3]}."
              f"{_FLAX_BLOCK_LAYER[m[4]]}")
  if m := re.fullmatch(r"(slow|fast)_res(\d+)/nonlocal(\d+)/(\w+)", path):
    if m[4] in _FLAX_NONLOCAL_LAYER:
      return (f"s{m[2]}.pathway{PATHWAY_INDEX[m[1]]}_nonlocal{m[3]}."
              f"{_FLAX_NONLOCAL_LAYER[m[4]]}")
  if path == "head/projection":
    return "head.projection"
  return None


def flax_to_pyslowfast(collection: str, path: Sequence[str]) -> str:
  """`('params', ('slow_res2', 'block0', 'conv_a', 'kernel'))` →
  `s2.pathway0_res0.branch2.a.weight`.

  Raises:
    UnknownFlaxVariableError: a variable of the model this map does not know.
  """
  module = _flax_module_to_pyslowfast(path[:-1])
  leaf = _FLAX_LEAF.get((collection, path[-1]))
  if module is None or leaf is None:
    raise UnknownFlaxVariableError(
        f"No PySlowFast name for the Flax variable {collection}/"
        f"{'/'.join(path)}: the model has a layer the converter does not know "
        "(update slowfast_jax/convert/names.py).")
  return f"{module}.{leaf}"
