"""The class similarity report on a synthetic class.

Twelve correct answers to one cell (an RNN step and the loop over a sequence), each
written independently in its own style, must not be listed; copies of two of them with
renamed variables, new comments, shuffled helper functions and reordered statements
must be. Student text on the page is escaped.
"""

from __future__ import annotations

import pytest

pytest.importorskip("copydetect")

from course_rnn.grading.similarity import (  # noqa: E402
    DISCLAIMER,
    SimilaritySettings,
    class_similarity,
    compare_cell,
    pairs_html,
    strip_template,
)

TEMPLATE = '''def rnn_step(x_t, h_prev, W_ih, W_hh, b):
    """One step: h_t = tanh(x_t W_ih^T + h_prev W_hh^T + b), shape (N, H)."""
    # YOUR CODE HERE
    raise NotImplementedError()


def rnn_forward(x, h0, W_ih, W_hh, b):
    """Run over x (N, T, D) from h0 (N, H); return h_1..h_T as (N, T, H)."""
    # YOUR CODE HERE
    raise NotImplementedError()
'''

HEAD_STEP = '''def rnn_step(x_t, h_prev, W_ih, W_hh, b):
    """One step: h_t = tanh(x_t W_ih^T + h_prev W_hh^T + b), shape (N, H)."""
'''
HEAD_FORWARD = '''def rnn_forward(x, h0, W_ih, W_hh, b):
    """Run over x (N, T, D) from h0 (N, H); return h_1..h_T as (N, T, H)."""
'''

