"""XLA:CPU's per-call temporaries reuse their pages once the package is in."""

import os
import platform

import pytest

from slowfast_jax.ops import cpu_heap

from processes import run_json_child

# A child process: maybe imports the package (before or after JAX's backend
# starts) and resolves the model's ops as a traced layer does, then calls a
# jitted function with a 96 MiB temporary (sin(x), an operand of the dot)
# five times after a warm-up and reports the minor page faults of each call.
_CHILD = """
import json, resource, sys
import jax, jax.numpy as jnp
if sys.argv[1] == "backend_first":
  jax.devices()
if sys.argv[1] != "plain":
  from slowfast_jax import ops
  ops.resolve("auto")
f = jax.jit(lambda x, w: jnp.sum(jnp.sin(x) @ w))
x, w = jnp.ones((49152, 512)), jnp.ones((512, 16))
f(x, w).block_until_ready()
faults = []
for _ in range(5):
  before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
  f(x, w).block_until_ready()
  faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"faults": faults,
                  "async_dispatch": jax.config.values[sys.argv[2]]}))
"""
_TEMPORARY_PAGES = 96 * 2**20 // os.sysconf("SC_PAGE_SIZE")


def _run_child(mode):
  child = run_json_child(_CHILD, mode, cpu_heap.ASYNC_DISPATCH)
  child["median_faults"] = sorted(child["faults"])[2]
  return child


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc",
                    reason="mallopt's settings are glibc's")
def test_calls_reuse_their_temporaries_pages_after_importing_the_package():
  plain = _run_child("plain")
  assert plain["async_dispatch"]
  assert plain["median_faults"] > 0.9 * _TEMPORARY_PAGES, plain
  ours = _run_child("import_first")
  assert not ours["async_dispatch"]
  assert ours["median_faults"] < 0.05 * _TEMPORARY_PAGES, ours


def test_after_the_backend_started_dispatch_stays_asynchronous():
  assert _run_child("backend_first")["async_dispatch"]
