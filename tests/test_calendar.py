"""backup.schedule against the judge: `systemd-analyze calendar` (Debian's systemd) accepts
exactly the expressions polysource accepts, over a corpus of each rule's edges and over
generated expressions."""

import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polysource.inventory.calendar import CalendarError, check_calendar
from services import require

CORPUS = [
    "daily", "Daily", "weekly UTC", "annually", "hourly *", "*-*-* 03:00:00", "*:0/15", "*:*/15",
    "Mon..Fri 08:00", "mon,wed 3:00", "Monday 03:00", "*-02-30 00:00", "*-*~1", "*-*~01",
    "2024-01-01", "03:00", "3:0", "25:00", "24:00", "*-*-* 03:00 UTC", "03:00 utc",
    "*-*-* 03:00 Europe/Paris", "*-*-* 03:00 Mars/Olympus", "*-*-* 03:00:00.5", "0:0:0.123456",
    "00:00:59.9999999", "Mon", "MON", "Mo", "1,3..5/2:00", "0..23/2:00", "*-1..12/3-01",
    "daily at 3", "", "   ", "*-*-* 3:00:60", "*-13-01", "1969-01-01", "2200-01-01", "Fri *-*-* 3:00 ",
    "-1-1", "*-*-1,15 12:00", "*-*-* *:*:*", "Sat..Mon", "Mon..Sat..Sun", "8..4:00", "12:00 Mon",
    "Fri  3:00", "Fri\t3:00", "Fri,Sat 3:00", "Mon..Wed,Fri 3:00", "*-*-*", "*-*", "1-1", "2024-*-*",
    "*-*-* 00/2:00", "*-*-* 0..59/15:00", "*:00/10", "*-*~07/1", "*-*~7..1", "*-*-* 3", "3:00:00:00",
    "*-*-*-*", "Mon *-*-* *:*", "*-*-* 03:00 UTC extra", "*-*-01/0", "0/0:00", "*-*-* 03:00 +01:00",
    "UTC", "Mon,Mon", "1,1:00", "*-*-* 1..1:00", "2023-02-29", "5/2:00", "Mon 2024-01-01",
    "0-*-*", "69-1-1", "70-1-1", "100-1-1", "*-*~1/1", "*-*~3/1", "*-*~28", "*-*~29", "*:59/1",
    "*:58/1", "*-1/11-*", "*-1/12-*", "*:*:1..1.5", "*:*:1..2.5", "*:*:1.5..2", "*:*:0.1234567",
    "*:*:58.5/1", "*:*:1/1.5", "*:*:5..5",
]  # fmt: skip


def systemd_accepts(text: str) -> bool:
    return subprocess.run(["systemd-analyze", "calendar", text], capture_output=True).returncode == 0


def polysource_accepts(text: str) -> bool:
    try:
        check_calendar(text)
    except CalendarError:
        return False
    return True


@pytest.fixture(scope="module", autouse=True)
def judge():
    require(shutil.which("systemd-analyze") is not None, "systemd-analyze (Debian's systemd)")


@pytest.mark.parametrize("text", CORPUS)
def test_the_corpus_is_judged_as_systemd_judges_it(text):
    assert polysource_accepts(text) == systemd_accepts(text)


PART = st.sampled_from(
    ["*", "0", "1", "3", "7", "12", "23", "24", "31", "59", "60", "2024", "1969", "00", "1.5", "0.1234567"]
)
COMPONENT = st.one_of(
    PART,
    st.builds(lambda a, b: f"{a}..{b}", PART, PART),
    st.builds(lambda a, b: f"{a}/{b}", PART, st.sampled_from(["0", "1", "2", "15", "*"])),
    st.builds(lambda a, b: f"{a},{b}", PART, PART),
)
DAY = st.sampled_from(["Mon", "fri", "Sunday", "Mo", "Sat..Sun", "Sun..Mon", "Mon,Wed", ""])
ZONE = st.sampled_from(["", " UTC", " utc", " Europe/Paris", " Nowhere/Else", " CET"])
EXPRESSION = st.builds(
    lambda day, date, time, zone: " ".join(p for p in (day, date, time) if p) + zone,
    DAY,
    st.one_of(
        st.just(""),
        st.builds(
            lambda y, m, d, sep: f"{y}-{m}{sep}{d}",
            COMPONENT,
            COMPONENT,
            COMPONENT,
            st.sampled_from(["-", "~"]),
        ),
    ),
    st.one_of(
        st.just(""),
        st.builds(lambda h, m: f"{h}:{m}", COMPONENT, COMPONENT),
        st.builds(lambda h, m, s: f"{h}:{m}:{s}", COMPONENT, COMPONENT, COMPONENT),
    ),
    ZONE,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRESSION)
def test_generated_expressions_are_judged_as_systemd_judges_them(text):
    assert polysource_accepts(text) == systemd_accepts(text), text
