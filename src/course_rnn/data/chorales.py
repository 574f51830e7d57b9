"""J.S. Bach's four-part chorales as note tokens, on a grid of eighth notes.

Each chorale is four voices, soprano, alto, tenor and bass (S, A, T, B). On a grid of
``steps_per_quarter`` steps per quarter note, every voice at every step is one of:
the MIDI pitch of a note that *starts* there, ``HOLD`` (the voice's previous note goes
on) or ``REST``. :func:`to_tokens` reads the grid step by step and, within a step, voice
by voice (S, A, T, B), which gives one sequence of 4T note tokens: a language for a
next-token model, with a vocabulary of a few dozen words.

Bach harmonised many hymn tunes more than once, sometimes in another key, so a fair
test holds out whole tunes: :func:`tune_groups` groups the chorales by tune (the
soprano's opening intervals, or near-identical grids up to transposition) and
:func:`split_by_tune` deals out whole groups to train, validation and test.

Provenance: the Bach chorales in the core corpus of music21 (``music21.corpus``,
``bach/bwv*.mxl``, ``.xml`` and ``.krn``: 413 score files, found through
``music21.corpus.getComposer``). Kept: the 409 with parts named Soprano, Alto, Tenor and
Bass, less 2 that are note-for-note copies of another: 407 chorales. (The 3 Humdrum
files name no parts and have MusicXML twins; ``bwv846`` is a keyboard prelude.) Most
MusicXML files (361 of 408) credit their encoding to Margaret Greentree
(jsbchorales.net, 2004); the others carry no credit. Licence: the music (Bach died in
1750) is in the public domain. music21's code is BSD-3-Clause; its corpus folder says
(``music21/corpus/license.txt``) that the encodings are distributed with the encoders'
permission, that each work is believed free in the US, and that some encodings may not
be used commercially. This course uses them for teaching, not commerce.

Nothing is downloaded: the scores are files inside the music21 wheel, and
:func:`parse_corpus` sets music21's ``autoDownload`` preference to ``"deny"`` (in
memory, nothing written to ``~/.music21rc``) before reading them. Parsing all of them
takes about two minutes, so the parsed grid ships in the package as ``chorales.npz``
(made by :func:`build_cache`, read by :func:`load_chorales` with numpy alone; music21
is needed only to rebuild it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: The voices, top to bottom, in the order :func:`to_tokens` reads them.
VOICES = ("Soprano", "Alto", "Tenor", "Bass")
#: Token ids: 0 = rest, 1 = hold, then one id per MIDI pitch LOWEST..HIGHEST.
REST, HOLD = 0, 1
#: The lowest and highest MIDI pitches of the corpus (C2 = 36 and A5 = 81 at most).
LOWEST, HIGHEST = 36, 81
VOCAB_SIZE = 2 + HIGHEST - LOWEST + 1
#: Steps per quarter note of the shipped grid (eighth notes).
CACHE_RESOLUTION = 2
CACHE_FILE = Path(__file__).with_name("chorales.npz")
_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


@dataclass
class Chorale:
    """One chorale on a grid of steps.

    Attributes:
        name: the corpus file's name without extension, e.g. ``"bwv1.6"``.
        pitch: int64 (T, 4), the MIDI pitch sounding in S, A, T, B at each step (0: rest).
        onset: bool (T, 4), True where a note starts at that step.
        steps_per_quarter: grid resolution (2: eighth notes).
    """

    name: str
    pitch: np.ndarray
    onset: np.ndarray
    steps_per_quarter: int = CACHE_RESOLUTION

    def __len__(self) -> int:
        return len(self.pitch)


def pitch_name(midi: int) -> str:
    """``60 -> "C4"``, ``70 -> "Bb4"``."""
    return f"{_NAMES[midi % 12]}{midi // 12 - 1}"


def token_name(token: int) -> str:
    """A token id as text: ``"rest"``, ``"hold"`` or a pitch name such as ``"G4"``."""
    if token == REST:
        return "rest"
    if token == HOLD:
        return "hold"
    if not 2 <= token < VOCAB_SIZE:
        raise ValueError(f"token: expected an id in 0..{VOCAB_SIZE - 1}, got {token}")
    return pitch_name(token - 2 + LOWEST)


def to_tokens(pitch: np.ndarray, onset: np.ndarray) -> np.ndarray:
    """The grid (T, 4) as note tokens int64 (4T,), step by step, voices S, A, T, B."""
    pitch, onset = np.asarray(pitch), np.asarray(onset, dtype=bool)
    if pitch.ndim != 2 or pitch.shape[1] != 4 or onset.shape != pitch.shape:
        raise ValueError(
            f"pitch, onset: expected two arrays of shape (T, 4), "
            f"got {pitch.shape} and {onset.shape}"
        )
    sounding = pitch > 0
    if np.any(sounding & ((pitch < LOWEST) | (pitch > HIGHEST))):
        raise ValueError(f"pitch: expected MIDI pitches in {LOWEST}..{HIGHEST} or 0 (rest)")
    tokens = np.where(sounding & onset, pitch - LOWEST + 2, HOLD)
    tokens = np.where(sounding, tokens, REST)
    return tokens.reshape(-1).astype(np.int64)  # (T, 4) -> (4T,): S A T B S A T B ...


def from_tokens(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Note tokens (4T,) back to the grid: ``pitch`` int64 (T, 4) and ``onset`` bool (T, 4).

    A hold continues the voice's previous pitch; a hold with nothing to continue (at the
    start, or after a rest) is read as a rest. A trailing incomplete step is dropped.
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    T = len(tokens) // 4
    grid = tokens[: 4 * T].reshape(T, 4)
    pitch = np.zeros((T, 4), dtype=np.int64)
    onset = np.zeros((T, 4), dtype=bool)
    current = np.zeros(4, dtype=np.int64)
    for t in range(T):
        for v in range(4):
            tok = grid[t, v]
            if tok >= 2:
                current[v] = tok - 2 + LOWEST
                onset[t, v] = True
            elif tok == REST:
                current[v] = 0
            pitch[t, v] = current[v]
    return pitch, onset


def coarsen(chorale: Chorale, factor: int) -> Chorale:
    """The chorale on a grid ``factor`` times coarser (e.g. eighths -> quarters with 2).

    Each coarse step keeps the pitch sounding at its first fine step; it is an onset when
    a note started at any of its fine steps (a note shorter than the coarse step that
    ends before it is dropped).
    """
    if factor < 1 or chorale.steps_per_quarter % factor:
        raise ValueError(f"factor: expected a divisor of {chorale.steps_per_quarter}, got {factor}")
    T = len(chorale) // factor
    pitch = chorale.pitch[: T * factor : factor]
    onset = chorale.onset[: T * factor].reshape(T, factor, 4).any(axis=1)
    return Chorale(
        chorale.name, pitch.copy(), onset & (pitch > 0), chorale.steps_per_quarter // factor
    )


def load_chorales(steps_per_quarter: int = CACHE_RESOLUTION) -> list[Chorale]:
    """All chorales from the shipped cache, on a grid of ``steps_per_quarter`` (1 or 2).

    Needs numpy only. Chorales that are note-for-note copies of another are kept once.
    """
    if steps_per_quarter not in (1, 2):
        raise ValueError(f"steps_per_quarter: expected 1 or 2, got {steps_per_quarter!r}")
    with np.load(CACHE_FILE, allow_pickle=False) as data:
        pitch, onset, bounds = data["pitch"].astype(np.int64), data["onset"], data["bounds"]
        names = [str(n) for n in data["names"]]
    chorales = [
        Chorale(name, pitch[a:b], onset[a:b], CACHE_RESOLUTION)
        for name, a, b in zip(names, bounds[:-1], bounds[1:], strict=True)
    ]
    factor = CACHE_RESOLUTION // steps_per_quarter
    return chorales if factor == 1 else [coarsen(c, factor) for c in chorales]


def split_chorales(
    chorales: list[Chorale], test_fraction: float = 0.1, seed: int = 0
) -> tuple[list[Chorale], list[Chorale]]:
    """Whole chorales at random into (train, test), so no test chorale is seen in training."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction: expected a number in (0, 1), got {test_fraction!r}")
    order = np.random.default_rng(seed).permutation(len(chorales))
    n_test = max(1, int(round(test_fraction * len(chorales))))
    test = sorted(order[:n_test])
    train = sorted(order[n_test:])
    return [chorales[i] for i in train], [chorales[i] for i in test]


