"""Shared test setup: force CPU and keep XLA's compile threads modest."""

import os
import pathlib

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

REFERENCE_DIR = (pathlib.Path(__file__).resolve().parents[2] / "shared" /
                 "reference")
