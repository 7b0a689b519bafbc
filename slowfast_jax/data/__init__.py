"""Input data: preparing video datasets and feeding clips to the model."""
