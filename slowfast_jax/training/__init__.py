"""Training helpers around the step: precise BatchNorm statistics, frozen
stages."""
