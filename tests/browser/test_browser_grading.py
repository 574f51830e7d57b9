"""No student script runs in a page a person opens after grading (issue: the grader's browser).

One `course-rnn grade` run over a class with hostile markup (in written answers, extra
Markdown cells, printed output, exception messages, fake images, grade ids, file and
folder names) and one honest student who draws a plot. Then headless Chromium opens
every page the run wrote (feedback, report.html, report.md rendered as Markdown) and
nbgrader's formgrader, served by a real Jupyter server from a course that uses the
repository's own ``nbgrader_config.py``, showing each autograded notebook. Every
payload would set ``top.__pwned`` or fetch ``pwned.invalid``; neither may happen.

Needs bubblewrap (the grading sandbox) and Chromium, like the rest of the suite.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.grading, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
TINY_SOURCE = REPO / "tests" / "fixtures" / "tiny_course" / "solutions" / "tiny" / "tiny.ipynb"
MARK = "top.__pwned=1"
PAYLOADS = [
    f"<script>{MARK}</script>",
    f"<img src=x onerror={MARK}>",
    f"<svg onload={MARK}><circle r=5 /></svg>",
    f"<svg><script>{MARK}</script></svg>",
    f'<iframe srcdoc="<script>{MARK}</script>"></iframe>',
    f"<details open ontoggle={MARK}>x</details>",
    f'<object data="data:text/html,<script>{MARK}</script>"></object>',
    f'<a href="javascript:{MARK}">a link</a>',
    f'<meta http-equiv="refresh" content="0;url=javascript:{MARK}">',
    "<img src=http://pwned.invalid/pixel.png>",
    f"$<img src=x onerror={MARK}>$",
    f"[md link](javascript:{MARK})",
    f'<body onload="{MARK}">',
    f'<style>@import url(http://pwned.invalid/x.css);</style><b style="x:expression({MARK})">b</b>',
]
HOSTILE_MD = "My answer.\n\n" + "\n\n".join(PAYLOADS)
HOSTILE_CODE = (
    "from IPython.display import display, HTML, SVG, Javascript\n"
    f"print({HOSTILE_MD!r})\n"
    f"display(HTML({PAYLOADS[1]!r}))\n"
    f"display(Javascript({MARK!r}))\n"
    f"display({{'image/png': '\"><img src=x onerror={MARK}>', 'text/plain': 'x'}}, raw=True)\n"
    f"display({{'text/html': {PAYLOADS[0]!r}, 'image/svg+xml': {PAYLOADS[2]!r}}}, raw=True)\n"
)


def _student(extra: list[nbformat.NotebookNode], written: str) -> nbformat.NotebookNode:
    """The source notebook (its answers are right) with ``extra`` cells and ``written``
    as the written answer."""
    nb = nbformat.read(str(TINY_SOURCE), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = written
    nb.cells[1:1] = extra
    return nb


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A course graded by `course-rnn grade`: hostile and honest students."""
    from course_rnn.cli import main

    base = tmp_path_factory.mktemp("xss")
    course = base / "course"
    (course / "solutions" / "tiny").mkdir(parents=True)
    shutil.copy(TINY_SOURCE, course / "solutions" / "tiny" / "tiny.ipynb")
    config = (REPO / "nbgrader_config.py").read_text()
    config += '\nc.CourseDirectory.autograded_directory = "out/autograded"\n'
    (course / "nbgrader_config.py").write_text(config)
    subs = base / "subs"
    hostile = _student(
        [
            nbformat.v4.new_markdown_cell(HOSTILE_MD, metadata={"tags": ['"><script>x</script>']}),
            nbformat.v4.new_code_cell(HOSTILE_CODE),
            nbformat.v4.new_code_cell(f"raise ValueError({PAYLOADS[1]!r})"),
            nbformat.v4.new_markdown_cell(
                "x", metadata={"nbgrader": {"grade_id": PAYLOADS[0], "solution": True}}
            ),
        ],
        HOSTILE_MD,
    )
    honest = _student(
        [
            nbformat.v4.new_code_cell(
                "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()\n1 + 1"
            )
        ],
        "Because a negative times a negative is positive.",
    )
    for student, nb in (("hostile", hostile), ("honest", honest)):
        (subs / student).mkdir(parents=True)
        nbformat.write(nb, str(subs / student / "tiny.ipynb"))
    (subs / "hostile" / f"{PAYLOADS[1]}.ipynb").write_text("{}")  # a file name with markup
    (subs / f"<svg onload={MARK}>").mkdir()  # a folder name with markup: rejected
    out = course / "out"
    code = main(["grade", "tiny", str(subs), "--out", str(out), "--course-root", str(course)])
    assert code == 0
    return {"course": course, "out": out}


