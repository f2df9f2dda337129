"""The compiled inner loop of multi-index hashing (see `search.MultiIndex`).

Kept apart so that importing the matching package does not import numba: small archives are
searched by a numpy scan and never need it. `cache=True` stores the machine code next to this
file, so only the first search on a machine pays the compile (about a second).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def _popcount(x: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@numba.njit(cache=True, nogil=True)
def mih_kernel(  # pragma: no cover - compiled
    queries,
    radius,
    shifts,
    bmasks,
    thr,
    masks,
    nmasks,
    base,
    offsets,
    order,
    sorted_h,
    out_q,
    out_s,
    out_d,
):
    n = 0
    cap = out_q.shape[0]
    nb = shifts.shape[0]
    r = np.uint64(radius)
    for qi in range(queries.shape[0]):
        q = queries[qi]
        for b in range(nb):
            key = (q >> shifts[b]) & bmasks[b]
            for mi in range(nmasks[b]):
                k = base[b] + np.int64(key ^ masks[b, mi])
                for p in range(offsets[k], offsets[k + 1]):
                    x = sorted_h[b, p] ^ q
                    d = _popcount(x)
                    if d > r:
                        continue
                    first = True
                    for bb in range(b):
                        if _popcount((x >> shifts[bb]) & bmasks[bb]) <= np.uint64(thr[bb]):
                            first = False
                            break
                    if first:
                        if n < cap:
                            out_q[n] = qi
                            out_s[n] = order[b, p]
                            out_d[n] = d
                        n += 1
    return n


@numba.njit(cache=True, nogil=True)
def counting_order(keys, starts, out):  # pragma: no cover - compiled
    """Stable counting sort: `out[j]` is the position of the j-th hash in key order, given
    each key's first slot (`starts`, the exclusive prefix sum of the key counts)."""
    pos = starts.copy()
    for i in range(keys.shape[0]):
        k = keys[i]
        out[pos[k]] = i
        pos[k] += 1
