"""The exercises' visible tests: they cannot be copied, nor fooled by a notebook's globals,
and the mistakes they exist for fail them through the real harness.

- No visible test cell carries a reference computation of an answer: a visible test
  (its text without the hidden-test blocks) shares no long run of normalised tokens with
  any answer cell (the matcher of tests/test_book.py, which keeps chapters from printing
  answers). References live in the hidden tests; visible tests compare with library
  functions, stored values or properties.
- A visible test's sizes differ from the notebook's globals: an answer rewritten to read
  a global (``H``, ``T``, ``MAX_LEN``) instead of its argument's size fails a visible test.
- A mistake a visible test exists for fails that test under ``course-rnn check`` (the
  harness that calls student code through the sandbox's proxy), not only in a plain
  kernel: arguments reach student functions as copies there, so a test of an in-place
  effect must observe it where it happens.

The last two plant a change in a copy of the solution notebook and run
:func:`course_rnn.check.check_notebook` on it, with one warm runner for all cases.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import nbformat
import pytest
from test_book import MIN_SHARED_TOKENS, answer_code, shared_code

from course_rnn.check import check_notebook, strip_hidden_tests
from course_rnn.release import available_assignments

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = available_assignments(ROOT)


def _meta(cell: nbformat.NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _is_test(cell: nbformat.NotebookNode) -> bool:
    meta = _meta(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


# Seeding a generator is set-up, not an answer: such lines are left out on both sides.
_SEEDING = re.compile(r"^\s*(torch\.manual_seed|np\.random\.seed)\([^()]*\)\s*$", re.M)


def copied_answers(solutions: Path, name: str) -> list[str]:
    """Runs of one of ``name``'s answers in a visible test of ``name``: 'test id <- answer
    id: tokens' for each.

    Only the notebook's own answers are compared: with names normalised to ``ID``, a
    16-token run of another assignment's answer matches generic shapes (slicing, a seeded
    generator) that give nothing away, and a student reads the tests of their own notebook.
    """
    nb = nbformat.read(solutions / name / f"{name}.ipynb", as_version=4)
    answers = [
        (f"{name}/{_meta(cell)['grade_id']}", answer_code(cell.source))
        for cell in nb.cells
        if cell.cell_type == "code" and _meta(cell).get("solution")
    ]
    found = []
    for cell in filter(_is_test, nb.cells):
        visible = _SEEDING.sub("", strip_hidden_tests(cell.source))
        for answer_id, code in answers:
            for run in shared_code(_SEEDING.sub("", code), [visible], MIN_SHARED_TOKENS):
                found.append(f"{_meta(cell)['grade_id']} <- {answer_id}: {run[:160]}")
    return found


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_no_visible_test_contains_an_answer(name):
    found = copied_answers(ROOT / "solutions", name)
    assert not found, (
        f"{name}: a visible test shares {MIN_SHARED_TOKENS}+ normalised tokens with an "
        "answer; compare with stored values or properties and move the reference into the "
        "hidden tests:\n" + "\n".join(found)
    )


def test_a_reference_answer_in_a_visible_test_is_found(tmp_path):
    """The copy check catches what it exists for: a visible test of 09 given a renamed
    copy of its own decoder step's answer (the old ``_step_case``)."""
    name = "09_seq2seq_attention"
    nb = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
    answer = next(c for c in nb.cells if _meta(c).get("grade_id") == "decoder_step")
    code = answer_code(answer.source)
    renamed = re.sub(r"\bs_prev\b", "state", code)
    test = next(c for c in nb.cells if _is_test(c))
    test.source += "\n\ndef _reference(dec, y, state, annotations, mask):\n"
    test.source += textwrap.indent(renamed, "    ") + "\n"
    (tmp_path / name).mkdir()
    nbformat.write(nb, tmp_path / name / f"{name}.ipynb")
    found = copied_answers(tmp_path, name)
    assert any(f"{name}/decoder_step" in line for line in found), found


