"""Datasets, losses and trainers for the stabilizer and the cartoonizer."""
