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

Labels: 1 positive, 0 negative. Generated from a seeded ``numpy.random.Generator``; the
grammar is written for this course (no external text, no licence).
"""

from __future__ import annotations

import numpy as np

POSITIVE = ("good", "great", "fine", "lovely", "clever")
NEGATIVE = ("bad", "awful", "dull", "boring", "poor")
ASPECTS = ("plot", "acting", "music", "ending", "script", "story")
SENTENCE_LENGTH = 9


def _pair(rng: np.random.Generator) -> tuple[str, str]:
    """One (positive, negative) pair of sentences with the same bag of words."""
    good = POSITIVE[rng.integers(len(POSITIVE))]
    bad = NEGATIVE[rng.integers(len(NEGATIVE))]
    if rng.integers(2) == 0:  # negation scope
        positive = f"the film was not {bad} , it was {good}"
        negative = f"the film was not {good} , it was {bad}"
    else:  # contrast: the clause after "but" decides
        first, second = rng.choice(len(ASPECTS), size=2, replace=False)
        a, b = ASPECTS[first], ASPECTS[second]
        positive = f"the {a} was {bad} but the {b} was {good}"
        negative = f"the {a} was {good} but the {b} was {bad}"
    return positive, negative


def order_task(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Draw ``n`` sentences of the order task, shuffled.

    Args:
        n: number of sentences (use an even number: sentences come in same-bag pairs).
        seed: seed of the numpy Generator.

    Returns:
        ``sentences``: list of N strings, words separated by single spaces;
        ``labels`` int64 (N,): 1 positive, 0 negative.
    """
    if int(n) != n or n < 1:
        raise ValueError(f"n: expected a positive integer, got {n!r}")
    n = int(n)
    rng = np.random.default_rng(seed)
    sentences: list[str] = []
    labels: list[int] = []
    for _ in range((n + 1) // 2):
        positive, negative = _pair(rng)
        sentences += [positive, negative]
        labels += [1, 0]
    order = rng.permutation(len(sentences))[:n]
    return [sentences[i] for i in order], np.asarray(labels, dtype=np.int64)[order]
