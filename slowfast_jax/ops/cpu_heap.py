"""Keeps the pages of XLA:CPU's per-call temporaries from one call to the next.

XLA:CPU allocates a compiled call's temporary buffers with `malloc` when the
call starts and frees them when it returns: one block of 225 MiB for
`slowfast_8x8_r50` at batch 1 and 224², several GiB for its training step.
glibc serves a block that large with `mmap` and unmaps it when it is freed,
so every call writes to fresh pages, which the kernel zeroes and maps one
page fault at a time (about 58,000 faults per batch-1 call).

Two process-wide settings keep the pages instead:
- `run_cpu_calls_inline()`, when the package is imported and before JAX's
  backends start: the CPU client runs a single-device computation on the
  thread that calls it (`jax_cpu_enable_async_dispatch=False`) instead of a
  worker thread. A worker thread's glibc heap holds at most 64 MiB, so it
  maps larger blocks whatever `mallopt` says; the main thread's heap has no
  such limit.
- `keep_freed_memory()`, when the model is first traced on CPU
  (`slowfast_jax.ops.resolve`): glibc's `mallopt` turns off `mmap` for large
  blocks and the trimming of the heap's free top, so the main heap keeps
  what a call freed and the next call reuses it.

What they cost: a call on the CPU backend returns once it has run (Python
does not run ahead of it), and the process never gives the memory it freed
back to the system: after a training step of `slowfast_8x8_r50` at batch 4
it holds several GiB more than without. `docs/performance.md` has the
figures.
To dispatch asynchronously again, call
`jax.config.update("jax_cpu_enable_async_dispatch", True)` after importing
the package and before JAX's first computation.
"""

import ctypes
import functools

from absl import logging
import jax

ASYNC_DISPATCH = "jax_cpu_enable_async_dispatch"
# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def run_cpu_calls_inline() -> None:
  """Sets `jax_cpu_enable_async_dispatch` off; only before the backends start."""
  jax.config.update(ASYNC_DISPATCH, False)


@functools.lru_cache(maxsize=None)
def keep_freed_memory() -> bool:
  """Has glibc's `malloc` keep large freed blocks for reuse (once per process).

  Returns:
    Whether `mallopt` took both settings; False off glibc (no `mallopt`, or
    one that ignores them), where nothing changes.
  """
  try:
    mallopt = ctypes.CDLL(None).mallopt
  except (OSError, AttributeError, TypeError):
    return False
  mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
  mallopt.restype = ctypes.c_int
  # -1 as the trim threshold is SIZE_MAX: never trim.
  kept = all(mallopt(param, value) == 1 for param, value in (
      (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, -1)))
  logging.info("glibc malloc keeps freed memory for XLA:CPU's next call: %s",
               kept)
  return kept
