"""Alternating rounds for the benchmarks on a machine whose speed drifts (a
shared VM): each round runs PyTorch and then the port, and the reported
numbers are the medians of the rounds, so both see the same conditions."""

import numpy as np


def median_rounds(rounds):
    """The first round's record with every float replaced by its median over the rounds."""
    merged = dict(rounds[0])
    for key, value in merged.items():
        if isinstance(value, float):
            merged[key] = float(np.median([r[key] for r in rounds]))
    return merged
