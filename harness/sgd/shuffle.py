"""Per-epoch shuffling of the training samples: a seeded Fisher-Yates permutation of an index
array, drawn from its own xorshift32 stream (docs/arithmetic.md §10.1), as the device's
``tt_shuffle_u16`` does it.

Before every epoch the index array (identity ``0..N-1`` before the first) is shuffled in
place: for ``i = N-1`` down to ``1``, ``j = uniform_below(i + 1)``, swap ``a[i]`` and ``a[j]``.
``uniform_below(n)`` is Lemire's multiply-shift with rejection (unbiased):
``m = r * n`` (64 bits), ``l = m mod 2^32``; while ``l < (2^32 - n) mod n`` draw again; ``j = m >> 32``.
"""
from __future__ import annotations

import numpy as np

from ..model.rtmath import Xorshift32

_U32 = 1 << 32
SHUFFLE_SEED = 0x9E3779B9  # the default stream seed (not the stochastic-rounding one)
MAX_SAMPLES = 0xFFFF  # indices are uint16_t on the device


def uniform_below(rng: Xorshift32, n: int) -> int:
    """A uniform integer in ``[0, n)`` (``1 <= n <= 2^32``), one or more draws of ``rng``."""
    m = rng.next() * n
    low = m & (_U32 - 1)
    if low < n:
        threshold = (_U32 - n) % n
        while low < threshold:
            m = rng.next() * n
            low = m & (_U32 - 1)
    return m >> 32


def shuffle_in_place(order: np.ndarray, rng: Xorshift32) -> None:
    """Fisher-Yates (Durstenfeld) of ``order`` in place, the device's draw order."""
    for i in range(len(order) - 1, 0, -1):
        j = uniform_below(rng, i + 1)
        order[i], order[j] = order[j], order[i]


def epoch_orders(n: int, epochs: int, seed: int) -> list[np.ndarray]:
    """The visiting order of every epoch: indices into the packed training samples."""
    rng = Xorshift32(seed)
    order = np.arange(n, dtype=np.int64)
    out = []
    for _ in range(epochs):
        shuffle_in_place(order, rng)
        out.append(order.copy())
    return out