# ---------------------------------------------------------------------------------------
# Planted changes, run through course-rnn check
# ---------------------------------------------------------------------------------------
# (assignment, answer cell, text, replacement, visible tests that must fail, words one of
# their messages must contain or None)
GLOBAL_READERS = {
    # Notebook globals: N, T, D, H = 2, 5, 3, 4.
    "02-sequence-reads-N-T": (
        "02_rnn_forward",
        "rnn_forward",
        "N, T, _ = x.shape",
        "_ = x.shape",
        {"test_rnn_forward"},
        None,
    ),
    # Notebook globals: x_train, y_train, x_test, y_test (the digits).
    "03-prediction-reads-x_test": (
        "03_rnn_types",
        "train_digits",
        "torch.as_tensor(images, dtype=torch.float32, device=device)",
        "torch.as_tensor(x_test, dtype=torch.float32, device=device)",
        {"test_digits_accuracy"},
        "not the global x_test",
    ),
    # Notebook globals: T = 50 (the task's length), x_val, y_val (500 sequences).
    "07-prediction-reads-x_val": (
        "07_project",
        "project_model",
        "model(torch.as_tensor(x, dtype=torch.float32, device=device))",
        "model(torch.as_tensor(x_val, dtype=torch.float32, device=device))",
        {"test_beats_baseline", "test_reaches_target"},
        "predictions for the global x_val",
    ),
    # Notebook globals: N, T, D, H = 2, 6, 3, 4.
    "04-backward-starts-from-N-H": (
        "04_bptt",
        "rnn_backward",
        "from_later = np.zeros_like(hs[:, 0])",
        "from_later = np.zeros((N, H))",
        {"test_rnn_backward"},
        None,
    ),
    "04-truncation-reads-T": (
        "04_bptt",
        "truncated_bptt",
        "for start in range(0, x.shape[1], k):",
        "for start in range(0, T, k):",
        {"test_truncated_bptt"},
        None,
    ),
    # Notebook globals: N, T, D, H = 2, 5, 3, 4.
    "06-lstm-step-reads-H": (
        "06_lstm_gru",
        "lstm_cell_forward",
        "a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)  # each (N, H)",
        "a_i, a_f, a_g, a_o = (a[:, k * H : (k + 1) * H] for k in range(4))",
        {"test_lstm_cell_forward", "test_lstm_forward"},
        None,
    ),
    "06-gru-step-reads-H": (
        "06_lstm_gru",
        "gru_cell_forward",
        "h_r, h_z, h_n = np.split(gh, 3, axis=1)",
        "h_r, h_z, h_n = gh[:, :H], gh[:, H : 2 * H], gh[:, 2 * H :]",
        {"test_gru_cell_forward", "test_gru_forward", "test_bidirectional_gru"},
        None,
    ),
    "06-gru-sequence-reads-T": (
        "06_lstm_gru",
        "gru_forward",
        "for t in range(x.shape[1]):",
        "for t in range(T):",
        {"test_gru_forward", "test_bidirectional_gru"},
        None,
    ),
    # Notebook globals: V = 29.
    "08-loss-reads-V": (
        "08_language_model",
        "masked_cross_entropy",
        "log_probs = torch.log_softmax(logits, dim=-1)  # (N, T, V)",
        "log_probs = torch.log_softmax(logits.reshape(-1, V), dim=-1).reshape(logits.shape)",
        {"test_masked_cross_entropy", "test_perplexity"},
        None,
    ),
    # Notebook globals: V, MAX_LEN = 11, 12.
    "09-prediction-reads-MAX_LEN": (
        "09_seq2seq_attention",
        "train_attention",
        "src.to(device), src.shape[1] + 1)",
        "src.to(device), MAX_LEN + 1)",
        {"test_attention_beats_plain"},
        None,
    ),
    # Notebook globals: V = 48.
    "11-frequencies-read-V": (
        "11_music",
        "voice_frequencies",
        "counts = np.ones((4, vocab_size))",
        "counts = np.ones((4, V))",
        {"test_voice_frequencies"},
        None,
    ),
}

