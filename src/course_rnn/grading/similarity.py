"""Pairwise similarity of autograded answers across a class: evidence to read, not a verdict.

For every autograded answer cell (nbgrader ``solution: true``, not graded itself: the
code the tests run), each student's answer is compared with every other student's:

1. the released template is removed: lines of the answer equal to a line of the cell as
   released (signature, docstring, ``# YOUR CODE HERE``) are dropped, and k-grams of the
   template are ignored;
2. the rest is tokenized by copydetect's tokenizer (pygments): comments and whitespace
   are dropped, every variable, attribute and function name becomes one letter
   (``V``, ``F``), string contents become ``S``. Renaming variables changes nothing;
3. copydetect's winnowing (Schleimer, Wilkerson and Aiken, 2003: the algorithm of MOSS)
   keeps a few fingerprints per window of k-grams. Fingerprints are sets, so reordered
   statements and shuffled helper functions still match. Hashes are BLAKE2 of the
   k-gram (not Python's salted ``hash``), so two runs give the same report;
4. what any correct solution shares is not evidence: a fingerprint found in many
   students' answers (``common_fraction`` of the class, at least ``common_min``) is
   ignored, an answer shorter than ``min_answer`` normalised characters is never
   compared, and a shared region shorter than ``min_region`` does not count.

A pair is listed when the shared part is at least ``min_shared`` characters and covers
at least ``threshold`` of either answer's distinctive code.

Short answers are never evidence alone, but a whole submission alike is: two students
whose every answer cell (code and written, short or long; template lines, comments,
case and spacing ignored) is identical, or at least ``whole_ratio`` alike
(``difflib``'s ratio) cell by cell, are listed apart as whole submissions alike, when
each answered at least ``whole_min`` characters beyond the template. Two students who worked
from the same lecture example, or one who helped another understand, look alike too:
the report says so on the page.
"""

from __future__ import annotations

import difflib
import hashlib
import html
import math
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

__all__ = [
    "SimilarPair",
    "SimilarityReport",
    "SimilaritySettings",
    "WholeMatch",
    "class_similarity",
    "whole_submissions",
]


@dataclass(frozen=True)
class SimilaritySettings:
    """The knobs of the comparison; sizes are characters of normalised code."""

    k: int = 25  # k-gram length (copydetect's default noise threshold)
    window: int = 6  # winnowing window: any shared run of k + window - 1 = 30 is seen
    min_answer: int = 100  # shorter answers (template removed) are never compared
    min_region: int = 25  # shorter shared regions do not count (25: one whole k-gram)
    min_shared: int = 80  # a listed pair shares at least this much, all regions together
    threshold: float = 0.5  # fraction of either answer's distinctive code that is shared
    common_fraction: float = 0.25  # fingerprints in more of the class are not evidence
    common_min: int = 4  # ... but always allow this many students to share one
    max_pairs: int = 50  # pairs listed per cell (the most similar first)
    max_chars: int = 50_000  # characters of an answer compared (a huge cell is cut)
    whole_ratio: float = 0.9  # whole submissions: every answer cell at least this alike
    whole_min: int = 40  # ... each having answered this much beyond the template


@dataclass
class _Answer:
    student: str
    code: str  # the answer with template lines removed
    filtered: str  # normalised
    offsets: np.ndarray
    positions: dict[int, list[int]]  # fingerprint -> start indices in ``filtered``
    coverage: int = 0  # normalised characters covered by kept fingerprints


@dataclass
class SimilarPair:
    """Two students' answers to one cell that share much distinctive code."""

    notebook: str
    grade_id: str
    student_a: str
    student_b: str
    similarity: float  # the larger of the two fractions
    fraction_a: float  # of a's distinctive code shared with b
    fraction_b: float
    shared: int  # normalised characters shared (in a)
    code_a: str  # answers as compared (template removed)
    code_b: str
    spans_a: list[tuple[int, int]] = field(default_factory=list)  # shared parts of code_a
    spans_b: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class WholeMatch:
    """Two students whose whole submissions are identical or nearly so."""

    student_a: str
    student_b: str
    identical: bool  # every answer cell the same (normalised)
    cells: int  # answer cells compared
    least: float  # the lowest likeness of one cell (1.0 when identical)


@dataclass
class SimilarityReport:
    """The pairs listed, and what was compared (for the page)."""

    settings: SimilaritySettings
    pairs: list[SimilarPair] = field(default_factory=list)
    whole: list[WholeMatch] = field(default_factory=list)  # whole submissions alike
    cells: dict[str, int] = field(default_factory=dict)  # "nb/grade_id" -> answers compared
    unlisted: dict[str, int] = field(default_factory=dict)  # pairs over the cap, per cell


