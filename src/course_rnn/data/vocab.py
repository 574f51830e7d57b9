"""Vocabularies: tokens <-> integer ids, padding, and bag-of-words counts.

- :class:`Vocab` maps words to ids for the toy language task (:mod:`.order`).
- :class:`CharVocab` maps characters to ids for character language models
  (:mod:`.firstnames`), with one boundary token ``"."`` that marks both the start and the
  end of a word (index 0), as in makemore.
- :func:`pad_sequences` makes a rectangular (N, T) array from lists of ids.
- :func:`bag_of_words` turns sentences into word counts: the representation that throws
  word order away, which the order task is built to defeat.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .copying import IGNORE_INDEX

PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"


class Vocab:
    """A word vocabulary with ``<pad>`` at index 0 and ``<unk>`` at index 1.

    Build it with :meth:`Vocab.build` from whitespace-tokenised sentences. Words are
    sorted, so the same sentences give the same ids on every machine.
    """

    def __init__(self, tokens: Sequence[str]):
        tokens = list(tokens)
        if len(set(tokens)) != len(tokens):
            raise ValueError("tokens: expected distinct tokens, got duplicates")
        if tokens[:2] != [PAD_TOKEN, UNK_TOKEN]:
            tokens = [PAD_TOKEN, UNK_TOKEN] + [t for t in tokens if t not in (PAD_TOKEN, UNK_TOKEN)]
        self.itos: list[str] = tokens
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(tokens)}

    @classmethod
    def build(cls, sentences: Iterable[str]) -> Vocab:
        """A vocabulary holding every word of ``sentences`` (split on whitespace)."""
        words = sorted({w for s in sentences for w in s.split()})
        return cls([PAD_TOKEN, UNK_TOKEN, *words])

    @property
    def pad_index(self) -> int:
        return 0

    @property
    def unk_index(self) -> int:
        return 1

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: str) -> bool:
        return word in self.stoi

    def encode(self, sentence: str) -> list[int]:
        """Word ids of ``sentence``; unknown words map to ``<unk>``."""
        return [self.stoi.get(w, self.unk_index) for w in sentence.split()]

    def decode(self, ids: Iterable[int]) -> str:
        """The sentence for ``ids``, padding dropped."""
        return " ".join(self.itos[int(i)] for i in ids if int(i) != self.pad_index)

    def encode_batch(self, sentences: Sequence[str]) -> np.ndarray:
        """int64 (N, T_max): ids of each sentence, right-padded with ``<pad>`` (0)."""
        return pad_sequences([self.encode(s) for s in sentences], pad_value=self.pad_index)

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens)"


class CharVocab:
    """A character vocabulary with the boundary token ``"."`` at index 0.

    A word ``"ann"`` becomes the model input ``".ann"`` and the target ``"ann."``: the
    boundary starts every word and ends it, so a trained model knows when to stop.
    """

    BOUNDARY = "."

    def __init__(self, chars: Iterable[str]):
        chars = sorted(set(chars) - {self.BOUNDARY})
        if any(len(c) != 1 for c in chars):
            raise ValueError("chars: expected single characters")
        self.itos: list[str] = [self.BOUNDARY, *chars]
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.itos)}

    @classmethod
    def from_words(cls, words: Iterable[str]) -> CharVocab:
        """The vocabulary of every character used in ``words``."""
        return cls({c for w in words for c in w})

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, word: str) -> list[int]:
        """Character ids of ``word`` (no boundary added)."""
        missing = sorted({c for c in word if c not in self.stoi})
        if missing:
            raise ValueError(f"word {word!r}: characters {missing} are not in the vocabulary")
        return [self.stoi[c] for c in word]

    def decode(self, ids: Iterable[int]) -> str:
        """The word for ``ids``: leading boundaries skipped, stops at the next boundary."""
        out = []
        for i in ids:
            c = self.itos[int(i)]
            if c == self.BOUNDARY:
                if out:
                    break
                continue
            out.append(c)
        return "".join(out)

    def encode_batch(self, words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Shifted (input, target) pairs for next-character prediction.

        Returns:
            ``x`` int64 (N, T): ``"." + word``, right-padded with the boundary id 0;
            ``y`` int64 (N, T): ``word + "."``, right-padded with ``IGNORE_INDEX`` (-100,
            ignored by ``torch.nn.functional.cross_entropy``). ``T = 1 + longest word``.
        """
        ids = [self.encode(w) for w in words]
        x = pad_sequences([[0, *s] for s in ids], pad_value=0)  # (N, T)
        y = pad_sequences([[*s, 0] for s in ids], pad_value=IGNORE_INDEX)  # (N, T)
        return x, y

    def __repr__(self) -> str:
        return f"CharVocab({len(self)} characters: {''.join(self.itos)!r})"


def pad_sequences(sequences: Sequence[Sequence[int]], pad_value: int = 0) -> np.ndarray:
    """int64 (N, T_max): each sequence of ids right-padded with ``pad_value``."""
    if len(sequences) == 0:
        raise ValueError("sequences: expected at least one sequence, got none")
    T = max(len(s) for s in sequences)
    out = np.full((len(sequences), T), pad_value, dtype=np.int64)
    for i, s in enumerate(sequences):
        out[i, : len(s)] = s
    return out


def bag_of_words(sentences: Sequence[str], vocab: Vocab) -> np.ndarray:
    """float32 (N, V): how often each vocabulary word occurs in each sentence.

    Word order is gone: "not good , it was bad" and "not bad , it was good" get the same
    row. ``V = len(vocab)``; column 0 (``<pad>``) is always 0.
    """
    counts = np.zeros((len(sentences), len(vocab)), dtype=np.float32)
    for i, s in enumerate(sentences):
        for j in vocab.encode(s):
            counts[i, j] += 1.0
    return counts
