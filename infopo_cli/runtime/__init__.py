"""Plumbing the recipes use: model loading, checkpoints, distributed, LoRA, run logging, plots, sweeps."""
