"""Late submissions: due dates, timestamps from LMS file names, and graded penalties.

nbgrader knows only two late policies ("none" and "zero"). This module adds a
configurable one, ``P%/day`` style, as an nbgrader ``LateSubmissionPlugin`` subclass, so
the same policy also works with stock ``nbgrader autograde``::

    c.AssignLatePenalties.plugin_class = "course_rnn.grading.late.GradedLatePenalty"
    c.GradedLatePenalty.spec = "10%/day,max=50%"

All datetimes here are naive UTC, as nbgrader stores them.
"""

from __future__ import annotations

import math
import os
import re
import stat
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import parser as dateparser
from nbgrader.plugins.latesubmission import LateSubmissionPlugin
from traitlets import Unicode

__all__ = [
    "BLACKBOARD_FILE",
    "EARLIEST",
    "LATEST",
    "GradedLatePenalty",
    "LatePolicy",
    "parse_due",
    "parse_lms_timestamp",
    "parse_penalty",
    "parse_timestamp",
    "read_timestamp_file",
]

# Submission times outside this window are refused as impossible (a corrupt file, a
# hand-made name): they would otherwise make a late penalty out of nothing.
EARLIEST = datetime(1990, 1, 1)
LATEST = datetime(2200, 1, 1)

_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}

# Blackboard Learn "download assignment" names (the one definition; submissions.py
# reads the student id and the original file name with BLACKBOARD_FILE):
#   <Assignment>_<username>_attempt_2026-03-01-23-59-59_<original file name>
BLACKBOARD_STAMP = (
    r"_attempt_(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})-(?P<h>\d{2})-(?P<mi>\d{2})-(?P<s>\d{2})"
)
BLACKBOARD_FILE = re.compile(
    rf"(?P<assignment>.+?)_(?P<student>[^_]+){BLACKBOARD_STAMP}_(?P<file>.+)", re.DOTALL
)
_BLACKBOARD = re.compile(BLACKBOARD_STAMP)
# D2L Brightspace folder and file names: "123-456 - Smith, Jo - Mar 1, 2026 1159 PM - x.ipynb"
_D2L = re.compile(
    r" - (?P<mon>[A-Z][a-z]{2}) (?P<d>\d{1,2}), (?P<y>\d{4}) (?P<hm>\d{3,4}) (?P<ampm>[AP]M)"
)
# ISO-like stamps anywhere in a name: 2026-03-01T23-59-59, 2026-03-01_23:59:59, 20260301T235959
_ISO = re.compile(
    r"(?P<y>\d{4})-?(?P<mo>\d{2})-?(?P<d>\d{2})[T_ ](?P<h>\d{2})[-:]?(?P<mi>\d{2})[-:]?(?P<s>\d{2})"
    r"(?P<tz>Z|[+-]\d{2}:?\d{2})?"
)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {name!r}: expected an IANA name such as 'UTC' or 'Europe/Berlin'"
        ) from exc


