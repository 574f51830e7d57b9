"""Checks used by the exercise test cells: shapes first, then values, with messages that teach.

Every helper raises ``AssertionError`` with a message that says what was expected, what
was got and, where we can tell, a hint about the likely mistake. Nothing is printed on
success, so nbgrader scores a passing test cell as passed.

The numpy and torch functions used here are captured when this module is imported (the
first cell of every exercise notebook imports it, before any student code runs), so a
notebook that later replaces ``np.allclose``, ``np.abs`` or ``torch.Tensor.numpy`` cannot
make a wrong answer pass the local checks. The instructor's grader adds its own,
stronger protection (it runs the checks in a separate process).

``forbid(names)`` temporarily disables library functions an exercise asks students to
write themselves (for example ``torch.nn.LSTM`` in the LSTM exercise).
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import json
import os
import sys
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import torch

from course_rnn.errors import ForbiddenError


def relative_error(a: Any, b: Any) -> float:
    """``course_rnn.gradcheck.relative_error`` (the one definition), imported on first use.

    Imported lazily: an assignment that forbids ``course_rnn.gradcheck`` (students write
    their own) must still be able to import this module in its sandboxed kernel.
    """
    from course_rnn.gradcheck import relative_error as measure

    return measure(a, b)


# ---------------------------------------------------------------------------
# References captured at import time (before student code can replace them).
# ---------------------------------------------------------------------------
_isinstance = builtins.isinstance
_len = builtins.len
_float = builtins.float
_int = builtins.int
_tuple = builtins.tuple
_repr = builtins.repr
_getattr = builtins.getattr
_setattr = builtins.setattr
_delattr = builtins.delattr
_vars = builtins.vars
_environ = os.environ
_json_dumps = json.dumps
_asarray = np.asarray
_array = np.array
_abs = np.abs
_subtract = np.subtract
_amax = np.max
_argmax = np.argmax
_all = np.all
_isfinite = np.isfinite
_unravel_index = np.unravel_index
_float64 = np.float64
_ndarray = np.ndarray
_generic = np.generic
_array_equal = np.array_equal
_Tensor = torch.Tensor
_tensor_detach = torch.Tensor.detach
_tensor_cpu = torch.Tensor.cpu
_tensor_double = torch.Tensor.double
_tensor_numpy = torch.Tensor.numpy
_torch_float64 = torch.float64

# Library recurrent layers and functions that exercises asking for "the equations" forbid.
LIBRARY_RNNS: tuple[str, ...] = (
    "torch.nn.RNN",
    "torch.nn.RNNCell",
    "torch.nn.LSTM",
    "torch.nn.LSTMCell",
    "torch.nn.GRU",
    "torch.nn.GRUCell",
    "torch.rnn_tanh",
    "torch.rnn_tanh_cell",
    "torch.rnn_relu",
    "torch.rnn_relu_cell",
    "torch.lstm",
    "torch.lstm_cell",
    "torch.gru",
    "torch.gru_cell",
)
# The course package's own reference implementations.
COURSE_REFERENCE: tuple[str, ...] = ("course_rnn.scratch",)


# ---------------------------------------------------------------------------
# Conversions
# ---------------------------------------------------------------------------
def to_numpy(value: Any) -> np.ndarray:
    """Return ``value`` (numpy array, torch tensor, number or nested list) as a float64 array.

    Raises ``AssertionError`` with a readable message when the value is not numeric
    (for example ``None`` because a function forgot to ``return``).
    """
    if value is None:
        raise AssertionError(
            "got None instead of an array. Hint: did your function forget to `return` its result?"
        )
    if _isinstance(value, _Tensor):
        value = _tensor_numpy(_tensor_cpu(_tensor_double(_tensor_detach(value))))
    try:
        out = _array(value, dtype=_float64)
    except (TypeError, ValueError) as exc:
        raise AssertionError(
            f"expected a numeric array, got a value of type {type(value).__name__}: "
            f"{_short(value)} ({exc})"
        ) from None
    return out


def shape_of(value: Any) -> tuple[int, ...]:
    """Return the shape of an array or tensor as a plain tuple of ints."""
    if _isinstance(value, _Tensor):
        return _tuple(_int(s) for s in value.shape)
    if _isinstance(value, (_ndarray, _generic)):
        return _tuple(_int(s) for s in value.shape)
    return _tuple(_int(s) for s in _asarray(value).shape)


def _short(value: Any, limit: int = 200) -> str:
    text = _repr(value)
    return text if _len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------
def check(condition: Any, message: str) -> None:
    """Raise ``AssertionError(message)`` unless ``condition`` is true."""
    if not bool(condition):
        raise AssertionError(message)


def assert_shape(name: str, got: Any, expected: tuple[int, ...], hint: str | None = None) -> None:
    """Check that ``got`` (array or tensor) has shape ``expected``.

    Example message: ``h_t has shape (5, 3) but expected (3, 5) = (N, H). Hint: ...``.
    """
    if got is None:
        raise AssertionError(
            f"{name} is None, expected an array of shape {_tuple(expected)}. "
            "Hint: did your function forget to `return` its result?"
        )
    got_shape = shape_of(got)
    expected = _tuple(_int(s) for s in expected)
    if got_shape != expected:
        message = f"{name} has shape {got_shape} but expected {expected}."
        if sorted(got_shape) == sorted(expected) and _len(got_shape) == _len(expected):
            message += " The sizes are right but in the wrong order: check your transposes."
        if hint:
            message += f" Reminder: {hint}"
        raise AssertionError(message)


def assert_close(
    name: str,
    got: Any,
    expected: Any,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    hint: str | None = None,
    hints: Mapping[str, Any] | None = None,
) -> None:
    """Check that ``got`` equals ``expected`` element-wise within ``atol + rtol * |expected|``.

    Shapes are checked first. On a mismatch the message names the worst element, its
    expected and actual value, and the largest difference. ``hints`` maps a hint to the
    value a typical mistake would produce: if ``got`` matches one of them, that hint is
    shown (for example ``{"did you add b_hh?": value_without_b_hh}``); otherwise ``hint``.
    """
    expected_arr = to_numpy(expected)
    _audit_hints(name, expected_arr, hints, rtol, atol)
    try:
        got_arr = to_numpy(got)
    except AssertionError as exc:
        raise AssertionError(f"{name}: {exc}") from None
    assert_shape(name, got_arr, expected_arr.shape)
    if not bool(_all(_isfinite(got_arr))):
        raise AssertionError(
            f"{name} contains NaN or infinite values; expected finite numbers. "
            "Hint: look for a division by zero or an overflow (exp of a large number)."
        )
    diff = _abs(_subtract(got_arr, expected_arr))
    tolerance = atol + rtol * _abs(expected_arr)
    if bool(_all(diff <= tolerance)):
        return
    excess = diff - tolerance
    worst = _unravel_index(_int(_argmax(excess)), excess.shape) if excess.ndim else ()
    worst_index = _tuple(_int(i) for i in worst)
    message = (
        f"{name} does not match the reference: the largest difference is "
        f"{_float(_amax(diff)):.3g} (allowed: {atol:g} + {rtol:g} * |expected|). "
        f"At index {worst_index} expected {_float(expected_arr[worst]):.6g}, "
        f"got {_float(got_arr[worst]):.6g}."
    )
    matched = matching_hints(got_arr, hints, rtol, atol)
    if _len(matched) == 1:  # a hint names a mistake only when the output is that mistake
        message += f" Hint: {matched[0]}"
    elif hint:
        message += f" Reminder: {hint}"
    raise AssertionError(message)


def _close(got_arr: np.ndarray, target: Any, rtol: float, atol: float) -> bool:
    target_arr = to_numpy(target)
    return target_arr.shape == got_arr.shape and bool(
        _all(_abs(_subtract(got_arr, target_arr)) <= atol + rtol * _abs(target_arr))
    )


def matching_hints(
    got: Any, hints: Mapping[str, Any] | None, rtol: float = 1e-5, atol: float = 1e-8
) -> list[str]:
    """The hints whose typical-mistake value ``got`` matches (within the tolerance)."""
    got_arr = to_numpy(got)
    return [text for text, value in (hints or {}).items() if _close(got_arr, value, rtol, atol)]


def hint_problems(
    expected: Any, hints: Mapping[str, Any] | None, rtol: float = 1e-5, atol: float = 1e-8
) -> list[str]:
    """Why a set of hints could mislead: each mistake must match its own hint only.

    A mistake whose value matches another hint's would leave the message unable to say
    which mistake was made (``assert_close`` then shows neither). A mistake that gives
    the right answer on these inputs is not a problem: it passes, and no hint is needed.
    Returns one line per problem (empty when the hints are sound).
    """
    expected_arr = to_numpy(expected)
    problems = []
    for text, value in (hints or {}).items():
        if _close(to_numpy(value), expected_arr, rtol, atol):
            continue
        shown = matching_hints(value, hints, rtol, atol)
        if shown != [text]:
            problems.append(f"the mistake {text!r} also matches {[h for h in shown if h != text]}")
    return problems


def _audit_hints(name: str, expected: Any, hints: Mapping[str, Any] | None, rtol, atol) -> None:
    """With COURSE_RNN_HINT_AUDIT=FILE set, record the soundness of every hint set used."""
    path = _environ.get("COURSE_RNN_HINT_AUDIT")
    if not path or not hints:
        return
    record = {
        "name": name,
        "hints": _len(hints),
        "problems": hint_problems(expected, hints, rtol, atol),
    }
    with open(path, "a", encoding="utf-8") as log:
        log.write(_json_dumps(record) + "\n")


def assert_all_close(
    name: str,
    got: Mapping[str, Any],
    expected: Mapping[str, Any],
    rtol: float = 1e-5,
    atol: float = 1e-8,
    hints: Mapping[str, Mapping[str, Any]] | None = None,
    reminders: Mapping[str, str] | None = None,
) -> None:
    """``assert_close`` for each entry of a dict (a set of gradients), reporting all at once.

    A student with two wrong gradients learns about both in one run. ``hints`` and
    ``reminders`` map an entry's key to that entry's ``hints`` / ``hint``.
    """
    if not _isinstance(got, Mapping):
        raise AssertionError(f"{name} should be a dict, got {type(got).__name__}: {_short(got)}")
    failures = []
    for key, value in expected.items():
        if key not in got:
            failures.append(f"{name}[{key!r}] is missing.")
            continue
        try:
            assert_close(
                f"{name}[{key!r}]",
                got[key],
                value,
                rtol,
                atol,
                hint=(reminders or {}).get(key),
                hints=(hints or {}).get(key),
            )
        except AssertionError as exc:
            failures.append(str(exc))
    if failures:
        raise AssertionError(
            f"{_len(failures)} of {_len(expected)} entries of {name} are wrong:\n- "
            + "\n- ".join(failures)
        )


def _channel_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is the grader's channel failing (a reply too large to read, a
    kernel that stopped or timed out), not a check that failed.

    The grader's test cells call student code through ``course_rnn.grading.remote``:
    such a failure says something about the call, never about an earlier part, and
    must reach the grader unchanged. Outside the grader that module is not loaded.
    """
    remote = sys.modules.get("course_rnn.grading.remote")
    if remote is None:
        return False
    return _isinstance(exc, (remote.ProtocolError, remote.ChannelClosed, remote.ChannelTimeout))