COMMON_MISTAKES = {
    # 08: the loss, the perplexity, training and sampling.
    "08-loss-softmax-over-time": (
        "08_language_model",
        "masked_cross_entropy",
        "log_probs = torch.log_softmax(logits, dim=-1)",
        "log_probs = torch.log_softmax(logits, dim=1)",
        {"test_masked_cross_entropy"},
        "not over the time steps",
    ),
    "08-loss-without-minus": (
        "08_language_model",
        "masked_cross_entropy",
        "nll = -log_probs.gather",
        "nll = log_probs.gather",
        {"test_masked_cross_entropy"},
        "NEGATIVE log-likelihood",
    ),
    "08-loss-of-probabilities": (
        "08_language_model",
        "masked_cross_entropy",
        "log_probs = torch.log_softmax(logits, dim=-1)",
        "log_probs = torch.softmax(logits, dim=-1)",
        {"test_masked_cross_entropy"},
        "not log-probabilities",
    ),
    "08-loss-mean-over-pads": (
        "08_language_model",
        "masked_cross_entropy",
        "return (nll * weights).sum() / weights.sum()",
        "return nll.mean()",
        {"test_masked_cross_entropy"},
        "the pads included",
    ),
    "08-loss-indexes-with-pad-targets": (
        "08_language_model",
        "masked_cross_entropy",
        "safe = torch.where(mask, targets, torch.zeros_like(targets))",
        "safe = targets",
        {"test_masked_cross_entropy"},
        "-100 is not a token id",
    ),
    "08-perplexity-two-to-the-loss": (
        "08_language_model",
        "perplexity",
        "float(torch.exp(masked_cross_entropy(logits, targets, mask)))",
        "float(2 ** masked_cross_entropy(logits, targets, mask))",
        {"test_perplexity"},
        "not 2 ** loss",
    ),
    "08-perplexity-is-the-loss": (
        "08_language_model",
        "perplexity",
        "float(torch.exp(masked_cross_entropy(logits, targets, mask)))",
        "float(masked_cross_entropy(logits, targets, mask))",
        {"test_perplexity"},
        "the loss itself",
    ),
    "08-training-shifts-the-targets-again": (
        "08_language_model",
        "train_language_model",
        "loss = masked_cross_entropy(logits, y_train[idx, :T_b], mask_train[idx, :T_b])",
        "loss = masked_cross_entropy(logits[:, :-1], y_train[idx, 1:T_b], mask_train[idx, 1:T_b])",
        {"test_beats_unigram"},
        "predicts the character AFTER the target",
    ),
    "08-training-targets-are-the-inputs": (
        "08_language_model",
        "train_language_model",
        "loss = masked_cross_entropy(logits, y_train[idx, :T_b], mask_train[idx, :T_b])",
        "loss = masked_cross_entropy(logits, x_train[idx, :T_b], mask_train[idx, :T_b])",
        {"test_beats_unigram"},
        "predicts the character it reads",
    ),
    "08-sampling-softmax-over-rows": (
        "08_language_model",
        "sample_next",
        "softmax(logits / temperature, dim=-1)",
        "softmax(logits / temperature, dim=0)",
        {"test_sample_next"},
        "not over the rows",
    ),
    "08-sampling-times-temperature": (
        "08_language_model",
        "sample_next",
        "softmax(logits / temperature, dim=-1)",
        "softmax(logits * temperature, dim=-1)",
        {"test_sample_next"},
        "do not multiply",
    ),
    "08-sampling-argmax": (
        "08_language_model",
        "sample_next",
        "return torch.multinomial(probs, 1).squeeze(-1)",
        "return probs.argmax(dim=-1)",
        {"test_sample_next"},
        "always pick the most likely",
    ),
    "08-sampling-not-squeezed": (
        "08_language_model",
        "sample_next",
        "return torch.multinomial(probs, 1).squeeze(-1)",
        "return torch.multinomial(probs, 1)",
        {"test_sample_next"},
        "squeeze its last axis",
    ),
    "08-sampling-log-probabilities": (
        "08_language_model",
        "sample_next",
        "probs = torch.softmax(logits / temperature, dim=-1)",
        "probs = torch.log_softmax(logits / temperature, dim=-1)",
        {"test_sample_next"},
        "takes probabilities",
    ),
    # 09: attention, the decoder step, greedy decoding and the trained model's outputs.
    "09-att-softmax-over-batch": (
        "09_seq2seq_attention",
        "additive_attention",
        "alpha = torch.softmax(scores, dim=1)",
        "alpha = torch.softmax(scores, dim=0)",
        {"test_additive_attention"},
        "not over the batch",
    ),
    "09-att-no-mask": (
        "09_seq2seq_attention",
        "additive_attention",
        'scores = scores.masked_fill(~mask, float("-inf"))',
        "scores = scores",
        {"test_additive_attention"},
        "set their scores to -inf",
    ),
    "09-att-mask-with-zero": (
        "09_seq2seq_attention",
        "additive_attention",
        'scores = scores.masked_fill(~mask, float("-inf"))',
        "scores = scores.masked_fill(~mask, 0.0)",
        {"test_additive_attention"},
        "exp(0) = 1",
    ),
    "09-att-mask-after-softmax": (
        "09_seq2seq_attention",
        "additive_attention",
        "alpha = torch.softmax(scores, dim=1)  # over the source positions",
        "alpha = torch.softmax(v(torch.tanh(W_q(s_prev)[:, None, :] + W_k(annotations)))"
        ".squeeze(-1), dim=1).masked_fill(~mask, 0.0)",
        {"test_additive_attention"},
        "AFTER the softmax",
    ),
    "09-att-query-not-broadcast": (
        "09_seq2seq_attention",
        "additive_attention",
        "W_q(s_prev)[:, None, :]",
        "W_q(s_prev)",
        {"test_additive_attention"},
        "W_q(s_prev)[:, None, :]",
    ),
    "09-att-plain-mean": (
        "09_seq2seq_attention",
        "additive_attention",
        "context = (alpha[:, :, None] * annotations).sum(dim=1)",
        "context = annotations.mean(dim=1)",
        {"test_additive_attention"},
        "plain mean of the annotations",
    ),
    "09-step-logits-from-s_prev": (
        "09_seq2seq_attention",
        "decoder_step",
        "logits = dec.out(torch.cat([s_t, context], dim=-1))",
        "logits = dec.out(torch.cat([s_prev, context], dim=-1))",
        {"test_decoder_step"},
        "not s_prev",
    ),
    "09-step-logits-cat-order": (
        "09_seq2seq_attention",
        "decoder_step",
        "torch.cat([s_t, context], dim=-1)",
        "torch.cat([context, s_t], dim=-1)",
        {"test_decoder_step"},
        "not [context || s_t]",
    ),
    "09-step-cell-cat-order": (
        "09_seq2seq_attention",
        "decoder_step",
        "torch.cat([dec.embed(y_prev), context], dim=-1)",
        "torch.cat([context, dec.embed(y_prev)], dim=-1)",
        {"test_decoder_step"},
        "not [context || embedding]",
    ),
    "09-greedy-no-pad-after-eos": (
        "09_seq2seq_attention",
        "greedy_decode",
        "written.append(y.masked_fill(done, PAD))",
        "written.append(y)",
        {"test_greedy_decode"},
        "fill the rest of its row with <pad>",
    ),
    "09-greedy-not-fed-back": (
        "09_seq2seq_attention",
        "greedy_decode",
        "        y = logits.argmax(dim=-1)  # fed back as the next input\n"
        "        written.append(y.masked_fill(done, PAD))  # nothing after <eos>\n"
        "        done = done | (y == EOS)",
        "        tok = logits.argmax(dim=-1)\n"
        "        written.append(tok.masked_fill(done, PAD))\n"
        "        done = done | (tok == EOS)",
        {"test_greedy_decode"},
        "feed each step's argmax back",
    ),
    "09-predict-starts-with-bos": (
        "09_seq2seq_attention",
        "train_attention",
        "return greedy_decode(decoder_step, enc_att, dec_att, src.to(device), src.shape[1] + 1)",
        "tokens = greedy_decode(decoder_step, enc_att, dec_att, src.to(device), src.shape[1])\n"
        "        return torch.cat([torch.full((len(src), 1), BOS), tokens.cpu()], dim=1)",
        {"test_attention_beats_plain"},
        "one step LATE",
    ),
    # 04 and 06: BPTT's carry and sum, the gated cells' equations, the backward direction.
    "04-backward-no-carry": (
        "04_bptt",
        "rnn_backward",
        "delta = dout[:, t - 1] + from_later",
        "delta = dout[:, t - 1]",
        {"test_rnn_backward"},
        "nothing comes back from later steps",
    ),
    "04-backward-overwrites-weights": (
        "04_bptt",
        "rnn_backward",
        "grads[name] += step[name]",
        "grads[name] = step[name]",
        {"test_rnn_backward"},
        "step 1's share alone",
    ),
    "06-gru-b_hn-outside-reset": (
        "06_lstm_gru",
        "gru_cell_forward",
        "n = np.tanh(i_n + r * h_n)",
        "b_hn = params['bias_hh'][2 * h_n.shape[1] :]\n"
        "    n = np.tanh(i_n + r * (h_n - b_hn) + b_hn)",
        {"test_gru_cell_forward"},
        "b_hn belongs inside the reset product",
    ),
    "06-gru-z-and-r-swapped": (
        "06_lstm_gru",
        "gru_cell_forward",
        "i_r, i_z, i_n = np.split(gi, 3, axis=1)\n    h_r, h_z, h_n = np.split(gh, 3, axis=1)",
        "i_z, i_r, i_n = np.split(gi, 3, axis=1)\n    h_z, h_r, h_n = np.split(gh, 3, axis=1)",
        {"test_gru_cell_forward"},
        "the reset gate comes first",
    ),
    "06-lstm-gate-order-ifog": (
        "06_lstm_gru",
        "lstm_cell_forward",
        "a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)",
        "a_i, a_f, a_o, a_g = np.split(a, 4, axis=1)",
        {"test_lstm_cell_forward"},
        "not i, f, o, g",
    ),
    "06-lstm-input-and-forget-swapped": (
        "06_lstm_gru",
        "lstm_cell_forward",
        "c_t = f * c_prev + i * g",
        "c_t = i * c_prev + f * g",
        {"test_lstm_cell_forward"},
        "c_t = f * c_prev + i * g",
    ),
    "06-lstm-no-tanh-of-cell": (
        "06_lstm_gru",
        "lstm_cell_forward",
        "h_t = o * np.tanh(c_t)",
        "h_t = o * c_t",
        {"test_lstm_cell_forward"},
        "h_t = o * tanh(c_t)",
    ),
    "06-bigru-backward-not-flipped": (
        "06_lstm_gru",
        "bidirectional_gru",
        "gru_forward(x[:, ::-1], h0_bwd, params_bwd)[:, ::-1]",
        "gru_forward(x, h0_bwd, params_bwd)",
        {"test_bidirectional_gru"},
        "flip x along time",
    ),
    "06-bigru-forward-weights-backward": (
        "06_lstm_gru",
        "bidirectional_gru",
        "h0_bwd, params_bwd)[",
        "h0_bwd, params_fwd)[",
        {"test_bidirectional_gru"},
        "run it with params_bwd",
    ),
    "04-numerical-gradient-leaves-x-changed": (
        "04_bptt",
        "numerical_gradient",
        "        x[index] = saved\n",
        "",
        {"test_numerical_gradient"},
        "changed the array",
    ),
    "05-max-before-abs": (
        "05_gradients",
        "spectral_radius",
        "np.max(np.abs(np.linalg.eigvals(W)))",
        "np.abs(np.max(np.linalg.eigvals(W)))",
        {"test_spectral_radius"},
        "before the max",
    ),
    "01-vocabulary-of-characters": (
        "01_order_matters",
        "build_vocab",
        "for word in sentence.split()}",
        'for word in sentence.replace(" ", "")}',
        {"test_build_vocab"},
        "characters",
    ),
    "01-vocabulary-in-order-of-appearance": (
        "01_order_matters",
        "build_vocab",
        "sorted({word for sentence in sentences for word in sentence.split()})",
        "list(dict.fromkeys(word for sentence in sentences for word in sentence.split()))",
        {"test_build_vocab"},
        "in the order they first appear",
    ),
    "01-vocabulary-starts-at-1": (
        "01_order_matters",
        "build_vocab",
        "enumerate(words)",
        "enumerate(words, start=1)",
        {"test_build_vocab"},
        "the indices start at 1",
    ),
    "01-vocabulary-with-repeats": (
        "01_order_matters",
        "build_vocab",
        "sorted({word for sentence in sentences for word in sentence.split()})",
        "sorted([word for sentence in sentences for word in sentence.split()])",
        {"test_build_vocab"},
        "number the DISTINCT words",
    ),
    "01-vocabulary-with-special-tokens": (
        "01_order_matters",
        "build_vocab",
        "enumerate(words)",
        'enumerate(["<pad>", "<unk>"] + words)',
        {"test_build_vocab"},
        "no special tokens here",
    ),
    "01-bag-of-frequencies": (
        "01_order_matters",
        "bag_of_words",
        "    return counts\n",
        "    return counts / counts.sum()\n",
        {"test_bag_of_words"},
        "do not divide by the number of words",
    ),
    "01-bag-per-word-of-the-sentence": (
        "01_order_matters",
        "bag_of_words",
        "    return counts\n",
        "    return counts[[vocab[word] for word in sentence.split()]]\n",
        {"test_bag_of_words"},
        "one entry per VOCABULARY word",
    ),
    "01-sequence-drops-repeats": (
        "01_order_matters",
        "encode_sequence",
        "for word in sentence.split()]",
        "for word in dict.fromkeys(sentence.split())]",
        {"test_encode_sequence"},
        "a set keeps each word once",
    ),
    "01-sequence-sorted": (
        "01_order_matters",
        "encode_sequence",
        "for word in sentence.split()]",
        "for word in sorted(sentence.split())]",
        {"test_encode_sequence"},
        "the indices are sorted",
    ),
    "01-sequence-reversed": (
        "01_order_matters",
        "encode_sequence",
        "for word in sentence.split()]",
        "for word in sentence.split()[::-1]]",
        {"test_encode_sequence"},
        "x_1 is the FIRST word",
    ),
    "01-sequence-of-floats": (
        "01_order_matters",
        "encode_sequence",
        "dtype=np.int64",
        "dtype=float",
        {"test_encode_sequence"},
        "should return integers",
    ),
    "01-one-hot-whole-columns": (
        "01_order_matters",
        "one_hot",
        "x[np.arange(len(indices)), indices] = 1.0",
        "x[:, indices] = 1.0",
        {"test_one_hot"},
        "in EVERY row",
    ),
    "01-one-hot-width-from-indices": (
        "01_order_matters",
        "one_hot",
        "x = np.zeros((len(indices), V))",
        "x = np.zeros((len(indices), indices.max() + 1))",
        {"test_one_hot"},
        "the width is the argument V",
    ),
    "01-one-hot-transposed": (
        "01_order_matters",
        "one_hot",
        "    return x\n",
        "    return x.T\n",
        {"test_one_hot"},
        "the shape is (T, V)",
    ),
    "01-distinguishes-inverted": (
        "01_order_matters",
        "distinguishes",
        '"bag_of_words": bool(not np.array_equal(bag_of_words(a, vocab), '
        "bag_of_words(b, vocab))),\n"
        '        "sequence": bool(not np.array_equal(seq_a, seq_b)),',
        '"bag_of_words": bool(np.array_equal(bag_of_words(a, vocab), bag_of_words(b, vocab))),\n'
        '        "sequence": bool(np.array_equal(seq_a, seq_b)),',
        {"test_distinguishes"},
        "True means the encodings DIFFER",
    ),
    "01-distinguishes-swapped": (
        "01_order_matters",
        "distinguishes",
        '"bag_of_words": bool(not np.array_equal(bag_of_words(a, vocab), '
        "bag_of_words(b, vocab))),\n"
        '        "sequence": bool(not np.array_equal(seq_a, seq_b)),',
        '"sequence": bool(not np.array_equal(bag_of_words(a, vocab), bag_of_words(b, vocab))),\n'
        '        "bag_of_words": bool(not np.array_equal(seq_a, seq_b)),',
        {"test_distinguishes"},
        "the two answers are swapped",
    ),
    "01-distinguishes-zip": (
        "01_order_matters",
        "distinguishes",
        '"sequence": bool(not np.array_equal(seq_a, seq_b)),',
        '"sequence": bool(not all(p == q for p, q in zip(seq_a, seq_b))),',
        {"test_distinguishes"},
        "zip stops at the shorter one",
    ),
    "01-distinguishes-on-a-sorted-sequence": (
        "01_order_matters",
        "encode_sequence",
        "for word in sentence.split()]",
        "for word in sorted(sentence.split())]",
        {"test_encode_sequence", "test_distinguishes"},
        "fix parts 2 and 3 (bag_of_words, encode_sequence) first",
    ),
    # 02: the step, the sequence and the counts.
    "02-cell-without-b_hh": (
        "02_rnn_forward",
        "rnn_cell_forward",
        'h_prev @ params["weight_hh"].T + params["bias_hh"]',
        'h_prev @ params["weight_hh"].T',
        {"test_rnn_cell_forward"},
        "did you add b_hh",
    ),
    "02-cell-without-tanh": (
        "02_rnn_forward",
        "rnn_cell_forward",
        "return np.tanh(pre)",
        "return pre",
        {"test_rnn_cell_forward"},
        "did you apply tanh",
    ),
    "02-cell-W_hh-not-transposed": (
        "02_rnn_forward",
        "rnn_cell_forward",
        'h_prev @ params["weight_hh"].T',
        'h_prev @ params["weight_hh"]',
        {"test_rnn_cell_forward"},
        "W_hh is used the wrong way round",
    ),
    "02-sequence-on-a-wrong-cell": (
        "02_rnn_forward",
        "rnn_cell_forward",
        "return np.tanh(pre)",
        "return pre",
        {"test_rnn_cell_forward", "test_rnn_forward"},
        "fix part 1 (rnn_cell_forward) first",
    ),
    "02-sequence-shifted-by-one": (
        "02_rnn_forward",
        "rnn_forward",
        "        h = rnn_cell_forward(x[:, t], h, params)  # (N, H)\n        out[:, t] = h",
        "        out[:, t] = h\n        h = rnn_cell_forward(x[:, t], h, params)",
        {"test_rnn_forward"},
        "the state AFTER step t",
    ),
    "02-sequence-every-step-from-h0": (
        "02_rnn_forward",
        "rnn_forward",
        "h = rnn_cell_forward(x[:, t], h, params)",
        "h = rnn_cell_forward(x[:, t], h0, params)",
        {"test_rnn_forward"},
        "every step starts from h0",
    ),
    "02-sequence-with-h0": (
        "02_rnn_forward",
        "rnn_forward",
        "    return out\n",
        "    return np.concatenate([h0[:, None], out], axis=1)\n",
        {"test_rnn_forward"},
        "leave h_0 out",
    ),
    "02-sequence-time-first": (
        "02_rnn_forward",
        "rnn_forward",
        "    return out\n",
        "    return out.transpose(1, 0, 2)\n",
        {"test_rnn_forward"},
        "keep the batch first",
    ),
    "02-sequence-last-state-only": (
        "02_rnn_forward",
        "rnn_forward",
        "    return out\n",
        "    return h\n",
        {"test_rnn_forward"},
        "the last state alone",
    ),
    "02-count-without-biases": (
        "02_rnn_forward",
        "count_params",
        "return H * D + H * H + 2 * H",
        "return H * D + H * H",
        {"test_count_shared"},
        "the biases are missing",
    ),
    "02-count-one-bias": (
        "02_rnn_forward",
        "count_params",
        "return H * D + H * H + 2 * H",
        "return H * D + H * H + H",
        {"test_count_shared"},
        "there are two biases",
    ),
    "02-count-W_hh-as-H-D": (
        "02_rnn_forward",
        "count_params",
        "return H * D + H * H + 2 * H",
        "return H * D + H * D + 2 * H",
        {"test_count_shared"},
        "it is (H, H)",
    ),
    "02-unshared-biases-shared": (
        "02_rnn_forward",
        "count_params",
        "return T * count_params_shared(D, H)",
        "return T * (H * D + H * H) + 2 * H",
        {"test_count_unshared"},
        "its own biases too",
    ),
    "02-unshared-adds-T": (
        "02_rnn_forward",
        "count_params",
        "return T * count_params_shared(D, H)",
        "return count_params_shared(D, H) + T",
        {"test_count_unshared"},
        "they do not add T",
    ),
    "02-unshared-on-a-wrong-shared": (
        "02_rnn_forward",
        "count_params",
        "return H * D + H * H + 2 * H",
        "return H * D + H * H",
        {"test_count_shared", "test_count_unshared"},
        "fix count_params_shared (test_count_shared) first",
    ),
    # 03: the four architectures and the digit classifier.
    "03-many-to-one-from-h_1": (
        "03_rnn_types",
        "many_to_one",
        "return self.head(h_last[0])",
        "return self.head(out[:, 0])",
        {"test_many_to_one"},
        "you classify from h_1",
    ),
    "03-many-to-one-time-first": (
        "03_rnn_types",
        "many_to_one",
        "self.rnn = nn.RNN(D, H, batch_first=True)",
        "self.rnn = nn.RNN(D, H)",
        {"test_many_to_one"},
        "pass batch_first=True",
    ),
    "03-digits-on-a-wrong-many-to-one": (
        "03_rnn_types",
        "many_to_one",
        "return self.head(h_last[0])",
        "return self.head(out[:, 0])",
        {"test_many_to_one", "test_digits_accuracy"},
        "fix part 1 (ManyToOne) first",
    ),
    "03-many-to-many-time-first": (
        "03_rnn_types",
        "many_to_many",
        "self.rnn = nn.RNN(D, H, batch_first=True)",
        "self.rnn = nn.RNN(D, H)",
        {"test_many_to_many"},
        "changed the outputs of OTHER sequences",
    ),
    "03-one-to-many-x-at-the-last-step": (
        "03_rnn_types",
        "one_to_many",
        "steps[:, 0] = x",
        "steps[:, -1] = x",
        {"test_one_to_many"},
        "x is fed at the last step",
    ),
    "03-seq2seq-T-steps": (
        "03_rnn_types",
        "seq2seq",
        "x.new_zeros(x.shape[0], self.T_out, 1)",
        "x.new_zeros(x.shape[0], x.shape[1], 1)",
        {"test_seq2seq"},
        "the decoder runs T_out steps",
    ),
    "03-predict-returns-a-tensor": (
        "03_rnn_types",
        "train_digits",
        "return logits.argmax(dim=1).cpu().numpy()",
        "return logits.argmax(dim=1)",
        {"test_digits_accuracy"},
        "returned a torch.Tensor",
    ),
    "03-predict-returns-the-scores": (
        "03_rnn_types",
        "train_digits",
        "return logits.argmax(dim=1).cpu().numpy()",
        "return logits.cpu().numpy()",
        {"test_digits_accuracy"},
        "these are the 10 scores",
    ),
    "03-digits-labels-misaligned": (
        "03_rnn_types",
        "train_digits",
        "ys = torch.from_numpy(y_train).to(device)",
        "ys = torch.from_numpy(np.roll(y_train, 1)).to(device)",
        {"test_digits_accuracy"},
        "the labels were misaligned",
    ),
    # 07: the project's predictions and its time (the model and its training stay free).
    "07-output-not-squeezed": (
        "07_project",
        "project_model",
        "return self.head(out[:, -1]).squeeze(-1)",
        "return self.head(out[:, -1])",
        {"test_beats_baseline", "test_reaches_target"},
        "broadcasts to (N, N)",
    ),
    "07-reads-the-first-step": (
        "07_project",
        "project_model",
        "return self.head(out[:, -1]).squeeze(-1)",
        "return self.head(out[:, 0]).squeeze(-1)",
        {"test_beats_baseline", "test_reaches_target"},
        "the model reads h_1",
    ),
    "07-predicts-with-a-fresh-model": (
        "07_project",
        "project_model",
        "return model(torch.as_tensor(x, dtype=torch.float32, device=device))",
        "return AddingModel().to(device)(torch.as_tensor(x, dtype=torch.float32, device=device))",
        {"test_beats_baseline", "test_reaches_target"},
        "your training loss fell to",
    ),
    "07-time-from-two-clocks": (
        "07_project",
        "project_model",
        "TRAIN_SECONDS = time.perf_counter() - start",
        "TRAIN_SECONDS = time.time() - start",
        {"test_time_budget"},
        "a clock reading, not a duration",
    ),
    # 05: the radius, its scaling, the norms through time and clipping.
    "05-radius-of-real-parts": (
        "05_gradients",
        "spectral_radius",
        "np.max(np.abs(np.linalg.eigvals(W)))",
        "np.max(np.linalg.eigvals(W).real)",
        {"test_spectral_radius"},
        "not the real part",
    ),
    "05-scale-by-rho-alone": (
        "05_gradients",
        "scale_to_radius",
        "return W * (rho / spectral_radius(W))",
        "return W * rho",
        {"test_scale_to_radius"},
        "multiplying by rho alone",
    ),
    "05-scale-upside-down": (
        "05_gradients",
        "scale_to_radius",
        "return W * (rho / spectral_radius(W))",
        "return W * (spectral_radius(W) / rho)",
        {"test_scale_to_radius"},
        "upside down",
    ),
    "05-scale-by-sigma_1": (
        "05_gradients",
        "scale_to_radius",
        "return W * (rho / spectral_radius(W))",
        "return W * (rho / np.linalg.norm(W, 2))",
        {"test_scale_to_radius"},
        "largest singular value",
    ),
    "05-scale-on-a-wrong-radius": (
        "05_gradients",
        "spectral_radius",
        "np.max(np.abs(np.linalg.eigvals(W)))",
        "np.linalg.norm(W, 2)",
        {"test_scale_to_radius", "test_spectral_radius"},
        "fix part 1 (spectral_radius) first",
    ),
    "05-norms-shifted-by-one": (
        "05_gradients",
        "backprop_norms",
        "        norms[k] = np.linalg.norm(v)\n        v = weight_hh.T @ v",
        "        v = weight_hh.T @ v\n        norms[k] = np.linalg.norm(v)",
        {"test_backprop_norms"},
        "shifted by one step",
    ),
    "05-norms-squared": (
        "05_gradients",
        "backprop_norms",
        "norms[k] = np.linalg.norm(v)",
        "norms[k] = np.sum(v**2)",
        {"test_backprop_norms"},
        "squared norms",
    ),
    "05-norms-K-entries": (
        "05_gradients",
        "backprop_norms",
        "    return norms\n",
        "    return norms[:-1]\n",
        {"test_backprop_norms"},
        "there are K + 1 norms",
    ),
    "05-clip-sum-of-norms": (
        "05_gradients",
        "clip_by_norm",
        "float(np.sqrt(sum(np.sum(g**2) for g in grads.values())))",
        "float(sum(np.linalg.norm(g) for g in grads.values()))",
        {"test_clip_by_norm"},
        "not the sum of each array's norm",
    ),
    "05-clip-squared-norm": (
        "05_gradients",
        "clip_by_norm",
        "float(np.sqrt(sum(np.sum(g**2) for g in grads.values())))",
        "float(sum(np.sum(g**2) for g in grads.values()))",
        {"test_clip_by_norm"},
        "the squared norm",
    ),
    "05-clip-norm-after-clipping": (
        "05_gradients",
        "clip_by_norm",
        "for name, g in grads.items()}, total_norm",
        "for name, g in grads.items()}, min(total_norm, max_norm)",
        {"test_clip_by_norm"},
        "the norm BEFORE clipping",
    ),
    # Arguments reach the student's function as copies under check: the test passes
    # read-only arrays (the flag crosses the proxy), so a change in place raises.
    "05-clip-in-place": (
        "05_gradients",
        "clip_by_norm",
        "    return {name: g * scale for name, g in grads.items()}, total_norm",
        "    for g in grads.values():\n        g *= scale\n    return dict(grads), total_norm",
        {"test_clip_by_norm"},
        "changed the arrays it was given",
    ),
    # 11: tokens, the baseline and sampling.
    "11-hold-as-new-note": (
        "11_music",
        "grid_to_tokens",
        "tokens = np.where(onset, pitch - LOWEST + 2, HOLD)",
        "tokens = np.where(pitch > 0, pitch - LOWEST + 2, HOLD)",
        {"test_grid_to_tokens"},
        "not the pitch",
    ),
    "11-no-smoothing": (
        "11_music",
        "voice_frequencies",
        "counts = np.ones((4, vocab_size))",
        "counts = np.zeros((4, vocab_size))",
        {"test_voice_frequencies"},
        "add one to every count",
    ),
    "11-sample-argmax": (
        "11_music",
        "sample",
        "drawn = torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator)",
        "drawn = scores.argmax(dim=-1, keepdim=True)",
        {"test_sample"},
        "most likely token",
    ),
    "11-sample-unseeded": (
        "11_music",
        "sample",
        "generator.manual_seed(seed)",
        "generator.seed()",
        {"test_sample"},
        "same seed",
    ),
    "11-temperature-multiplied": (
        "11_music",
        "sample",
        "scores = model(tokens)[0][:, -1] / temperature",
        "scores = model(tokens)[0][:, -1] * temperature",
        {"test_sample"},
        "do not multiply",
    ),
    # 10: the CTC loss from scratch.
    "10-skip-between-equal-labels": (
        "10_ctc",
        "extend_with_blanks",  # the cell of skip_allowed too
        "allowed[:, 2:] = (label != BLANK) & (label != two_back)",
        "allowed[:, 2:] = label != BLANK",
        {"test_extend_with_blanks"},
        "EQUAL label",
    ),
    "10-loss-last-blank-only": (
        "10_ctc",
        "ctc_loss",
        "ends = torch.stack([last_step[rows, final_blank], last_step[rows, final_blank - 1]])",
        "ends = last_step[rows, final_blank][None]",
        {"test_ctc_loss"},
        "the last label",
    ),
    "10-loss-divided-by-length": (
        "10_ctc",
        "ctc_loss",
        "return -torch.logsumexp(ends, dim=0)  # (N,)",
        "return -torch.logsumexp(ends, dim=0) / target_lengths.to(alpha.device)",
        {"test_ctc_loss"},
        "do not divide by the target length",
    ),
    "10-loss-padded-last-step": (
        "10_ctc",
        "ctc_loss",
        "last_step = alpha[rows, input_lengths.to(alpha.device) - 1]",
        "last_step = alpha[:, -1]",
        {"test_ctc_loss"},
        "its own last step",
    ),
    "10-cer-over-predictions": (
        "10_ctc",
        "character_error_rate",
        "return float(errors / sum(len(t) for t in truth))",
        "return float(errors / sum(len(p) for p in predicted))",
        {"test_character_error_rate"},
        "REFERENCES",
    ),
    # 12: the scan and minGRU.
    "12-combine-order": (
        "12_linear_recurrences",
        "combine",
        "return a1 * a2, b1 * a2 + b2",
        "return a1 * a2, b2 * a1 + b1",
        {"test_combine"},
        "not commutative",
    ),
    "12-scan-ignores-h0": (
        "12_linear_recurrences",
        "parallel_scan",
        "first = a[:, 0] * h0 + b[:, 0]",
        "first = b[:, 0]",
        {"test_parallel_scan"},
        "h0 was ignored",
    ),
    "12-scan-last-round-missing": (
        "12_linear_recurrences",
        "parallel_scan",
        "while d < b.shape[1]:",
        "while 2 * d < b.shape[1]:",
        {"test_parallel_scan"},
        "the last round is missing",
    ),
    "12-mingru-z-swapped": (
        "12_linear_recurrences",
        "mingru_layer",
        "return scan(1 - z, z * h_tilde, h0)",
        "return scan(z, (1 - z) * h_tilde, h0)",
        {"test_mingru_layer"},
        "z and 1 - z are swapped",
    ),
}


