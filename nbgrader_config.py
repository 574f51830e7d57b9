"""nbgrader configuration for course-rnn.

The course root is this folder: ``solutions/`` holds the nbgrader source notebooks (with
answers and hidden tests) and ``exercises/`` the generated student release. Runtime
folders (``submitted/``, ``autograded/``, ``feedback/``) and ``gradebook.db`` are created
here by nbgrader and are git-ignored. Regenerate the release with ``course-rnn release``.
"""

import os

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "course-rnn"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"

# Stubs students see in answer cells.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Notebooks with a short training run need more than nbgrader's default 30 s per cell
# when the machine is busy.
c.ExecutePreprocessor.timeout = 120

# Student Markdown is rendered, then sanitised (bleach, course_rnn.grading.markup), in
# every HTML page nbgrader makes from a notebook: the formgrader and generate_feedback.
# nbgrader's formgrade template renders Markdown cells without nbconvert's sanitiser,
# so the filter is replaced; sanitize_html covers the outputs (HTML, SVG, JavaScript).
# No student script runs in a grader's logged-in browser (docs/grading-security.md).
c.HTMLExporter.sanitize_html = True
c.HTMLExporter.filters = {"markdown2html": "course_rnn.grading.markup.markdown2html"}
