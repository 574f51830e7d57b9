"""The one exception that student answers and the grader's sandbox share.

A module of its own so that both sides can raise it without importing each other:
:mod:`course_rnn.testing` (the checks, with numpy and torch) and
:mod:`course_rnn.grading.kernel` (the sandboxed kernel, which must start light).
"""


class ForbiddenError(RuntimeError):
    """Raised when an answer calls something the exercise asks the student to write."""