def planted(source: Path, answer_id: str, old: str, new: str) -> nbformat.NotebookNode:
    nb = nbformat.read(source, as_version=4)
    (cell,) = [c for c in nb.cells if _meta(c).get("grade_id") == answer_id]
    assert cell.source.count(old) == 1, f"{answer_id}: the planted change no longer applies"
    cell.source = cell.source.replace(old, new)
    return nb


@pytest.fixture(scope="module")
def runner():
    from course_rnn.grading.executor import Limits, TrustedRunner

    with TrustedRunner(Limits()) as warm:
        yield warm


def failed_visible_tests(nb: nbformat.NotebookNode, folder: Path, runner) -> dict[str, str]:
    """{grade id: message} of the visible tests that fail under course-rnn check."""
    path = folder / "student.ipynb"
    nbformat.write(nb, path)
    report = check_notebook(path, runner=runner)
    return {q.grade_id: q.message for q in report.tests if q.passed is False}


def up_to_last_of(nb: nbformat.NotebookNode, grade_ids: set[str]) -> nbformat.NotebookNode:
    """``nb`` without the cells after the last cell of ``grade_ids``: what follows cannot
    change those tests' verdicts, and later parts (training runs) take most of the time."""
    last = max(i for i, c in enumerate(nb.cells) if _meta(c).get("grade_id") in grade_ids)
    nb.cells = nb.cells[: last + 1]
    return nb