# Twelve students, twelve styles: each answer written on its own.
INDEPENDENT = {
    "ada": HEAD_STEP
    + "    return np.tanh(x_t @ W_ih.T + h_prev @ W_hh.T + b)\n\n\n"
    + HEAD_FORWARD
    + """    hs = []
    h = h0
    for t in range(x.shape[1]):
        h = rnn_step(x[:, t, :], h, W_ih, W_hh, b)
        hs.append(h)
    return np.stack(hs, axis=1)
""",
    "ben": HEAD_STEP
    + """    a = np.dot(x_t, W_ih.T)
    a += np.dot(h_prev, W_hh.T)
    a += b
    return np.tanh(a)
"""
    + "\n\n"
    + HEAD_FORWARD
    + """    N, T, D = x.shape
    H = h0.shape[1]
    out = np.zeros((N, T, H))
    h = h0
    for t in range(T):
        h = rnn_step(x[:, t], h, W_ih, W_hh, b)
        out[:, t] = h
    return out
""",
    "chen": HEAD_STEP
    + """    # input part and recurrent part, then squash
    from_input = x_t @ W_ih.transpose()
    from_state = h_prev @ W_hh.transpose()
    return np.tanh(from_input + from_state + b[None, :])
"""
    + "\n\n"
    + HEAD_FORWARD
    + """    states = np.empty((x.shape[0], x.shape[1], h0.shape[-1]), dtype=x.dtype)
    state = h0.copy()
    t = 0
    while t < x.shape[1]:
        state = rnn_step(x[:, t, :], state, W_ih, W_hh, b)
        states[:, t, :] = state
        t += 1
    return states
""",
    "dana": HEAD_STEP
    + """    z = np.einsum("nd,hd->nh", x_t, W_ih) + np.einsum("nk,hk->nh", h_prev, W_hh)
    return np.tanh(z + b)
"""
    + "\n\n"
    + HEAD_FORWARD
    + """    h, result = h0, []
    for x_t in np.moveaxis(x, 1, 0):
        h = rnn_step(x_t, h, W_ih, W_hh, b)
        result.append(h[:, None, :])
    return np.concatenate(result, axis=1)
""",
    "emil": HEAD_STEP
    + """    pre_activation = np.matmul(x_t, W_ih.T) + np.matmul(h_prev, W_hh.T) + b
    h_t = np.tanh(pre_activation)
    return h_t
"""
    + "\n\n"
    + HEAD_FORWARD
    + """    T = x.shape[1]
    hidden = [None] * T
    h_t = h0
    for step in range(T):
        h_t = rnn_step(x[:, step], h_t, W_ih, W_hh, b)
        hidden[step] = h_t
    return np.array(hidden).transpose(1, 0, 2)
""",
    "fatima": HEAD_STEP
    + """    return np.tanh((x_t @ W_ih.T) + (h_prev @ W_hh.T) + b)
"""
    + "\n\n"
    + HEAD_FORWARD
    + """    outputs = np.zeros(x.shape[:2] + (W_hh.shape[0],))
    h = h0
    for i, x_i in enumerate(x.swapaxes(0, 1)):
        h = rnn_step(x_i, h, W_ih, W_hh, b)
        outputs[:, i, :] = h
    return outputs
""",
    "gus": HEAD_STEP
    + """    Wx = x_t.dot(W_ih.T)
    Wh = h_prev.dot(W_hh.T)
    s = Wx + Wh + b
    return np.tanh(s)
"""
    + "\n\n"
    + HEAD_FORWARD
    + """    n_batch, n_steps, _ = x.shape
    n_hidden = len(b)
    H = np.zeros((n_batch, n_steps, n_hidden))
    prev = h0
    for k in range(n_steps):
        prev = rnn_step(x[:, k, :], prev, W_ih, W_hh, b)
        H[:, k, :] = prev
    return H
""",
    "hana": HEAD_STEP
    + """    stacked_w = np.concatenate([W_ih, W_hh], axis=1)
    stacked_in = np.concatenate([x_t, h_prev], axis=1)
    return np.tanh(stacked_in @ stacked_w.T + b)
"""
    + "\n\n"
    + HEAD_FORWARD
    + """    seq = []
    cur = h0
    for xt in [x[:, j] for j in range(x.shape[1])]:
        cur = rnn_step(xt, cur, W_ih, W_hh, b)
        seq += [cur]
    return np.stack(seq, 1)
""",
    "ivan": HEAD_STEP
    + """    out = x_t @ W_ih.T
    out = out + h_prev @ W_hh.T
    out = out + b
    out = np.tanh(out)
    return out
"""
    + "\n\n"
    + HEAD_FORWARD
    + """    all_h = np.zeros((x.shape[0], x.shape[1], h0.shape[1]))
    for t in range(x.shape[1]):
        prev_h = h0 if t == 0 else all_h[:, t - 1]
        all_h[:, t] = rnn_step(x[:, t], prev_h, W_ih, W_hh, b)
    return all_h
""",
    "jun": HEAD_STEP
    + """    # (N, D) x (D, H) + (N, H) x (H, H) + (H,)
    return np.tanh(x_t.dot(W_ih.T) + h_prev.dot(W_hh.T) + b.reshape(1, -1))
"""
    + "\n\n"
    + HEAD_FORWARD
    + """    def step_all(carry, inputs):
        return rnn_step(inputs, carry, W_ih, W_hh, b)

    collected = []
    carry = h0
    for t in range(x.shape[1]):
        carry = step_all(carry, x[:, t])
        collected.append(carry)
    return np.transpose(np.array(collected), (1, 0, 2))
""",
    "kemal": HEAD_STEP
    + """    lin = x_t @ W_ih.T + b
    lin += h_prev @ W_hh.T
    return np.tanh(lin)
"""
    + "\n\n"
    + HEAD_FORWARD
    + """    N = x.shape[0]
    steps = x.shape[1]
    hidden_size = W_hh.shape[1]
    res = np.zeros((N, steps, hidden_size))
    h_cur = h0
    for idx in range(steps):
        x_now = x[:, idx, :]
        h_cur = rnn_step(x_now, h_cur, W_ih, W_hh, b)
        res[:, idx, :] = h_cur
    return res
""",
    "lea": HEAD_STEP
    + """    u = np.tensordot(x_t, W_ih, axes=([1], [1]))
    v = np.tensordot(h_prev, W_hh, axes=([1], [1]))
    return np.tanh(u + v + b)
"""
    + "\n\n"
    + HEAD_FORWARD
    + """    hiddens = []
    for t in range(x.shape[1]):
        previous = hiddens[-1] if hiddens else h0
        hiddens.append(rnn_step(x[:, t], previous, W_ih, W_hh, b))
    return np.stack(hiddens).swapaxes(0, 1)
""",
}