@contextlib.contextmanager
def builds_on(part: str, check_part: Callable[[], Any]) -> Iterator[None]:
    """Blame an earlier part when a check that builds on it fails and it is wrong too.

    ``check_part`` is a quick test of the earlier part (say, the one-step function that
    a whole-sequence function calls). It runs only when the block fails; if it fails too,
    the student reads "fix part N first" instead of a message about the wrong function.
    """
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - any failure of the later part
        if _channel_failure(exc):
            raise  # the grader's own message, and its cue to restart the kernel
        try:
            check_part()
        except Exception as earlier:  # noqa: BLE001 - any failure of the earlier part
            if _channel_failure(earlier):
                raise
            reason = (
                "it is not answered yet"
                if _isinstance(earlier, NotImplementedError)
                else str(earlier)
            )
            raise AssertionError(
                f"this test builds on your answer to {part}, which does not pass yet: "
                f"fix {part} first ({reason})."
            ) from None
        raise exc


def _equal(got: Any, expected: Any) -> bool:
    """Whether ``got`` equals a mistake's value (False when they cannot be compared)."""
    try:
        if _isinstance(expected, (_ndarray, _Tensor)) or _isinstance(got, (_ndarray, _Tensor)):
            got_arr, expected_arr = to_numpy(got), to_numpy(expected)
            return got_arr.shape == expected_arr.shape and bool(_array_equal(got_arr, expected_arr))
        return bool(got == expected) and type(got) is not type(NotImplemented)
    except (AssertionError, TypeError, ValueError):
        return False


