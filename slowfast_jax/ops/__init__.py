"""Backend-specific formulations of operations (e.g. `roi_align`)."""