# A longer answer, with helper functions, that two others copy.
ORIGINAL = (
    HEAD_STEP
    + '''    pre = affine(x_t, W_ih, b) + affine(h_prev, W_hh)
    return squash(pre)


def affine(inputs, weight, bias=None):
    """inputs (N, D) times weight (H, D) transposed, plus an optional bias (H,)."""
    result = inputs @ weight.T
    if bias is not None:
        result = result + bias
    return result


def squash(values, clip=20.0):
    """tanh, computed on clipped values so that exp never overflows."""
    values = np.clip(values, -clip, clip)
    e_pos, e_neg = np.exp(values), np.exp(-values)
    return (e_pos - e_neg) / (e_pos + e_neg)


'''
    + HEAD_FORWARD
    + """    batch, length = x.shape[0], x.shape[1]
    history = np.zeros((batch, length, h0.shape[1]))
    state = h0
    for position in range(length):
        state = rnn_step(x[:, position, :], state, W_ih, W_hh, b)
        history[:, position, :] = state
    return history
"""
)

# Renamed variables and new comments; the same statements.
RENAMED = (
    HEAD_STEP
    + """    # combine the input and the previous state
    z = lin(x_t, W_ih, b) + lin(h_prev, W_hh)
    return my_tanh(z)


def lin(a, w, c=None):
    # a @ w^T (+ c)
    r = a @ w.T
    if c is not None:
        r = r + c
    return r


def my_tanh(v, limit=20.0):
    # stable tanh
    v = np.clip(v, -limit, limit)
    p, q = np.exp(v), np.exp(-v)
    return (p - q) / (p + q)


"""
    + HEAD_FORWARD
    + """    n, steps = x.shape[0], x.shape[1]
    hs = np.zeros((n, steps, h0.shape[1]))
    cur = h0
    for i in range(steps):
        cur = rnn_step(x[:, i, :], cur, W_ih, W_hh, b)
        hs[:, i, :] = cur
    return hs
"""
)

# The helpers moved above the step and swapped, variables renamed, two statements swapped.
SHUFFLED = (
    '''def tanh_safe(arr, bound=20.0):
    """A tanh that cannot overflow."""
    arr = np.clip(arr, -bound, bound)
    plus, minus = np.exp(arr), np.exp(-arr)
    return (plus - minus) / (plus + minus)


def project(m, mat, shift=None):
    out = m @ mat.T
    if shift is not None:
        out = out + shift
    return out


'''
    + HEAD_FORWARD
    + """    bsz, tlen = x.shape[0], x.shape[1]
    cur = h0
    seq = np.zeros((bsz, tlen, h0.shape[1]))
    for k in range(tlen):
        cur = rnn_step(x[:, k, :], cur, W_ih, W_hh, b)
        seq[:, k, :] = cur
    return seq


"""
    + HEAD_STEP
    + """    total = project(x_t, W_ih, b) + project(h_prev, W_hh)
    return tanh_safe(total)
"""
)


def _listed(report) -> set[frozenset[str]]:
    return {frozenset((p.student_a, p.student_b)) for p in report.pairs}


def _class(extra: dict[str, str] | None = None) -> dict[str, dict[tuple[str, str], str]]:
    answers = dict(INDEPENDENT)
    answers.update(extra or {})
    return {student: {("nb", "rnn"): code} for student, code in answers.items()}


CELLS = [("nb", "rnn", TEMPLATE)]


def test_the_independent_solutions_run_and_agree():
    """The corpus is real: every answer, copies included, computes the same states."""
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(0)
    N, T, D, H = 3, 5, 4, 6
    x, h0 = rng.normal(size=(N, T, D)), rng.normal(size=(N, H))
    W_ih, W_hh, b = rng.normal(size=(H, D)), rng.normal(size=(H, H)), rng.normal(size=H)
    expected = None
    for name, code in {**INDEPENDENT, "orig": ORIGINAL, "ren": RENAMED, "shuf": SHUFFLED}.items():
        scope = {"np": np}
        exec(compile(code, name, "exec"), scope)  # noqa: S102 - the test's own corpus
        got = scope["rnn_forward"](x, h0, W_ih, W_hh, b)
        if expected is None:
            expected = got
        assert got.shape == (N, T, H), name
        assert np.allclose(got, expected), name