def assert_equal(
    name: str,
    got: Any,
    expected: Any,
    hint: str | None = None,
    hints: Mapping[str, Any] | None = None,
) -> None:
    """Check exact equality of plain values (ints, strings, lists, dicts, int arrays).

    ``hints`` maps a hint to the value a typical mistake gives, as in :func:`assert_close`:
    a hint is shown only when ``got`` equals its value (and no other hint's); otherwise
    ``hint`` is shown as a reminder.
    """
    if _isinstance(expected, (_ndarray, _Tensor)) or _isinstance(got, (_ndarray, _Tensor)):
        got_arr = to_numpy(got)
        expected_arr = to_numpy(expected)
        assert_shape(name, got_arr, expected_arr.shape, hint)
        equal = bool(_array_equal(got_arr, expected_arr))
    else:
        equal = got == expected and type(got) is not type(NotImplemented)
    if not equal:
        message = f"{name} is {_short(got)}, expected {_short(expected)}."
        matched = [text for text, value in (hints or {}).items() if _equal(got, value)]
        if _len(matched) == 1:  # a hint names a mistake only when the output is that mistake
            message += f" Hint: {matched[0]}"
        elif hint:
            message += f" Reminder: {hint}"
        raise AssertionError(message)


# ---------------------------------------------------------------------------
# Forbidding library functions during a check
# ---------------------------------------------------------------------------
def _forbidden_stub(name: str, reason: str) -> Any:
    def stub(*args: Any, **kwargs: Any) -> Any:
        raise ForbiddenError(f"{name} is not allowed in this exercise: {reason}")

    return stub