def strip_template(code: str, template: str) -> str:
    """``code`` without the lines it has in common with the released ``template``."""
    released = {line.strip() for line in template.splitlines() if line.strip()}
    kept = [line for line in code.splitlines() if line.strip() not in released]
    return "\n".join(kept).strip("\n")


def _normalise(code: str) -> tuple[str, np.ndarray]:
    from copydetect.utils import filter_code

    try:
        filtered, offsets = filter_code(code, "answer.py", "python")
    except Exception:  # noqa: BLE001 - pygments on hostile text: compare nothing
        return "", np.array([])
    return filtered, offsets


def _kgram_hashes(text: str, k: int) -> np.ndarray:
    """Deterministic 64-bit hashes of every k-gram (copydetect uses the salted ``hash``)."""
    hashes = [
        int.from_bytes(
            hashlib.blake2b(text[i : i + k].encode("utf-8", "replace"), digest_size=8).digest(),
            "little",
            signed=True,
        )
        for i in range(len(text) - k + 1)
    ]
    return np.array(hashes, dtype=np.int64)


def _fingerprints(filtered: str, s: SimilaritySettings) -> tuple[np.ndarray, np.ndarray]:
    from copydetect.utils import winnow

    hashes = _kgram_hashes(filtered, s.k)
    if len(hashes) == 0:
        return hashes, np.array([], dtype=int)
    return winnow(hashes, window_size=s.window, remove_duplicates=False)


def _original_spans(answer: _Answer, slices: np.ndarray) -> list[tuple[int, int]]:
    """Map slices of the normalised code back to character spans of ``answer.code``
    (copydetect's ``compare_files`` does the same with the tokenizer's offsets)."""
    if slices.size == 0:
        return []
    mapped = slices.astype(np.int64).copy()
    if len(answer.offsets) > 0:
        offsets = answer.offsets
        at = np.clip(np.searchsorted(offsets[:, 0], mapped), 0, offsets.shape[0] - 1)
        mapped += offsets[:, 1][at]
    code, n = answer.code, len(answer.code)
    spans = []
    for a, b in zip(mapped[0].tolist(), mapped[1].tolist(), strict=True):
        start, end = min(a, n), min(b, n)
        # Whole words: a k-gram may begin or end inside a name or keyword.
        while 0 < start < n and _word(code[start - 1]) and _word(code[start]):
            start -= 1
        while 0 < end < n and _word(code[end - 1]) and _word(code[end]):
            end += 1
        if end > start:
            spans.append((start, end))
    return spans


def _word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _shared_slices(a: _Answer, b: _Answer, s: SimilaritySettings) -> np.ndarray:
    from copydetect.utils import get_copied_slices

    common = set(a.positions).intersection(b.positions)
    if not common:
        return np.zeros((2, 0), dtype=np.int64)
    idx = np.concatenate([np.array(a.positions[h]) for h in sorted(common)])
    slices = np.asarray(get_copied_slices(idx, s.k), dtype=np.int64)
    keep = (slices[1] - slices[0]) >= s.min_region
    return slices[:, keep]


def _coverage(positions: dict[int, list[int]], k: int, length: int) -> int:
    covered = np.zeros(length, dtype=bool)
    for starts in positions.values():
        for start in starts:
            covered[start : start + k] = True
    return int(covered.sum())