def test_independent_correct_solutions_are_not_listed():
    report = class_similarity(CELLS, _class())
    assert report.pairs == [], [(p.student_a, p.student_b, p.similarity) for p in report.pairs]


def test_copies_with_renamed_variables_and_shuffled_helpers_are_listed():
    report = class_similarity(
        CELLS, _class({"orig": ORIGINAL, "renamed": RENAMED, "shuffled": SHUFFLED})
    )
    listed = _listed(report)
    assert frozenset(("orig", "renamed")) in listed
    assert frozenset(("orig", "shuffled")) in listed
    assert frozenset(("renamed", "shuffled")) in listed
    # ... and nobody else: the twelve stay unlisted next to the copies.
    assert listed == {
        frozenset(("orig", "renamed")),
        frozenset(("orig", "shuffled")),
        frozenset(("renamed", "shuffled")),
    }
    pair = next(p for p in report.pairs if {p.student_a, p.student_b} == {"orig", "renamed"})
    assert pair.similarity >= report.settings.threshold
    # The shared parts are marked in both answers, inside the code as compared.
    for code, spans in ((pair.code_a, pair.spans_a), (pair.code_b, pair.spans_b)):
        assert spans and all(0 <= s < e <= len(code) for s, e in spans)
        assert sum(e - s for s, e in spans) > 0.5 * len(code)


def test_the_same_class_gives_the_same_report():
    """Fingerprints do not use Python's salted hash: the numbers are reproducible."""
    students = _class({"orig": ORIGINAL, "renamed": RENAMED, "shuffled": SHUFFLED})
    first = class_similarity(CELLS, students)
    second = class_similarity(CELLS, dict(reversed(list(students.items()))))
    assert [(p.student_a, p.student_b, p.similarity) for p in first.pairs] == [
        (p.student_a, p.student_b, p.similarity) for p in second.pairs
    ]


def test_a_one_line_answer_everyone_shares_is_never_compared():
    template = 'def project(x, W):\n    """x (N, D) times W (H, D) transposed."""\n'
    template += "    # YOUR CODE HERE\n    raise NotImplementedError()\n"
    answer = 'def project(x, W):\n    """x (N, D) times W (H, D) transposed."""\n'
    answer += "    return x @ W.T\n"
    found, prepared = compare_cell({s: answer for s in "abcdef"}, template)
    assert found == [] and prepared == {}
    # The same identical answers, long enough, would be listed: the minimum is what spares them.
    found, _ = compare_cell(
        {s: answer for s in "ab"},
        template,
        SimilaritySettings(min_answer=1, min_region=1, min_shared=1, k=5, window=2),
    )
    assert len(found) == 1


def test_template_lines_are_removed_before_comparing():
    kept = strip_template(HEAD_STEP + "    return np.tanh(a)\n", TEMPLATE)
    assert kept == "    return np.tanh(a)"


def test_student_text_on_the_page_is_escaped():
    hostile = ORIGINAL.replace(
        "    return history\n",
        '    print("</code></pre><script>alert(1)</script><img src=x onerror=alert(2)>")\n'
        "    return history\n",
    )
    report = class_similarity(
        CELLS,
        {
            "<script>alert('id')</script>": {("nb", "rnn"): hostile},
            "b": {("nb", "rnn"): hostile},
        },
    )
    assert len(report.pairs) == 1
    page = pairs_html(report)
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;script&gt;alert(&#x27;id&#x27;)&lt;/script&gt;" in page
    assert 'class="shared"' in page
    assert "not a verdict" in DISCLAIMER


def test_a_huge_answer_is_cut_before_it_is_compared():
    huge = "".join(f"value_{i} = compute(value_{i - 1}, {i})\n" for i in range(1, 40_000))
    settings = SimilaritySettings(max_chars=5_000)
    found, prepared = compare_cell({"a": huge, "b": huge}, TEMPLATE, settings)
    assert set(prepared) == {"a", "b"}
    assert all(len(answer.code) <= 5_000 for answer in prepared.values())
    assert len(found) == 1  # still compared: the cut parts are the same