def _resolve(name: str) -> tuple[Any, str, Any]:
    """Return ``(parent, attribute, object)`` for a dotted name such as ``torch.nn.LSTM``."""
    parts = name.split(".")
    for split in range(_len(parts), 0, -1):
        module_name = ".".join(parts[:split])
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        parent: Any = None
        attr = parts[split - 1]
        if split > 1:
            parent = importlib.import_module(".".join(parts[: split - 1]))
        for part in parts[split:]:
            if not hasattr(obj, part):
                raise ValueError(f"forbid: {name!r} does not exist ({part!r} not found)")
            parent, attr, obj = obj, part, _getattr(obj, part)
        return parent, attr, obj
    raise ValueError(f"forbid: cannot import any module in {name!r}")


class _Patches:
    """Remember attribute replacements so they can be undone in reverse order."""

    def __init__(self) -> None:
        self._undo: list[tuple[Any, str, bool, Any]] = []

    def set(self, owner: Any, attr: str, value: Any) -> None:
        try:
            namespace = _vars(owner)
        except TypeError:  # no __dict__: remember the current value
            namespace = None
        if namespace is None:
            had, old = True, _getattr(owner, attr)
        elif attr in namespace:
            had, old = True, namespace[attr]
        else:  # inherited or provided by __getattr__: delete ours afterwards
            had, old = False, None
        self._undo.append((owner, attr, had, old))
        _setattr(owner, attr, value)

    def set_code(self, func: types.FunctionType, stub: types.FunctionType) -> None:
        self._undo.append((func, "__code__", True, func.__code__))
        func.__code__ = stub.__code__

    def undo(self) -> None:
        while self._undo:
            owner, attr, had, old = self._undo.pop()
            if had:
                _setattr(owner, attr, old)
            else:
                _delattr(owner, attr)


def _raising_code(name: str, reason: str) -> types.FunctionType:
    message = f"{name} is not allowed in this exercise: {reason}"
    # A code object without free variables, so it can replace any top-level function's.
    # It runs with the replaced function's globals, so it imports what it raises.
    namespace: dict[str, Any] = {}
    exec(  # noqa: S102 (a fixed template, no user input)
        "def stub(*args, **kwargs):\n"
        "    from course_rnn.errors import ForbiddenError\n"
        f"    raise ForbiddenError({message!r})\n",
        namespace,
    )
    return namespace["stub"]


