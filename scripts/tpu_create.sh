#!/usr/bin/env bash
# Creates a Cloud TPU pod slice (every host is a "worker").
#   bash scripts/tpu_create.sh            # on-demand
#   SPOT=1 bash scripts/tpu_create.sh     # spot: preemptible, resumes on restart
set -euo pipefail
source "$(dirname "$0")/tpu_env.sh"
extra=()
if [[ "${SPOT:-0}" == 1 ]]; then extra+=(--spot); fi
gcloud compute tpus tpu-vm create "$TPU_NAME" \
  --zone="$ZONE" \
  --accelerator-type="$ACCELERATOR_TYPE" \
  --version="$RUNTIME_VERSION" \
  "${extra[@]}"
gcloud compute tpus tpu-vm describe "$TPU_NAME" --zone="$ZONE" \
  --format="value(state,networkEndpoints[].ipAddress)"