# ------------------------------------------------------------- tunes and fair splits


def melody_intervals(chorale: Chorale, n: int = 12) -> tuple[int, ...]:
    """The first ``n`` intervals (semitones) of the soprano's notes: a tune's fingerprint.

    Bach harmonised many hymn tunes more than once, and a tune may appear in another
    key; the intervals between its notes stay the same under transposition.
    """
    soprano = chorale.pitch[:, 0]
    notes = soprano[chorale.onset[:, 0] & (soprano > 0)]
    return tuple(int(d) for d in np.diff(notes[: n + 1]))


def near_identical(a: Chorale, b: Chorale, threshold: float = 0.99) -> bool:
    """True when ``b`` transposed by one interval matches ``a`` in >= ``threshold`` cells.

    A cell is one voice at one step; it matches when both rest, or both sound with
    pitches one transposition apart (a tie or a repeated note counts alike). Steps
    that only the longer chorale has count as mismatches. The transposition is the
    median pitch difference of the cells where both sound.
    """
    longest, T = max(len(a), len(b)), min(len(a), len(b))
    allowed = (1.0 - threshold) * 4 * longest  # mismatched cells allowed
    if 4 * (longest - T) > allowed:
        return False
    pa, pb = a.pitch[:T], b.pitch[:T]
    both = (pa > 0) & (pb > 0)
    if not both.any():
        return False
    shift = int(np.median(pa[both] - pb[both]))
    same = np.where(both, pa == pb + shift, (pa == 0) & (pb == 0))
    return int(np.count_nonzero(~same)) + 4 * (longest - T) <= allowed


