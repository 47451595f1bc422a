"""Module-level functions for JAX/Grain tests (picklable into worker processes)."""

import grain
import numpy as np


def first_word(record: np.ndarray) -> int:
    """The little-endian int64 that starts each test object (its index)."""
    return int(record[:8].view(np.int64)[0])


class FirstWord(grain.transforms.Map):
    """A Grain map transform: record -> its index."""

    def map(self, element: np.ndarray) -> int:
        return first_word(element)
