"""The course folder: where ``nbgrader_config.py`` lives and what it says.

A light module (nbgrader and traitlets are imported only when a configuration is read),
shared by ``course-rnn grade`` and ``course-rnn release``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from traitlets.config import Config

__all__ = ["CONFIG_FILE", "course_settings", "find_course_root"]

CONFIG_FILE = "nbgrader_config.py"


def find_course_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: cwd) holding ``nbgrader_config.py``.

    Raises ``FileNotFoundError`` naming where the search started when there is none.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise FileNotFoundError(
        f"no course root found at or above {here}: expected a folder with {CONFIG_FILE} "
        "(run this inside the course folder, or name it with --course-root)"
    )


def course_settings(root: Path) -> tuple[str, str, Config]:
    """``(course_id, source_directory, config)`` from the course's ``nbgrader_config.py``.

    nbgrader's defaults (``default_course``, ``source``) when the file is missing.
    """
    from traitlets.config import Config

    course_id, source_dir, config = "default_course", "source", Config()
    config_file = root / CONFIG_FILE
    if config_file.is_file():
        from traitlets.config.loader import PyFileConfigLoader

        config = PyFileConfigLoader(config_file.name, path=str(root)).load_config()
        course_dir = config.get("CourseDirectory", {})
        course_id = str(course_dir.get("course_id", course_id))
        source_dir = str(course_dir.get("source_directory", source_dir))
    return course_id, source_dir, config