@pytest.fixture(scope="module")
def formgrader(graded: dict) -> Iterator[str]:
    """nbgrader's formgrader (a Jupyter server started in the course): its base URL."""
    course = graded["course"]
    port = _free_port()
    token = "course-rnn-test"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env["JUPYTER_CONFIG_DIR"] = str(course / ".jupyter")
    cmd = [
        str(Path(sys.executable).parent / "jupyter"),
        "server",
        "--no-browser",
        f"--port={port}",
        "--ip=127.0.0.1",
        f"--ServerApp.root_dir={course}",
        f"--IdentityProvider.token={token}",
    ] + (["--allow-root"] if os.geteuid() == 0 else [])
    log = open(course / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, cwd=course, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the Jupyter server did not start:\n" + _tail(course))
                time.sleep(0.5)
        yield f"{url}|{token}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _tail(course: Path) -> str:
    return (course / "server.log").read_text(errors="replace")[-3000:]


def _submission_ids(course: Path) -> dict[str, str]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "course-rnn") as gb:
        return {s: gb.find_submission_notebook("tiny", "tiny", s).id for s in ("hostile", "honest")}


@pytest.fixture(scope="module")
def chromium(browser: Browser) -> Browser:
    """The session's Chromium (conftest.py): a second sync Playwright in one session fails."""
    return browser


def _open(browser: Browser, url: str) -> dict:
    """Load ``url``; report whether a payload ran and what left localhost and file://.

    ``handlers`` lists event-handler and ``javascript:`` attributes in what the student
    controls: the notebook in the formgrader (its own navigation has some), else the page.
    """
    context = browser.new_context()
    outside: list[str] = []

    def route(r):
        target = r.request.url
        if target.startswith(("file:", "data:", "about:", "http://127.0.0.1")):
            r.continue_()
        else:
            outside.append(target)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    try:
        response = page.goto(url, wait_until="load")
        page.wait_for_timeout(1500)
        pwned = [f.url for f in page.frames if f.evaluate("() => Boolean(window.__pwned)")]
        handlers = page.evaluate(
            """() => [...(document.querySelector('#notebook-container') || document.body)
                 .querySelectorAll('*')].flatMap(el =>
                 [...el.attributes].filter(a => /^on/i.test(a.name) ||
                   /^\\s*javascript:/i.test(a.value)).map(a => el.tagName + ' ' + a.name))"""
        )
        text = page.inner_text("body")
        status = response.status if response else None
    finally:
        context.close()
    return {
        "pwned": pwned,
        "outside": outside,
        "handlers": handlers,
        "text": text,
        "status": status,
    }


def test_every_autograded_notebook_is_valid_nbformat(graded: dict) -> None:
    notebooks = sorted((graded["out"] / "autograded").rglob("*.ipynb"))
    assert len(notebooks) == 2
    for path in notebooks:
        nbformat.validate(nbformat.read(str(path), as_version=4))


def test_formgrader_shows_every_autograded_notebook(graded: dict, formgrader: str) -> None:
    url, token = formgrader.split("|")
    for student, ident in _submission_ids(graded["course"]).items():
        with urllib.request.urlopen(f"{url}/formgrader/submissions/{ident}/?token={token}") as r:
            assert r.status == 200, student
            page = r.read().decode()
        assert "Student's answer" in page, student


def test_no_student_script_runs_in_the_formgrader(
    graded: dict, formgrader: str, chromium: Browser
) -> None:
    url, token = formgrader.split("|")
    ident = _submission_ids(graded["course"])["hostile"]
    seen = _open(chromium, f"{url}/formgrader/submissions/{ident}/?token={token}")
    assert seen["status"] == 200
    assert seen["pwned"] == [] and seen["handlers"] == []
    assert not [u for u in seen["outside"] if "pwned" in u], seen["outside"]
    assert "<script>" in seen["text"]  # shown as text to the grader, not run