def compare_cell(
    answers: dict[str, str], template: str, settings: SimilaritySettings | None = None
) -> tuple[list[tuple[str, str, float, float, int, np.ndarray, np.ndarray]], dict]:
    """Compare one cell's answers (student -> source); return the listed pairs' raw data
    and the prepared answers (student -> :class:`_Answer`)."""
    s = settings or SimilaritySettings()
    template_filtered, _ = _normalise(template)
    boilerplate = set(_kgram_hashes(template_filtered, s.k).tolist())
    prepared: dict[str, _Answer] = {}
    kept_hashes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for student in sorted(answers):
        code = strip_template((answers[student] or "")[: s.max_chars], template)
        filtered, offsets = _normalise(code)
        if len(filtered) < s.min_answer:
            continue
        hashes, idx = _fingerprints(filtered, s)
        prepared[student] = _Answer(student, code, filtered, offsets, {})
        kept_hashes[student] = (hashes, idx)
    # How many students have each fingerprint: the common ones are not evidence.
    students_with: dict[int, int] = {}
    for hashes, _ in kept_hashes.values():
        for h in set(hashes.tolist()):
            students_with[h] = students_with.get(h, 0) + 1
    limit = max(s.common_min, math.ceil(s.common_fraction * len(prepared)))
    for student, (hashes, idx) in kept_hashes.items():
        answer = prepared[student]
        for h, i in zip(hashes.tolist(), idx.tolist(), strict=True):
            if h in boilerplate or students_with[h] > limit:
                continue
            answer.positions.setdefault(h, []).append(i)
        answer.coverage = _coverage(answer.positions, s.k, len(answer.filtered))
    found = []
    keys = {student: frozenset(answer.positions) for student, answer in prepared.items()}
    for a, b in combinations(sorted(prepared), 2):
        first, second = prepared[a], prepared[b]
        # n shared fingerprints cover at most n * k characters: most pairs stop here.
        if len(keys[a] & keys[b]) * s.k < s.min_shared:
            continue
        if not first.coverage or not second.coverage:
            continue
        slices_a = _shared_slices(first, second, s)
        slices_b = _shared_slices(second, first, s)
        shared_a = int((slices_a[1] - slices_a[0]).sum()) if slices_a.size else 0
        shared_b = int((slices_b[1] - slices_b[0]).sum()) if slices_b.size else 0
        if min(shared_a, shared_b) < s.min_shared:
            continue
        frac_a = min(1.0, shared_a / first.coverage)
        frac_b = min(1.0, shared_b / second.coverage)
        if max(frac_a, frac_b) < s.threshold:
            continue
        found.append((a, b, frac_a, frac_b, shared_a, slices_a, slices_b))
    return found, prepared


def class_similarity(
    cells: list[tuple[str, str, str]],
    answers: dict[str, dict[tuple[str, str], str]],
    settings: SimilaritySettings | None = None,
) -> SimilarityReport:
    """Compare every cell in ``cells`` ((notebook, grade_id, released source)) across
    ``answers`` (student -> (notebook, grade_id) -> source); pairs most similar first."""
    s = settings or SimilaritySettings()
    report = SimilarityReport(s)
    for notebook, grade_id, template in cells:
        per_student = {
            student: given[(notebook, grade_id)]
            for student, given in answers.items()
            if isinstance(given.get((notebook, grade_id)), str)
        }
        found, prepared = compare_cell(per_student, template, s)
        key = f"{notebook}/{grade_id}"
        report.cells[key] = len(prepared)
        found.sort(key=lambda f: (-max(f[2], f[3]), f[0], f[1]))
        if len(found) > s.max_pairs:
            report.unlisted[key] = len(found) - s.max_pairs
        for a, b, frac_a, frac_b, shared, slices_a, slices_b in found[: s.max_pairs]:
            report.pairs.append(
                SimilarPair(
                    notebook,
                    grade_id,
                    a,
                    b,
                    round(max(frac_a, frac_b), 4),
                    round(frac_a, 4),
                    round(frac_b, 4),
                    shared,
                    prepared[a].code,
                    prepared[b].code,
                    _original_spans(prepared[a], slices_a),
                    _original_spans(prepared[b], slices_b),
                )
            )
    report.whole = whole_submissions(cells, answers, s)
    return report


def _plain(text: str, template: str) -> str:
    """An answer for the whole-submission comparison: template lines and comment lines
    dropped, case and spacing ignored."""
    kept = [
        line
        for line in strip_template(text[:50_000], template).splitlines()
        if not line.strip().startswith("#")
    ]
    return " ".join(" ".join(kept).lower().split())


