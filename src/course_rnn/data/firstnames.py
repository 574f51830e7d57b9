"""A character corpus: US first names, for character-level language models.

Provenance: the first-name frequency lists of the 1990 US Census (files
``dist.male.first``, 1,219 names, and ``dist.female.first``, 4,275 names), as shipped in
the ``names`` package (Trey Hunner, MIT licence). The package states: "Data in the
following files are public domain (derived from 1990 Census data)". Read from the
installed package: nothing is downloaded.

Names are returned lower case, most frequent first, each once. Pair them with
:class:`course_rnn.data.CharVocab` to get (input, target) batches shifted by one
character.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

_FILES = {"male": "dist.male.first", "female": "dist.female.first"}


def _read(path: Path) -> list[tuple[str, float]]:
    rows = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts:
            rows.append((parts[0].lower(), float(parts[1])))  # name, frequency in %
    return rows


def load_names(sex: str = "all") -> list[str]:
    """US Census 1990 first names, lower case, unique, most frequent first.

    Args:
        sex: ``"male"``, ``"female"`` or ``"all"`` (both lists merged by frequency).
    """
    import names as names_package

    if sex not in ("male", "female", "all"):
        raise ValueError(f"sex: expected 'male', 'female' or 'all', got {sex!r}")
    folder = Path(names_package.__file__).parent
    keys = ["male", "female"] if sex == "all" else [sex]
    best: dict[str, float] = {}
    for key in keys:
        for name, freq in _read(folder / _FILES[key]):
            best[name] = max(freq, best.get(name, 0.0))
    return sorted(best, key=lambda name: (-best[name], name))


def split_words(
    words: list[str], test_fraction: float = 0.1, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Shuffle ``words`` with ``seed`` and split them into (train, test) lists."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction: expected a number in (0, 1), got {test_fraction!r}")
    order = np.random.default_rng(seed).permutation(len(words))
    n_test = max(1, int(round(test_fraction * len(words))))
    shuffled = [words[i] for i in order]
    return shuffled[n_test:], shuffled[:n_test]
