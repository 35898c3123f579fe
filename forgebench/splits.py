"""Identity-disjoint train/val/test splits and the (target, source) pairs of fakes.

Protocol (DESIGN.md): splits are disjoint by identity and by source video; a fake is in
the split of its target video, and its source identity is drawn from the same split, so
the same person never appears in train and test (FaceForensics++ pairs videos the same
way within its official splits).
"""

from __future__ import annotations

import numpy as np

from forgebench.errors import DataError

SPLITS = ("train", "val", "test")


def split_sizes(n: int, ratio: tuple[float, float, float], min_per_split: int) -> tuple[int, int, int]:
    """Number of identities per split: largest-remainder rounding of ``ratio`` (normalised),
    then moving identities from the largest split until each has ``min_per_split``.

    Raises:
        DataError: fewer than ``3 * min_per_split`` identities.
    """
    if n < 3 * min_per_split:
        raise DataError(
            f"{n} identities cannot fill train/val/test with at least {min_per_split} each "
            f"(need {3 * min_per_split}); add videos or lower splits.min_per_split"
        )
    weights = np.asarray(ratio, dtype=float) / float(sum(ratio))
    exact = weights * n
    sizes = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - sizes), kind="stable")[: n - sizes.sum()]:
        sizes[i] += 1
    for i in range(3):
        while sizes[i] < min_per_split:
            sizes[int(np.argmax(sizes))] -= 1
            sizes[i] += 1
    return int(sizes[0]), int(sizes[1]), int(sizes[2])


def assign_splits(
    identities: list[str], ratio: tuple[float, float, float], seed: int, min_per_split: int = 2
) -> dict[str, str]:
    """Deterministic identity -> split map.

    Identities are sorted, shuffled with ``numpy.random.default_rng(seed)`` and cut by
    :func:`split_sizes`. The result depends only on the set of identities and the seed.

    Returns:
        ``{identity: "train" | "val" | "test"}``.
    """
    ids = sorted(set(identities))
    order = np.random.default_rng(seed).permutation(len(ids))
    sizes = split_sizes(len(ids), ratio, min_per_split)
    out: dict[str, str] = {}
    pos = 0
    for split, size in zip(SPLITS, sizes):
        for k in order[pos : pos + size]:
            out[ids[k]] = split
        pos += size
    return out


def make_pairs(split_of: dict[str, str]) -> list[tuple[str, str]]:
    """(target, source) pairs of fakes: inside each split, identities (sorted) are paired
    as (0, 1), (2, 3), ... and each pair gives both directions, so every identity is the
    target of exactly one fake; with an odd count the last identity takes the first of
    its split as source. Never pairs across splits.

    Returns:
        list of ``(target, source)``, sorted.
    """
    pairs: list[tuple[str, str]] = []
    for split in SPLITS:
        ids = sorted(i for i, s in split_of.items() if s == split)
        for k in range(0, len(ids) - 1, 2):
            pairs += [(ids[k], ids[k + 1]), (ids[k + 1], ids[k])]
        if len(ids) % 2 == 1 and len(ids) > 1:
            pairs.append((ids[-1], ids[0]))
    return sorted(pairs)