def whole_submissions(
    cells: list[tuple[str, str, str]],
    answers: dict[str, dict[tuple[str, str], str]],
    settings: SimilaritySettings | None = None,
) -> list[WholeMatch]:
    """Pairs of students whose every answer cell is identical or nearly identical.

    Every cell found in ``answers`` is compared (the written answers too); ``cells``
    gives the released templates it knows. A student who answered less than
    ``whole_min`` characters beyond the templates (a blank submission) is left out:
    two blank notebooks alike are no evidence.
    """
    s = settings or SimilaritySettings()
    templates = {(nb, gid): template for nb, gid, template in cells}
    keys = sorted({key for given in answers.values() for key in given})
    plain: dict[str, tuple[str, ...]] = {}
    for student, given in sorted(answers.items()):
        texts = tuple(
            _plain(given[k], templates.get(k, "")) if isinstance(given.get(k), str) else ""
            for k in keys
        )
        if sum(len(t) for t in texts) >= s.whole_min:
            plain[student] = texts
    found = []
    for a, b in combinations(sorted(plain), 2):
        if plain[a] == plain[b]:
            found.append(WholeMatch(a, b, True, len(keys), 1.0))
            continue
        least = 1.0
        for x, y in zip(plain[a], plain[b], strict=True):
            if x == y:
                continue
            matcher = difflib.SequenceMatcher(None, x, y, autojunk=False)
            if matcher.real_quick_ratio() < s.whole_ratio or matcher.quick_ratio() < s.whole_ratio:
                least = 0.0
                break
            least = min(least, matcher.ratio())
            if least < s.whole_ratio:
                break
        if least >= s.whole_ratio:
            found.append(WholeMatch(a, b, False, len(keys), round(least, 4)))
    return found


def answers_by_student(outcomes: dict) -> dict[str, dict[tuple[str, str], str]]:
    """student -> (notebook, grade_id) -> answer source, from the pipeline's outcomes."""
    out: dict[str, dict[tuple[str, str], str]] = {}
    for student, outcome in outcomes.items():
        given = out.setdefault(student, {})
        for name, result in outcome.notebooks.items():
            for gid, source in result.answers.items():
                if isinstance(source, str):
                    given[(name, gid)] = source
    return out


def answer_cells(info) -> list[tuple[str, str, str]]:
    """(notebook, grade_id, released source) of every autograded answer cell of ``info``
    (an :class:`~course_rnn.grading.gradebook.AssignmentInfo`): nbgrader only lets code
    cells be ungraded solution cells."""
    return [
        (name, cell.grade_id, cell.released)
        for name, cells in info.notebooks.items()
        for cell in cells
        if cell.scoring == "answer"
    ]


# ---------------------------------------------------------------- the page
DISCLAIMER = (
    "These pairs are evidence for an instructor to read, not a verdict. Similar code can "
    "have innocent causes: a short task with few ways to write it, a worked example from "
    "the lecture, students who studied together. Read both answers before you talk to "
    "anyone, and never act on the number alone."
)

SIMILARITY_STYLE = (
    # minmax(0, 1fr): a long line scrolls inside its column instead of widening it
    # (with 1fr a column is at least as wide as its longest line, and the second one
    # is pushed off the page).
    ".pair{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:.5rem;"
    "margin-bottom:1.5rem}.pair>div{min-width:0}"
    ".pair pre{background:#f6f6f6;padding:.5rem;overflow-x:auto;font-size:.8rem;margin:0}"
    ".shared{background:#ffd54f;font-weight:bold}"
)


def _highlighted(code: str, spans: list[tuple[int, int]]) -> str:
    """``code`` HTML-escaped, the spans wrapped in ``<span class="shared">``."""
    out, at = [], 0
    for start, end in sorted(spans):
        start = max(start, at)
        if end <= start:
            continue
        out.append(html.escape(code[at:start]))
        out.append(f'<span class="shared">{html.escape(code[start:end])}</span>')
        at = end
    out.append(html.escape(code[at:]))
    return "".join(out)


def pairs_html(report: SimilarityReport, limit_chars: int = 20_000) -> str:
    """The listed pairs side by side, shared parts highlighted; every piece of student
    text (ids, code) goes through ``html.escape``."""
    from course_rnn.grading.markup import one_line

    e = html.escape
    parts = []
    for pair in report.pairs:
        codes = []
        for student, code, spans, fraction in (
            (pair.student_a, pair.code_a, pair.spans_a, pair.fraction_a),
            (pair.student_b, pair.code_b, pair.spans_b, pair.fraction_b),
        ):
            cut = code[:limit_chars]
            codes.append(
                f"<div><p><strong>{e(one_line(student, 80))}</strong>: {100 * fraction:.0f}% "
                f"shared</p><pre><code>{_highlighted(cut, spans)}"
                f"{'…' if len(code) > limit_chars else ''}</code></pre></div>"
            )
        parts.append(
            f"<h3>{e(one_line(pair.notebook, 80))} / {e(one_line(pair.grade_id, 80))}: "
            f"{e(one_line(pair.student_a, 80))} and {e(one_line(pair.student_b, 80))} "
            f"({100 * pair.similarity:.0f}%)</h3>\n"
            f'<div class="pair">{"".join(codes)}</div>'
        )
    return "\n".join(parts)
