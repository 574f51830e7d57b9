"""An order-sensitive toy language task: the sentiment is in the word order.

Sentences come from a small grammar of two families, both about a review of a film:

- negation scope: ``"the film was not good , it was bad"`` is negative,
  ``"the film was not bad , it was good"`` is positive;
- contrast with "but" (the clause after "but" carries the verdict):
  ``"the plot was good but the acting was bad"`` is negative,
  ``"the plot was bad but the acting was good"`` is positive.

Sentences are generated in pairs that use exactly the same words with opposite labels
(the positive and negative words swap places). So, for an even ``n``, every bag of words
occurs equally often with label 0 and with label 1: a model that sees only word counts
(:func:`course_rnn.data.bag_of_words`) cannot beat 50% accuracy, while a model that
reads the words in order (an RNN) can reach 100%.

Every sentence has :data:`SENTENCE_LENGTH` = 9 words, so a batch of encoded sentences
needs no padding.

Training and test sets: with ``split="train"`` and ``split="test"`` the sentences come
from two disjoint sets of bags of words, so no test sentence (and no test bag of words)
occurs in any training set, whatever the seeds. A bag goes to the test split when the
indices of its words sum to a multiple of 5 (:func:`is_held_out`): about a fifth of the
bags, and every word of the grammar occurs in both splits. The test set therefore asks
for new combinations of known words. ``split="all"`` (the default) draws from every bag,
as earlier versions did; two sets drawn that way share many sentences, because the
grammar has only 1,550 distinct sentences.

Labels: 1 positive, 0 negative. Generated from a seeded ``numpy.random.Generator``; the
grammar is written for this course (no external text, no licence).
"""

from __future__ import annotations

import numpy as np

POSITIVE = ("good", "great", "fine", "lovely", "clever")
NEGATIVE = ("bad", "awful", "dull", "boring", "poor")
ASPECTS = ("plot", "acting", "music", "ending", "script", "story")
SENTENCE_LENGTH = 9


SPLITS = ("all", "train", "test")


def is_held_out(good: int, bad: int, aspects: tuple[int, int] | None = None) -> bool:
    """Whether the bag with these word indices belongs to the test split.

    ``good`` and ``bad`` index :data:`POSITIVE` and :data:`NEGATIVE`; ``aspects`` the two
    :data:`ASPECTS` of a contrast sentence (``None`` for negation). The rule depends on
    the bag only, not on the order of its words, so both sentences of a pair, and both
    orders of the two aspects, land in the same split.
    """
    total = good + bad + (sum(aspects) if aspects is not None else 0)
    return total % 5 == 0


def _pair(rng: np.random.Generator) -> tuple[str, str, bool]:
    """One (positive, negative) pair with the same bag of words, and whether it is held out."""
    g = int(rng.integers(len(POSITIVE)))
    b = int(rng.integers(len(NEGATIVE)))
    good, bad = POSITIVE[g], NEGATIVE[b]
    if rng.integers(2) == 0:  # negation scope
        positive = f"the film was not {bad} , it was {good}"
        negative = f"the film was not {good} , it was {bad}"
        return positive, negative, is_held_out(g, b)
    # contrast: the clause after "but" decides
    first, second = (int(i) for i in rng.choice(len(ASPECTS), size=2, replace=False))
    a, c = ASPECTS[first], ASPECTS[second]
    positive = f"the {a} was {bad} but the {c} was {good}"
    negative = f"the {a} was {good} but the {c} was {bad}"
    return positive, negative, is_held_out(g, b, (first, second))


def order_task(n: int, seed: int = 0, split: str = "all") -> tuple[list[str], np.ndarray]:
    """Draw ``n`` sentences of the order task, shuffled.

    Args:
        n: number of sentences (use an even number: sentences come in same-bag pairs).
        seed: seed of the numpy Generator.
        split: ``"train"`` or ``"test"`` to draw from one of two disjoint sets of bags
            of words (see the module docstring); ``"all"`` draws from every bag.

    Returns:
        ``sentences``: list of N strings, words separated by single spaces;
        ``labels`` int64 (N,): 1 positive, 0 negative.
    """
    if int(n) != n or n < 1:
        raise ValueError(f"n: expected a positive integer, got {n!r}")
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
    n = int(n)
    rng = np.random.default_rng(seed)
    sentences: list[str] = []
    labels: list[int] = []
    while len(sentences) < 2 * ((n + 1) // 2):
        positive, negative, held_out = _pair(rng)
        if split != "all" and held_out != (split == "test"):
            continue  # the pair belongs to the other split: draw again
        sentences += [positive, negative]
        labels += [1, 0]
    order = rng.permutation(len(sentences))[:n]
    return [sentences[i] for i in order], np.asarray(labels, dtype=np.int64)[order]
