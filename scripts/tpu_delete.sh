#!/usr/bin/env bash
# Stops billing: deletes the slice (checkpoints and metrics stay in gs://).
set -euo pipefail
source "$(dirname "$0")/tpu_env.sh"
gcloud compute tpus tpu-vm delete "$TPU_NAME" --zone="$ZONE" --quiet
