"""Scoring views, aggregating them per video, metrics, plots."""