@pytest.mark.parametrize("page", ["feedback", "report.html", "report.md"])
def test_no_student_script_runs_in_pages_the_run_wrote(
    graded: dict, chromium: Browser, page: str, tmp_path: Path
) -> None:
    out = graded["out"]
    if page == "feedback":
        paths = sorted((out / "feedback").rglob("*.html"))
        assert len(paths) == 2
    elif page == "report.md":  # as a Markdown viewer that passes raw HTML would show it
        from markdown_it import MarkdownIt

        html = (
            MarkdownIt("commonmark", {"html": True})
            .enable("table")
            .render((out / "report.md").read_text())
        )
        paths = [tmp_path / "report_md.html"]
        paths[0].write_text(f"<!DOCTYPE html><html><body>{html}</body></html>")
    else:
        paths = [out / page]
    for path in paths:
        seen = _open(chromium, path.as_uri())
        assert seen["pwned"] == [] and seen["handlers"] == [], path
        assert seen["outside"] == [], path
    report = (out / "report.md").read_text()
    assert "<" not in report and "\x1b" not in report


# ------------------------------------------------------------ issue 24: the hand-over
@pytest.fixture(scope="module")
def command_formgrader(graded: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`course-rnn formgrader`'s server on a copy of the course whose nbgrader_config.py
    is the repository's, unedited: the run's folder comes from the command alone."""
    from course_rnn.grading.formgrader import formgrader_command

    course = tmp_path_factory.mktemp("plain_course")
    shutil.copytree(graded["course"] / "solutions", course / "solutions")
    shutil.copy(graded["course"] / "gradebook.db", course / "gradebook.db")
    shutil.copy(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    port, token = _free_port(), "course-rnn-cmd"
    argv, env, url = formgrader_command(course, graded["out"], course / ".cfg", port, token)
    assert url.startswith("http://127.0.0.1:")
    env = {k: v for k, v in env.items() if not k.startswith("JUPYTER") or k == "JUPYTER_CONFIG_DIR"}
    log = open(course / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(argv, cwd=course, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the formgrader did not start:\n" + _tail(course))
                time.sleep(0.5)
        yield f"{base}|{token}|{course}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_formgrader_command_shows_the_runs_notebooks(command_formgrader: str) -> None:
    base, token, course = command_formgrader.split("|")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}", "course-rnn") as gb:
        ident = gb.find_submission_notebook("tiny", "tiny", "honest").id
    with urllib.request.urlopen(f"{base}/formgrader/submissions/{ident}/?token={token}") as r:
        assert r.status == 200
        assert "Student's answer" in r.read().decode()
    assert "autograded_directory" not in (Path(course) / "nbgrader_config.py").read_text()


@pytest.mark.parametrize("page", ["feedback", "report.html"])
def test_feedback_and_report_fit_a_1280_px_screen(
    graded: dict, chromium: Browser, page: str
) -> None:
    out = graded["out"]
    paths = sorted((out / "feedback").rglob("*.html")) if page == "feedback" else [out / page]
    for path in paths:
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        try:
            view = context.new_page()
            view.goto(path.as_uri(), wait_until="load")
            seen = view.evaluate(
                """() => ({scroll: document.documentElement.scrollWidth,
                          width: window.innerWidth,
                          cut: [...document.querySelectorAll('.pair > div, td, th')]
                            .filter(el => el.getBoundingClientRect().right > innerWidth + 1)
                            .length,
                          text: document.body.innerText})"""
            )
        finally:
            context.close()
        assert seen["scroll"] <= seen["width"] and seen["cut"] == 0, path
        if page == "feedback":
            assert "Your score" in seen["text"] and "Tiny assignment" in seen["text"], path
            assert "tiny / tiny" not in seen["text"]
        else:
            assert "What the class got wrong" in seen["text"]


def test_side_by_side_pairs_fit_a_1280_px_screen(chromium: Browser, tmp_path: Path) -> None:
    """Two long-lined answers side by side: both columns stay on the screen."""
    from course_rnn.grading.similarity import (
        SIMILARITY_STYLE,
        SimilarityReport,
        SimilaritySettings,
        SimilarPair,
        pairs_html,
    )

    code = "def f(x):\n    return " + " + ".join(f"x * {i}" for i in range(80)) + "\n"
    pair = SimilarPair("nb", "cell", "amy", "ben", 1.0, 1.0, 1.0, 100, code, code, [], [])
    body = pairs_html(SimilarityReport(SimilaritySettings(), [pair]))
    page = tmp_path / "pairs.html"
    page.write_text(
        "<!DOCTYPE html><html><head><style>body{max-width:60rem;margin:2rem auto;"
        f"padding:0 1rem}}{SIMILARITY_STYLE}</style></head><body>{body}</body></html>"
    )
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        view = context.new_page()
        view.goto(page.as_uri(), wait_until="load")
        rights = view.evaluate(
            "() => [...document.querySelectorAll('.pair > div')]"
            ".map(el => el.getBoundingClientRect().right)"
        )
    finally:
        context.close()
    assert len(rights) == 2 and max(rights) <= 1280