def _to_utc_naive(moment: datetime, lms_timezone: str) -> datetime:
    """Convert ``moment`` (aware, or naive in ``lms_timezone``) to naive UTC.

    Raises ``ValueError`` for a time outside ``EARLIEST``..``LATEST``.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_zone(lms_timezone))
    try:
        utc = moment.astimezone(UTC).replace(tzinfo=None)
    except (OverflowError, ValueError) as exc:
        raise ValueError(f"impossible time {moment.isoformat()}") from exc
    if not EARLIEST <= utc < LATEST:
        raise ValueError(
            f"implausible time {utc.isoformat()} (expected a year from {EARLIEST.year} "
            f"to {LATEST.year - 1})"
        )
    return utc


def _moment(parts: list[int], text: str) -> datetime:
    """``datetime(*parts)``, or a ``ValueError`` naming ``text`` for an impossible date."""
    try:
        return datetime(*parts)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"impossible date in {text!r}: {exc}") from exc


def parse_due(text: str, timezone: str = "UTC") -> datetime:
    """Parse a due date given on the command line into naive UTC.

    Accepts ISO 8601 (``2026-03-01T23:59``, ``2026-03-01 23:59:00+01:00``); a date and
    time without an offset is read in ``timezone``. A bare date means the end of that
    day (23:59:59).
    """
    text = text.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(
            f"cannot read due date {text!r}: expected ISO 8601 such as "
            f"'2026-03-01T23:59' or '2026-03-01T23:59:00+01:00'"
        ) from exc
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        moment = moment.replace(hour=23, minute=59, second=59)
    return _to_utc_naive(moment, timezone)


def parse_lms_timestamp(name: str, lms_timezone: str = "UTC") -> datetime | None:
    """Submission time encoded in an LMS download's file or folder name, as naive UTC.

    Recognised: Blackboard (``..._attempt_2026-03-01-23-59-59_...``), D2L Brightspace
    (``... - Mar 1, 2026 1159 PM - ...``) and ISO-like stamps (``2026-03-01T23-59-59``,
    optionally with ``Z`` or ``+01:00``). LMS stamps carry no offset: they are read in
    ``lms_timezone`` (the LMS server's zone). Returns None when the name has no stamp;
    raises ``ValueError`` when it has one that is not a possible time (month 13, year 1).
    """
    match = _BLACKBOARD.search(name)
    if match:
        parts = [int(match[k]) for k in ("y", "mo", "d", "h", "mi", "s")]
        return _to_utc_naive(_moment(parts, match[0]), lms_timezone)
    match = _D2L.search(name)
    if match:
        hm = match["hm"].zfill(4)
        text = f"{match['mon']} {match['d']} {match['y']} {hm[:2]}:{hm[2:]} {match['ampm']}"
        try:
            moment = datetime.strptime(text, "%b %d %Y %I:%M %p")
        except ValueError as exc:
            raise ValueError(f"impossible date in {match[0]!r}: {exc}") from exc
        return _to_utc_naive(moment, lms_timezone)
    match = _ISO.search(name)
    if match:
        parts = [int(match[k]) for k in ("y", "mo", "d", "h", "mi", "s")]
        moment = _moment(parts, match[0])
        if match["tz"]:
            tz = match["tz"]
            offset = 0
            if tz != "Z":
                sign = 1 if tz[0] == "+" else -1
                digits = tz[1:].replace(":", "")
                offset = sign * (int(digits[:2]) * 60 + int(digits[2:]))
            try:
                zone = timezone(timedelta(minutes=offset))
            except ValueError as exc:
                raise ValueError(f"impossible time zone offset in {match[0]!r}") from exc
            return _to_utc_naive(moment.replace(tzinfo=zone), "UTC")
        return _to_utc_naive(moment, lms_timezone)
    return None


# nbgrader's timestamp.txt: ``Exchange.timestamp_format``, by default
# "%Y-%m-%d %H:%M:%S.%f %Z" in ``Exchange.timezone`` (UTC by default), e.g.
# "2026-03-01 23:59:59.123456 UTC"; with another zone the name is an abbreviation
# ("CET", "EDT"); "%z" gives "+0100". The date, then an optional zone after a space.
_NBGRADER_STAMP = re.compile(
    r"(?P<when>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,6})?)?)"
    r"(?:\s*(?P<zone>Z|[+-]\d{2}(?::?\d{2})?|[A-Za-z][A-Za-z0-9_+/-]{0,40}))?"
)
_UTC_NAMES = {"Z", "UTC", "GMT", "UT", "ZULU", "ETC/UTC", "ETC/GMT"}


def _stamp_zone(zone: str, wall: datetime, lms_timezone: str) -> datetime:
    """``wall`` (naive) made aware in the zone named ``zone`` in a timestamp.txt.

    ``zone`` is ``Z``/``UTC``/``GMT``, an offset (``+0100``, ``-05:00``), an IANA name
    (``Europe/Berlin``) or an abbreviation as ``%Z`` writes it. An abbreviation is read
    as the one ``lms_timezone`` uses at that time (``CEST`` in summer for
    Europe/Berlin), else as the zone of that name when its abbreviation then is the same
    (``EST``, ``CET`` in winter); any other is refused: ``IST`` or ``CST`` could be one
    of several zones.
    """
    if zone.upper() in _UTC_NAMES:
        return wall.replace(tzinfo=UTC)
    if zone[0] in "+-":
        digits = zone[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + int(digits[2:] or 0)
        try:
            return wall.replace(tzinfo=timezone(timedelta(minutes=minutes * int(f"{zone[0]}1"))))
        except ValueError as exc:
            raise ValueError(f"impossible time zone offset {zone!r}") from exc
    if "/" in zone:
        return wall.replace(tzinfo=_zone(zone))
    candidates = [_zone(lms_timezone)]
    try:
        candidates.append(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        pass
    for tz in candidates:
        for fold in (0, 1):  # the hour that repeats when clocks go back: CEST, then CET
            moment = wall.replace(tzinfo=tz, fold=fold)
            if moment.tzname() == zone:
                return moment
    raise ValueError(
        f"unknown time zone {zone!r}: not UTC, an offset such as +01:00, nor what the "
        f"zone given with --timezone ({lms_timezone}) is called at that time"
    )


def parse_timestamp(text: str, lms_timezone: str = "UTC") -> datetime:
    """Parse a submission time as nbgrader writes it in ``timestamp.txt``, as naive UTC.

    nbgrader's format, ``2026-03-01 23:59:59.123456 UTC``, with or without fractional
    seconds, with a zone abbreviation (``CET``), an offset (``+0100``), an IANA name or
    no zone; a time without a zone is read in ``lms_timezone``. Other spellings that
    ``dateutil`` reads unambiguously (``March 1 2026 10:00 UTC``) are accepted too.
    Raises ``ValueError`` with the reason for anything else.
    """
    example = "expected a time such as '2026-03-01 23:59:59.123456 UTC'"
    text = " ".join(text.split())
    match = _NBGRADER_STAMP.fullmatch(text)
    if match:
        when = match["when"].replace(",", ".")
        if "." in when:  # fromisoformat wants 3 or 6 digits of a second
            head, frac = when.split(".")
            when = f"{head}.{frac.ljust(6, '0')}"
        try:
            wall = datetime.fromisoformat(when)
        except ValueError as exc:
            raise ValueError(f"impossible date in {text[:60]!r}: {exc}") from exc
        if match["zone"] is None:
            return _to_utc_naive(wall, lms_timezone)
        return _to_utc_naive(_stamp_zone(match["zone"], wall, lms_timezone), lms_timezone)
    with warnings.catch_warnings():
        # dateutil warns and drops a zone name it does not know: refuse that instead.
        warnings.simplefilter("error", dateparser.UnknownTimezoneWarning)
        try:
            moment = dateparser.parse(text)
        except (ValueError, OverflowError, TypeError, dateparser.UnknownTimezoneWarning) as exc:
            raise ValueError(f"{example}, got {text[:60]!r}") from exc
    return _to_utc_naive(moment, lms_timezone)


def read_timestamp_file(path: Path, lms_timezone: str = "UTC") -> datetime:
    """Read nbgrader's ``timestamp.txt`` (see :func:`parse_timestamp`) as naive UTC.

    Raises ``ValueError`` with the reason for a link, a folder or another file that is
    not a regular one, and for an unreadable, empty, impossible or implausible time
    (only the first 200 bytes are read).
    """
    try:
        # Never through a link, never blocking on a FIFO: a regular file or a reason.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise ValueError("timestamp.txt is not a regular file; refused")
            raw = fh.read(201)
    except OSError as exc:
        raise ValueError(f"cannot read timestamp.txt ({exc.strerror or exc})") from exc
    text = raw[:200].decode("utf-8", errors="replace").strip()
    example = "expected a time such as '2026-03-01 23:59:59.123456 UTC'"
    if not text:
        raise ValueError(f"timestamp.txt is empty: {example}")
    if len(raw) > 200:
        raise ValueError(f"timestamp.txt is longer than 200 bytes: {example}")
    try:
        return parse_timestamp(text, lms_timezone)
    except ValueError as exc:
        raise ValueError(f"cannot read timestamp.txt: {exc}") from exc


@dataclass(frozen=True)
class LatePolicy:
    """A late penalty: ``percent`` of the notebook score per started ``unit`` late.

    ``zero`` takes every point; ``percent == 0`` means no penalty. ``cap`` (percent)
    bounds the total penalty; ``grace_s`` seconds after the due date are free.
    """

    percent: float = 0.0
    unit_s: int = 86400
    cap: float = 100.0
    zero: bool = False
    grace_s: float = 0.0

    def penalty(self, score: float, seconds_late: float) -> float:
        """Points to subtract from ``score`` for a submission ``seconds_late`` late."""
        if seconds_late <= self.grace_s or score <= 0:
            return 0.0
        if self.zero:
            return float(score)
        units = math.ceil((seconds_late - self.grace_s) / self.unit_s)
        fraction = min(self.percent * units, self.cap) / 100.0
        return round(min(score, score * fraction), 6)

    def describe(self) -> str:
        """The policy in words, for feedback and reports."""
        if self.zero:
            return "a late submission scores 0"
        if self.percent == 0:
            return "no late penalty"
        unit = next(k for k, v in _UNIT_SECONDS.items() if v == self.unit_s)
        text = f"{self.percent:g}% of the score per started {unit} late"
        if self.cap < 100:
            text += f", at most {self.cap:g}%"
        if self.grace_s:
            text += f", after {self.grace_s / 60:g} minutes of grace"
        return text


_SPEC = re.compile(
    r"(?P<pct>\d+(?:\.\d+)?)%/(?P<unit>minute|hour|day|week)"
    r"(?:,max=(?P<cap>\d+(?:\.\d+)?)%)?(?:,grace=(?P<grace>\d+)m)?"
)


def parse_penalty(spec: str) -> LatePolicy:
    """Parse a penalty spec: ``none``, ``zero`` or ``P%/UNIT[,max=Q%][,grace=Mm]``.

    UNIT is minute, hour, day or week; e.g. ``10%/day,max=50%`` or ``2%/hour,grace=15m``.
    """
    text = spec.strip().lower().replace(" ", "")
    if text == "none":
        return LatePolicy()
    if text == "zero":
        return LatePolicy(zero=True)
    match = _SPEC.fullmatch(text)
    if not match:
        raise ValueError(
            f"cannot read late penalty {spec!r}: expected 'none', 'zero' or "
            f"'P%/UNIT[,max=Q%][,grace=Mm]' with UNIT minute|hour|day|week, "
            f"e.g. '10%/day,max=50%'"
        )
    percent = float(match["pct"])
    cap = float(match["cap"]) if match["cap"] else 100.0
    if percent > 100 or cap > 100:
        raise ValueError(f"late penalty {spec!r}: percentages must be at most 100")
    grace = float(match["grace"]) * 60 if match["grace"] else 0.0
    return LatePolicy(percent, _UNIT_SECONDS[match["unit"]], cap, False, grace)


class GradedLatePenalty(LateSubmissionPlugin):
    """nbgrader late-submission plugin applying a :class:`LatePolicy` spec."""

    spec = Unicode("none", help="Penalty spec, e.g. '10%/day,max=50%'.").tag(config=True)

    def late_submission_penalty(
        self, student_id: str, score: float, total_seconds_late: float
    ) -> float | None:
        """Points to subtract from one notebook's ``score`` (nbgrader's plugin API)."""
        return parse_penalty(self.spec).penalty(score or 0.0, total_seconds_late)