def tune_groups(chorales: list[Chorale], n: int = 12, threshold: float = 0.99) -> list[int]:
    """One group id per chorale: the same tune (up to transposition) shares a group.

    Two chorales share a group when their sopranos open with the same ``n`` intervals
    (:func:`melody_intervals`) or when they are :func:`near_identical`, transitively.
    """
    from course_rnn.experiment import group_near_duplicates

    return group_near_duplicates(
        chorales,
        key=lambda c: melody_intervals(c, n),
        similar=lambda a, b: near_identical(a, b, threshold),
    )


def split_by_tune(
    chorales: list[Chorale],
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> tuple[list[Chorale], list[Chorale], list[Chorale]]:
    """(train, validation, test) chorales with every tune in one part only.

    Whole :func:`tune_groups` are dealt out by :func:`course_rnn.experiment.split_by_group`,
    so no harmonisation of a test tune, in any key, is seen in training.
    """
    from course_rnn.experiment import split_by_group

    split = split_by_group(tune_groups(chorales), fractions, seed=seed)
    return tuple([chorales[i] for i in part] for part in (split.train, split.val, split.test))


# ----------------------------------------------------------------------- parsing (music21)


def _music21_offline():
    """Import music21 and make sure it will not download anything (in memory only)."""
    from music21 import environment

    environment.Environment()["autoDownload"] = "deny"
    import music21

    return music21


def corpus_paths() -> list[Path]:
    """The score files of Bach chorales in music21's corpus (no analyses), sorted by name."""
    music21 = _music21_offline()
    paths = music21.corpus.getComposer("bach")
    return sorted(
        (Path(p) for p in paths if Path(p).suffix in (".mxl", ".xml", ".krn")),
        key=lambda p: p.name,
    )


def parse_chorale(path: Path | str, steps_per_quarter: int = CACHE_RESOLUTION) -> Chorale | None:
    """Read one score file with music21 onto the grid; None if it lacks one of S, A, T, B.

    A voice's token at step k is the note sounding at time k / steps_per_quarter (quarter
    notes); notes that start and end between two grid points are skipped; ties are
    merged; in a chord the highest pitch is kept.
    """
    music21 = _music21_offline()
    score = music21.converter.parse(str(path), forceSource=True)
    by_name = {}
    for part in score.parts:
        name = (part.partName or "").strip().lower()
        for voice in VOICES:
            if name.startswith(voice.lower()) and voice not in by_name:
                by_name[voice] = part
    if len(by_name) < 4:
        return None
    T = int(math.ceil(float(score.highestTime) * steps_per_quarter - 1e-9))
    pitch = np.zeros((T, 4), dtype=np.int64)
    onset = np.zeros((T, 4), dtype=bool)
    for v, voice in enumerate(VOICES):
        part = by_name[voice].stripTies()
        for element in part.flatten().notes:
            start = float(element.offset)
            end = start + float(element.duration.quarterLength)
            first = int(math.ceil(start * steps_per_quarter - 1e-9))
            last = int(math.ceil(end * steps_per_quarter - 1e-9)) - 1
            if last < first:
                continue  # a short note between two grid points, or a grace note
            midi = max(p.midi for p in element.pitches)
            pitch[first : last + 1, v] = midi
            onset[first, v] = True
    return Chorale(Path(path).stem, pitch, onset, steps_per_quarter)


def parse_corpus(paths: list[Path] | None = None) -> list[Chorale]:
    """Parse every 4-voice chorale (about two minutes); drop exact copies of an earlier one."""
    chorales, seen = [], set()
    for path in corpus_paths() if paths is None else paths:
        chorale = parse_chorale(path)
        if chorale is None:
            continue
        key = (chorale.pitch.tobytes(), chorale.onset.tobytes())
        if key in seen:
            continue
        seen.add(key)
        chorales.append(chorale)
    return chorales


def write_cache(chorales: list[Chorale], path: Path | str = CACHE_FILE) -> None:
    """Write parsed chorales to ``path`` as a compressed .npz that :func:`load_chorales` reads."""
    if any(c.steps_per_quarter != CACHE_RESOLUTION for c in chorales):
        raise ValueError(f"chorales: expected a grid of {CACHE_RESOLUTION} steps per quarter")
    pitch = np.concatenate([c.pitch for c in chorales])
    if pitch[pitch > 0].min() < LOWEST or pitch.max() > HIGHEST:
        raise ValueError(
            f"pitches {pitch[pitch > 0].min()}..{pitch.max()} fall outside "
            f"LOWEST..HIGHEST = {LOWEST}..{HIGHEST}: update the constants"
        )
    bounds = np.concatenate([[0], np.cumsum([len(c) for c in chorales])]).astype(np.int64)
    np.savez_compressed(
        path,
        pitch=pitch.astype(np.uint8),
        onset=np.concatenate([c.onset for c in chorales]),
        bounds=bounds,
        names=np.array([c.name for c in chorales]),
    )


def build_cache(path: Path | str = CACHE_FILE) -> int:
    """Parse the corpus (about two minutes) and write ``path``; return the number of chorales."""
    chorales = parse_corpus()
    write_cache(chorales, path)
    return len(chorales)


if __name__ == "__main__":  # python -m course_rnn.data.chorales: rebuild chorales.npz
    print(f"wrote {build_cache()} chorales to {CACHE_FILE}")
