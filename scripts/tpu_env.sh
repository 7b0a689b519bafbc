# Settings shared by the Cloud TPU scripts; edit or export before sourcing.
#   source scripts/tpu_env.sh
export TPU_NAME="${TPU_NAME:-slowfast-v4-32}"
export ZONE="${ZONE:-us-central2-b}"
export ACCELERATOR_TYPE="${ACCELERATOR_TYPE:-v4-32}"   # 16 chips, 4 hosts.
export RUNTIME_VERSION="${RUNTIME_VERSION:-tpu-ubuntu2204-base}"
export BUCKET="${BUCKET:-gs://my-bucket}"               # Data and runs.
export DATA_DIR="${DATA_DIR:-$BUCKET/data}"             # Prepared datasets.
export RUN_NAME="${RUN_NAME:-slowfast_8x8_r50}"
export WORKDIR="${WORKDIR:-$BUCKET/runs/$RUN_NAME}"
export CONFIG="${CONFIG:-configs/slowfast_8x8_r50.py}"
