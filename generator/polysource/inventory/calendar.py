"""systemd calendar expressions (systemd.time(7), "Calendar Events"), checked where written.

render puts `backup.schedule` into the timer's OnCalendar=; systemd refuses a unit whose
expression it cannot parse only when the timer is loaded, on another machine, long after the
render. This follows the syntax as `systemd-analyze calendar` accepts it (the tests hold the two
side by side); it is written from the manual and that tool's answers, not from systemd's code.
"""

import re
import zoneinfo
from functools import cache

SHORTHANDS = {
    "minutely",
    "hourly",
    "daily",
    "monthly",
    "weekly",
    "yearly",
    "annually",
    "quarterly",
    "semiannually",
}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = {
    **{day: i for i, day in enumerate(DAYS)},
    **{
        name: i
        for i, name in enumerate(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        )
    },
}
NUMBER = re.compile(r"[0-9]+")
SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")  # rounded to microseconds, as systemd keeps them
DATE = re.compile(r"(?:(?P<year>[^-~]+)-)?(?P<month>[^-~]+)(?P<sep>[-~])(?P<day>[^-~]+)")
EXAMPLES = "e.g. daily, *-*-* 03:00:00, Mon..Fri 02:30 (systemd.time(7))"


class CalendarError(ValueError):
    pass


def check_calendar(text: str) -> None:
    """Raise CalendarError saying what is wrong, or return when systemd would take the text."""
    if any(ch.isspace() and ch != " " for ch in text):
        raise CalendarError("only spaces may separate its parts (no tab or line break)")
    words = text.split()
    if not words or text != text.strip():
        raise CalendarError("empty, or spaces around it" if text.strip() else "empty")
    if words[0].casefold() in SHORTHANDS or re.fullmatch(r"@[0-9]+", words[0]):
        _rest_is_timezone(words[1:])
        return
    found = False
    if words and words[0][:1].isalpha() and not _is_timezone_word(words, 0):
        _weekdays(words.pop(0))
        found = True
    if words and ":" not in words[0] and ("-" in words[0] or "~" in words[0]):
        _date(words.pop(0))
        found = True
    if words and ":" in words[0]:
        _time(words.pop(0))
        found = True
    if not found:
        raise CalendarError(f"{text!r} has no day, date or time")
    _rest_is_timezone(words)


def _is_timezone_word(words: list[str], i: int) -> bool:
    """A lone last word that is a zone, not a weekday (`UTC` after nothing is no expression)."""
    return (
        len(words) == 1
        and words[i].casefold() not in DAY_NAMES
        and "," not in words[i]
        and "." not in words[i]
    )


def _rest_is_timezone(words: list[str]) -> None:
    if not words:
        return
    if len(words) > 1:
        raise CalendarError(f"unexpected {' '.join(words)!r} (a time zone is the last word)")
    if words[0].casefold() != "utc" and words[0] not in _zones():
        raise CalendarError(f"{words[0]!r} is not a time zone (UTC, or a name such as Europe/Paris)")


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _weekdays(text: str) -> None:
    for item in text.split(","):
        ends = item.split("..")
        if len(ends) > 2 or any(end.casefold() not in DAY_NAMES for end in ends):
            raise CalendarError(f"{item!r} is not a day of the week (Mon, Tue, ... or a range Mon..Fri)")
        if len(ends) == 2 and DAY_NAMES[ends[0].casefold()] > DAY_NAMES[ends[1].casefold()]:
            raise CalendarError(f"{item!r}: a range of days goes forward within one week")


def _date(text: str) -> None:
    found = DATE.fullmatch(text)
    if found is None:
        raise CalendarError(f"{text!r} is not a date (YEAR-MONTH-DAY or MONTH-DAY, * for any)")
    if found["year"] is not None:
        _component(found["year"], 1970, 2199, "year", year=True)
    _component(found["month"], 1, 12, "month")
    if found["sep"] == "~":  # days counted back from the month's last: at most 28 of them
        _component(found["day"], 1, 28, "day from the month's end", backwards=True)
    else:
        _component(found["day"], 1, 31, "day")


def _time(text: str) -> None:
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise CalendarError(f"{text!r} is not a time (HOUR:MINUTE or HOUR:MINUTE:SECOND)")
    _component(parts[0], 0, 23, "hour")
    _component(parts[1], 0, 59, "minute")
    if len(parts) == 3:
        _component(parts[2], 0, 59, "second", SECONDS)


def _component(
    text: str,
    low: int,
    high: int,
    what: str,
    number: re.Pattern[str] = NUMBER,
    year: bool = False,
    backwards: bool = False,
) -> None:
    """`*`, or a comma list of N, N..M, N/STEP, N..M/STEP within low..high (a year below 100
    is 20YY up to 69, 19YY from 70, as systemd reads it)."""
    if text == "*":
        return
    for item in text.split(","):
        value, slash, step = item.partition("/")
        if slash and (not number.fullmatch(step) or float(step) == 0):
            raise CalendarError(f"{item!r}: a repetition /STEP is a number above 0")
        ends = value.split("..")
        if len(ends) > 2 or not all(number.fullmatch(end) for end in ends):
            raise CalendarError(f"{item!r} is not a {what} (a number, N..M, N/STEP or *)")
        numbers = [round(float(end), 6) for end in ends]
        if year:
            numbers = [n + (2000 if n < 70 else 1900) if n < 100 else n for n in numbers]
        if any(not low <= n < high + 1 for n in numbers):
            raise CalendarError(f"{item!r}: a {what} is {low}..{high}")
        if len(numbers) == 2 and numbers[0] > numbers[1]:
            raise CalendarError(f"{item!r}: a range goes upwards")
        if slash and len(numbers) == 1:  # N/STEP: systemd wants a second occurrence in range
            if backwards and float(step) >= numbers[0]:
                raise CalendarError(f"{item!r}: counted back from the month's end, STEP is below N")
            if not backwards and numbers[0] + float(step) >= high + 1:
                raise CalendarError(f"{item!r}: N/STEP never repeats ({what}s end at {high})")
        if (
            number is SECONDS
            and len(numbers) == 2
            and (not NUMBER.fullmatch(ends[0]) or int(numbers[1]) <= numbers[0])
        ):  # systemd keeps whole seconds in a range: 1..2.5 is 1..2, and 1..1 is refused
            raise CalendarError(f"{item!r}: a range of seconds goes from a whole second upwards")