def _expect_failures(case: tuple, tmp_path: Path, runner, solutions: Path = ROOT / "solutions"):
    name, answer_id, old, new, failing, words = case
    source = solutions / name / f"{name}.ipynb"
    nb = up_to_last_of(planted(source, answer_id, old, new), failing)
    failed = failed_visible_tests(nb, tmp_path, runner)
    assert failing <= set(failed), (
        f"{name}: with {new.strip()!r} in {answer_id}, visible tests "
        f"{sorted(failing - set(failed))} still pass (failed: {sorted(failed)})"
    )
    if words:
        messages = " ".join(failed[t] for t in failing)
        assert words in messages, f"{name}: no message says {words!r}: {messages[:600]}"


@pytest.mark.grading
@pytest.mark.slow
@pytest.mark.parametrize("case", list(GLOBAL_READERS), ids=list(GLOBAL_READERS))
def test_an_answer_reading_a_global_fails_a_visible_test(case, tmp_path, runner):
    """The visible tests' sizes differ from the notebook's own sizes."""
    _expect_failures(GLOBAL_READERS[case], tmp_path, runner)


@pytest.mark.grading
@pytest.mark.slow
@pytest.mark.parametrize("case", list(COMMON_MISTAKES), ids=list(COMMON_MISTAKES))
def test_a_common_mistake_fails_a_visible_test_under_check(case, tmp_path, runner):
    _expect_failures(COMMON_MISTAKES[case], tmp_path, runner)
