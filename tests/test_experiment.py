"""The comparison protocol: disjoint splits up to near-duplicates, selection on
validation, the test set read once."""

import numpy as np
import pytest
import torch

from course_rnn.experiment import (
    Run,
    TestSet,
    fit,
    group_near_duplicates,
    plot_learning_curves,
    split_by_group,
)


def test_transposed_tunes_share_a_group():
    tunes = [(60, 62, 64), (62, 64, 66), (60, 60, 60), (70, 72, 74), (1, 2, 5)]
    intervals = lambda t: tuple(np.diff(t))  # noqa: E731
    assert group_near_duplicates(tunes, key=intervals) == [0, 0, 1, 0, 2]


def test_similarity_links_transitively():
    items = [0.0, 0.9, 1.8, 10.0]
    groups = group_near_duplicates(items, similar=lambda a, b: abs(a - b) < 1)
    assert groups == [0, 0, 0, 1]


def test_group_needs_a_rule():
    with pytest.raises(ValueError, match="key"):
        group_near_duplicates([1, 2])


def test_split_keeps_groups_whole_and_parts_disjoint():
    groups = [i // 3 for i in range(300)]  # 100 groups of 3 near-duplicates
    split = split_by_group(groups, (0.8, 0.1, 0.1), seed=3)
    parts = [set(split.train), set(split.val), set(split.test)]
    assert set.union(*parts) == set(range(300))
    assert sum(map(len, parts)) == 300
    for a in range(3):
        for b in range(a + 1, 3):
            ga = {groups[i] for i in parts[a]}
            gb = {groups[i] for i in parts[b]}
            assert not ga & gb
    assert 27 <= len(split.test) <= 33 and 27 <= len(split.val) <= 33
    assert split_by_group(groups, seed=3).test.tolist() == split.test.tolist()
    assert split_by_group(groups, seed=4).test.tolist() != split.test.tolist()


def test_split_rejects_bad_fractions():
    with pytest.raises(ValueError, match="sum to 1"):
        split_by_group(list(range(10)), (0.5, 0.2, 0.2))


def test_fit_keeps_the_checkpoint_best_on_validation():
    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    path = [0.5, 1.0, 2.0, 3.0]  # validation is best at weight 1.0 (step 2)

    def step(i):
        with torch.no_grad():
            model.weight.fill_(path[i - 1])
        return 0.0

    def validate():
        assert not model.training and not torch.is_grad_enabled()
        return abs(model.weight.item() - 1.0)

    run = fit("lin", model, step, validate, steps=4, eval_every=1)
    assert run.steps == [0, 1, 2, 3, 4]
    assert run.best_step == 2 and run.best_val == 0.0
    assert model.weight.item() == 1.0  # restored
    assert run.parameters == 1 and len(run.train_loss) == 4
    assert model.training


def test_fit_higher_is_better_and_last_step_measured():
    scores = iter([0.1, 0.5, 0.4, 0.9])
    run = fit(
        "acc",
        object(),
        lambda i: 1.0,
        lambda: next(scores),
        steps=5,
        eval_every=2,
        higher_is_better=True,
    )
    assert run.steps == [0, 2, 4, 5]
    assert run.best_step == 5 and run.best_val == 0.9


def test_test_set_is_read_once_per_model():
    test = TestSet([1, 2, 3])
    a, b = Run("a"), Run("b")
    assert test.evaluate(a, sum) == 6 and a.test == 6
    test.evaluate(b, len)
    with pytest.raises(RuntimeError, match="already read"):
        test.evaluate(a, sum)


def test_learning_curves_draw_every_run():
    import matplotlib

    matplotlib.use("Agg")
    runs = [
        Run("gru", steps=[0, 10], val=[2.0, 1.0], seconds=[0, 1], best_step=10),
        Run("mlp", steps=[0, 10], val=[2.0, 1.5], seconds=[0, 2], best_step=10),
    ]
    ax = plot_learning_curves(runs, baseline=1.8, x="seconds")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["gru", "mlp", "baseline"]
    with pytest.raises(ValueError):
        plot_learning_curves(runs, x="epochs")


def test_first_step_is_the_first_validation_step_past_a_level():
    run = Run("r", steps=[10, 20, 30, 40], val=[0.9, 0.4, 0.6, 0.2])
    assert run.first_step(0.5) == 20 and run.first_step(0.3) == 40
    assert run.first_step(0.1) is None
    assert run.first_step(0.6, below=False) == 10 and run.first_step(0.95, below=False) is None
