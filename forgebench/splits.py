"""Identity-disjoint train/val/test splits, the official splits of imported datasets resolved
person by person (:func:`resolve_splits`), and the (target, source) pairs of fakes.

Protocol (DESIGN.md): splits are disjoint by identity and by source video; a fake is in
the split of its target video, and its source identity is drawn from the same split, so
the same person never appears in train and test (FaceForensics++ pairs videos the same
way within its official splits).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

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


#: Split names in the order a person's split is settled: a person with videos in several
#: official splits belongs to the latest (test before val before train).
SPLIT_RANK = {"train": 0, "val": 1, "test": 2}


def people_of(row: dict, merge: dict[str, str] | None = None) -> list[str]:
    """The people of one video row: its ``identity`` and, for a fake, its ``source`` and
    ``driving`` (empty cells are no one), each mapped through ``merge`` (identity label ->
    merged person), sorted."""
    merge = merge or {}
    return sorted(
        {merge.get(str(p), str(p)) for p in (row.get("identity"), row.get("source"), row.get("driving")) if p}
    )


def person_components(rows: list[dict], merge: dict[str, str] | None = None) -> dict[str, str]:
    """``{person: component key}``: people linked by a video that shows both (a fake's target
    and its source or driving person) are one component, which a split must keep whole; the
    key is the component's first person in sorted order (a lone person is its own key).
    Connected components of the person graph (:func:`scipy.sparse.csgraph.connected_components`)."""
    people = sorted({p for r in rows for p in people_of(r, merge)})
    index = {p: k for k, p in enumerate(people)}
    edges = [(index[ps[0]], index[p]) for r in rows if len(ps := people_of(r, merge)) > 1 for p in ps[1:]]
    a, b = (np.array(x, dtype=np.int64) for x in (zip(*edges) if edges else ((), ())))
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(people), len(people)))
    _, labels = connected_components(graph, directed=False)
    first: dict[int, str] = {}
    for p in people:  # sorted: the first person seen of a component is its smallest
        first.setdefault(int(labels[index[p]]), p)
    return {p: first[int(labels[index[p]])] for p in people}


def _carve_val(
    rows: list[dict], merge: dict[str, str], ratio: tuple[float, float, float], seed: int, min_per_split: int
) -> tuple[set[str], str]:
    """Components of the train rows moved to validation (the dataset has no validation split):
    ``ratio``'s validation share of train + validation, at least ``min_per_split``, leaving at
    least ``min_per_split`` in train, drawn with ``numpy.random.default_rng(seed)``. Returns
    ``(component keys, note)``; empty with the reason when there are too few components."""
    train = [r for r in rows if r["split"] == "train"]
    comps = sorted(set(person_components(train, merge).values()))
    share = ratio[1] / (ratio[0] + ratio[1])
    n_val = max(min_per_split, int(round(share * len(comps))))
    if len(comps) - n_val < min_per_split:
        return set(), (
            f"no validation split carved: the train split has {len(comps)} independent group(s) of people "
            f"(people linked by a fake stay together), fewer than 2 x splits.min_per_split = {2 * min_per_split}"
        )
    order = np.random.default_rng(seed).permutation(len(comps))
    chosen = {comps[k] for k in order[:n_val]}
    return chosen, (
        f"validation carved from the official train split: {n_val} of {len(comps)} groups of people "
        f"(splits.ratio, seed {seed})"
    )


def resolve_splits(
    videos: pd.DataFrame,
    ratio: tuple[float, float, float],
    seed: int,
    min_per_split: int = 2,
    merge: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """The split of every video, disjoint by person, following the official splits.

    Args:
        videos: one row per video: ``video_id``, ``identity``, ``source``, ``driving`` (people;
            empty = no one), ``split`` (official: ``train``, ``val``, ``test``, or ``""`` for
            none), ``split_from`` (where the official split came from).
        ratio, seed, min_per_split: ``splits.ratio``, the run seed and ``splits.min_per_split``.
        merge: identity label -> merged person (``splits.identity: merge_likely``); people
            not in it are themselves.

    Rules:

    - no video has an official split: components of people (a fake links its target to
      its source or driving person) are assigned to train/val/test with :func:`assign_splits`
      (for videos of one person each, the identity-level split of earlier forgebench runs);
    - official splits are followed as published. A person with videos in several official
      splits (the same person under two labels once merged, or a dataset whose split is not
      person-disjoint, e.g. Celeb-DF) belongs to the latest of train, val, test; that
      person's videos in an earlier split are left out (never silently kept where they would
      put the person on both sides). A video without an official split takes the split of
      its people; one whose people have none is an error (give every video a split or none);
    - a dataset with no validation split gets one carved from train by component
      (:func:`_carve_val`).

    Returns:
        ``(table, facts)``: ``videos`` with ``person`` (the merged identity), ``identity``,
        ``source``, ``driving`` mapped through ``merge``, ``identity_label`` (the identity as
        given), ``split`` (resolved; ``""`` for a video left out), ``split_from`` and
        ``status`` (``kept`` or ``left out: <reason>``); ``facts``: ``rule``, ``left_out``
        (reason -> count), ``validation`` (how a missing validation split was carved, when
        it was) and ``videos`` (split -> videos kept).

    Raises:
        DataError: too few components for :func:`assign_splits`, or videos without a split
            while others have one and their people have none.
    """
    merge = merge or {}
    df = videos.reset_index(drop=True).copy()
    rows = df.to_dict("records")
    people = [people_of(r, merge) for r in rows]
    facts: dict = {"left_out": {}}
    status = ["kept"] * len(rows)
    official = [r["split"] for r in rows]
    split_from = [r.get("split_from", "") for r in rows]
    if not any(official):
        comp = person_components(rows, merge)
        keys = sorted(set(comp.values()))
        assigned = assign_splits(keys, ratio, seed, min_per_split)
        resolved = [assigned[comp[ps[0]]] for ps in people]
        split_from = [f"assigned by person (splits.ratio {list(ratio)}, seed {seed})"] * len(rows)
        facts["rule"] = "assigned: no official split"
    else:
        facts["rule"] = "official splits, followed as published"
        person_split: dict[str, str] = {}
        for ps, s in zip(people, official):
            for p in ps if s else ():
                if p not in person_split or SPLIT_RANK[s] > SPLIT_RANK[person_split[p]]:
                    person_split[p] = s
        resolved = []
        for k, (ps, s) in enumerate(zip(people, official)):
            if not s:
                found = sorted({person_split[p] for p in ps if p in person_split}, key=SPLIT_RANK.get)
                if not found:
                    raise DataError(
                        f"video {rows[k]['video_id']}: no split, and none of its people {ps} has one while "
                        "other videos do; give every video a split or none"
                    )
                s, split_from[k] = found[-1], "the split of its people"
            later = [p for p in ps if SPLIT_RANK[person_split[p]] > SPLIT_RANK[s]]
            if later:
                reason = f"a person also in the official {person_split[later[0]]} split"
                status[k] = f"left out: {reason} ({later[0]})"
                facts["left_out"][reason] = facts["left_out"].get(reason, 0) + 1
                s = ""
            resolved.append(s)
    kept = [dict(r, split=s) for r, s, st in zip(rows, resolved, status) if st == "kept"]
    if kept and not any(r["split"] == "val" for r in kept) and any(r["split"] == "train" for r in kept):
        chosen, facts["validation"] = _carve_val(kept, merge, ratio, seed, min_per_split)
        if chosen:
            comp = person_components([r for r in kept if r["split"] == "train"], merge)
            for k, (ps, s, st) in enumerate(zip(people, resolved, status)):
                if st == "kept" and s == "train" and comp[ps[0]] in chosen:
                    resolved[k], split_from[k] = "val", "carved from the official train split (no validation split)"
    df["identity_label"] = df["identity"]
    for col in ("identity", "source", "driving"):
        df[col] = [merge.get(str(v), str(v)) if v else "" for v in df[col]]
    df["person"] = df["identity"]
    df["split"], df["split_from"], df["status"] = resolved, split_from, status
    facts["videos"] = {s: int((df["split"] == s).sum()) for s in SPLITS}
    return df, facts