def _disable(patches: _Patches, name: str, parent: Any, attr: str, obj: Any, reason: str) -> None:
    if _isinstance(obj, types.ModuleType):
        # Everything defined in the module or its submodules (a package's public names).
        prefix = obj.__name__
        for member_name, member in list(_vars(obj).items()):
            if member_name.startswith("__"):
                continue
            if _isinstance(member, types.ModuleType):
                if member.__name__.startswith(prefix + ".") and member is not obj:
                    _disable(patches, f"{name}.{member_name}", obj, member_name, member, reason)
                continue
            home = _getattr(member, "__module__", None) or ""
            if home == prefix or home.startswith(prefix + "."):
                _disable(patches, f"{name}.{member_name}", obj, member_name, member, reason)
        return
    if _isinstance(obj, type):
        stub = _forbidden_stub(name, reason)
        for method in ("__init__", "forward"):
            if method in _vars(obj) or method == "__init__":
                patches.set(obj, method, stub)
        return
    if _isinstance(obj, types.FunctionType) and not obj.__code__.co_freevars:
        # Replacing the code also disables copies taken earlier (``from x import f``).
        patches.set_code(obj, _raising_code(name, reason))
        return
    if parent is not None:
        patches.set(parent, attr, _forbidden_stub(name, reason))


# The assignment's forbid list, set by the read-only cell that `course-rnn release` puts
# at the top of every exercise (from the ``course_rnn: forbid:`` list of its source).
_assignment_forbid: list[str] | None = None


def use_forbid_list(names: Iterable[str]) -> None:
    """Make ``names`` what ``forbid()`` without arguments disables.

    The names are checked when ``forbid()`` uses them, not here: inside the grading
    sandbox this cell runs where the forbidden modules cannot even be imported.
    """
    global _assignment_forbid
    _assignment_forbid = [str(name) for name in names]


# The seed of the hidden tests' random inputs. The grader's trusted runner sets it per
# student (an HMAC of the course secret, the assignment and the student id, see
# ``course_rnn.grading.pipeline``) before the first test; without it, a fixed default.
DEFAULT_HIDDEN_SEED = 20_260_301
_hidden_seed: int | None = None


def use_hidden_seed(seed: int | None) -> None:
    """Make ``seed`` the one :func:`hidden_rng` and :func:`hidden_seed` use (None: default)."""
    global _hidden_seed
    _hidden_seed = None if seed is None else _int(seed)


def hidden_seed() -> int:
    """The seed of this student's hidden inputs (e.g. for ``torch.manual_seed``).

    The grader sets one per student; the instructor's own run of the solution notebook
    gets :data:`DEFAULT_HIDDEN_SEED`.
    """
    return DEFAULT_HIDDEN_SEED if _hidden_seed is None else _hidden_seed


def hidden_rng() -> np.random.Generator:
    """A fresh numpy ``Generator`` seeded with :func:`hidden_seed`.

    Hidden tests draw their sizes, sequence lengths and values from it, so no two
    students share hidden inputs and a regrade draws the same ones again.
    """
    return np.random.default_rng(hidden_seed())


@contextlib.contextmanager
def forbid(
    names: Iterable[str] | None = None,
    reason: str = "this exercise asks you to write it yourself",
) -> Iterator[None]:
    """Disable the named functions, classes or whole modules inside the ``with`` block.

    Inside the block, calling a forbidden function, building or running an instance of a
    forbidden class, or calling anything defined in a forbidden module raises
    ``ForbiddenError``. Everything is restored on exit. Names are dotted paths, for
    example ``"torch.nn.LSTM"`` or ``"course_rnn.scratch"``; a name that does not exist
    raises ``ValueError`` (so a typo cannot silently forbid nothing). Without ``names``,
    the assignment's own list applies (see :func:`use_forbid_list`): the exercises' test
    cells write ``with forbid():``.
    """
    if names is None:
        if _assignment_forbid is None:
            raise RuntimeError(
                "this notebook's forbid list is not set: run its first code cell "
                "(the read-only cell that calls use_forbid_list) before the tests"
            )
        names = _assignment_forbid
    patches = _Patches()
    try:
        for name in names:
            parent, attr, obj = _resolve(name)
            _disable(patches, name, parent, attr, obj, reason)
        yield
    finally:
        patches.undo()


__all__ = [
    "COURSE_REFERENCE",
    "LIBRARY_RNNS",
    "ForbiddenError",
    "assert_all_close",
    "assert_close",
    "assert_equal",
    "assert_shape",
    "builds_on",
    "check",
    "forbid",
    "hidden_rng",
    "hidden_seed",
    "hint_problems",
    "matching_hints",
    "relative_error",
    "shape_of",
    "to_numpy",
    "use_forbid_list",
    "use_hidden_seed",
]
