"""Group near-identical keyframes inside one clip (pure functions, no I/O).

The rule, chosen so a group never drifts:

* Items are visited in order (keyframes in time order). The first item of a group is its
  representative, so the representative is always the earliest member.
* An item joins a group only if it is within `max_distance` bits of that group's
  *representative*, never merely of another member. Single-linkage clustering would chain
  A~B~C~D into one group even when A and D are unrelated (a slow pan does exactly that);
  measuring against the representative keeps every member within `max_distance` of it.
* When several representatives are close enough, the nearest wins; ties go to the earliest.
  Otherwise the item starts a new group.
* An uninformative item (flat, black or noise frame: its hash is decided by rounding noise)
  only joins a representative with an exactly equal hash, and an uninformative representative
  only accepts exact equals. Two black frames group; a black frame and a dim street do not.
"""

from __future__ import annotations

from collections.abc import Sequence

from .hashes import FrameHash


def _nearest(
    item: FrameHash,
    item_informative: bool,
    reps: list[int],
    hashes: Sequence[FrameHash],
    informative: Sequence[bool],
    max_distance: int,
) -> int | None:
    """Index of the closest acceptable representative (earliest on ties), or None."""
    best: tuple[int, int] | None = None
    for rep in reps:
        limit = max_distance if item_informative and informative[rep] else 0
        distance = item - hashes[rep]
        if distance <= limit and (best is None or distance < best[0]):
            best = (distance, rep)
    return None if best is None else best[1]


def group_near_duplicates(
    hashes: Sequence[FrameHash],
    max_distance: int,
    informative: Sequence[bool] | None = None,
) -> list[int | None]:
    """For each item, the index of its group's representative (None for representatives).

    Args:
        hashes: one hash per keyframe, all of the same algorithm and size, in time order.
        max_distance: Hamming distance (bits) at or below which an item joins a representative.
        informative: per item, False for low-texture frames (see `texture_std`); None means all
            informative.

    Returns:
        A list as long as `hashes`: None where the item is a representative (or unique), else
        the index of the earlier item that represents its group. Deterministic.

    Raises:
        ValueError: negative threshold, `informative` of another length, or mixed algorithms.
    """
    if max_distance < 0:
        raise ValueError(f"max_distance must be >= 0, got {max_distance}")
    flags = [True] * len(hashes) if informative is None else list(informative)
    if len(flags) != len(hashes):
        raise ValueError(f"{len(flags)} informative flags for {len(hashes)} hashes")
    kinds = {(h.algorithm, h.bits) for h in hashes}
    if len(kinds) > 1:
        raise ValueError(f"cannot group hashes of different kinds: {sorted(kinds)}")
    reps: list[int] = []
    out: list[int | None] = []
    for i, item in enumerate(hashes):
        rep = _nearest(item, flags[i], reps, hashes, flags, max_distance)
        if rep is None:
            reps.append(i)
        out.append(rep)
    return out


def groups(duplicate_of: Sequence[int | None]) -> dict[int, list[int]]:
    """Representative index -> all member indices (itself first), from the list above."""
    out: dict[int, list[int]] = {}
    for i, rep in enumerate(duplicate_of):
        out.setdefault(i if rep is None else rep, []).append(i)
    return out
