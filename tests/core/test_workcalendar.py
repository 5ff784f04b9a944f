"""The Chinese working-day calendar and deadline arithmetic (civicgrid.core.workcalendar).

Benchmark: benchmarks/bench_deadlines.py (figures in docs/benchmarks.md): 100,000 deadlines through the
cached database calendar against a naive day-by-day loop with a query per day.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import chinese_calendar
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import given, settings
from hypothesis import strategies as st

from civicgrid.accounts.roles import Role
from civicgrid.audit.models import AuditEntry
from civicgrid.core import workcalendar as wc
from civicgrid.core.errors import NotAuthenticated, PermissionDenied
from civicgrid.core.models import CalendarDay, CalendarYear
from civicgrid.core.workcalendar import SHANGHAI, CalendarRejected, CalendarRow, Deadline, WorkCalendar
from tests.conftest import DISTRICT, SHIQIAO, SHIQIAO_COMMUNITY

PACKAGE = wc.package_years()
# The package calendar without a database, for the property tests (2027 on: the fallback).
PACKAGE_CALENDAR = WorkCalendar(PACKAGE.get)


def at(text: str) -> datetime:
    """A moment in Beijing time: "2025-09-30 15:00"."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


# An arrangement of 2027 for the tests, shaped like a State Council notice. Illustrative only: it is not
# the official 2027 arrangement (not yet published when this was written).
ARRANGEMENT_2027 = """date,type,name
# 元旦
2027-01-01,holiday,元旦
2027-01-02,holiday,元旦
2027-01-03,holiday,元旦
2027-02-05,holiday,春节
2027-02-06,holiday,春节
2027-02-07,holiday,春节
2027-02-08,holiday,春节
2027-02-09,holiday,春节
2027-02-10,holiday,春节
2027-02-11,holiday,春节
2027-02-20,workday,调休上班
2027-04-05,holiday,清明节
2027-04-25,workday,调休上班
2027-05-01,holiday,劳动节
2027-05-02,holiday,劳动节
2027-05-03,holiday,劳动节
2027-05-04,holiday,劳动节
2027-05-05,holiday,劳动节
2027-06-09,holiday,端午节
2027-09-15,holiday,中秋节
2027-10-01,holiday,国庆节
2027-10-02,holiday,国庆节
2027-10-03,holiday,国庆节
2027-10-04,holiday,国庆节
2027-10-05,holiday,国庆节
2027-10-06,holiday,国庆节
2027-10-07,holiday,国庆节
2027-10-09,workday,调休上班
"""


def rows_2027(text: str = ARRANGEMENT_2027) -> list[CalendarRow]:
    rows, errors = wc.parse_calendar_text(text)
    assert not errors
    return rows


def ensure_calendar() -> None:
    """The package years are seeded by the core data migration; a transactional test flushes them."""
    if CalendarYear.objects.filter(year__in=list(PACKAGE)).count() != len(PACKAGE):
        wc.calendar_seed_from_package()


@pytest.fixture(autouse=True)
def _fresh_cache():  # type: ignore[no-untyped-def]
    """Each test starts from the database, not from a calendar cached by a rolled-back test."""
    wc.forget_cache()
    yield
    wc.forget_cache()


@pytest.fixture
def calendar(db) -> None:  # type: ignore[no-untyped-def]
    ensure_calendar()


def snapshot() -> list[tuple[int, str, list[tuple[date, bool, str]]]]:
    return [
        (y.year, y.source, list(y.days.values_list("date", "is_workday", "name")))
        for y in CalendarYear.objects.prefetch_related("days")
    ]


# --- The package years ---------------------------------------------------------------------------------


def test_the_package_covers_2004_to_2026():
    assert min(PACKAGE) == 2004 and max(PACKAGE) == 2026
    assert list(PACKAGE) == list(range(2004, 2027))
    assert wc.package_version() == "1.11.0"


def test_every_day_of_the_package_years_agrees_with_chinese_calendar(calendar):
    calendar_ = wc.current_calendar()
    day = date(2004, 1, 1)
    while day <= date(2026, 12, 31):
        assert calendar_.is_workday(day) == (chinese_calendar.is_workday(day), False), day
        day += timedelta(days=1)


def test_only_the_exceptions_are_stored(calendar):
    """Holidays (weekends inside a holiday period included, for their names) and make-up working days on a
    weekend: 771 rows for 23 years, never an ordinary working day."""
    assert CalendarDay.objects.count() == sum(len(days) for days in PACKAGE.values()) == 771
    assert not CalendarDay.objects.filter(is_workday=True, date__week_day__in=[2, 3, 4, 5, 6]).exists()


def test_national_day_2025_as_chinese_calendar_has_it(calendar):
    holidays = [date(2025, 10, d) for d in range(1, 9)]
    make_up = [date(2025, 9, 28), date(2025, 10, 11)]  # a Sunday and a Saturday
    assert [d.weekday() for d in make_up] == [6, 5]
    for day in holidays:
        assert not chinese_calendar.is_workday(day)
        assert wc.is_workday(day) == (False, False)
    for day in make_up:
        assert chinese_calendar.is_workday(day)
        assert wc.is_workday(day) == (True, False)
    calendar_ = wc.current_calendar()
    assert calendar_.day_name(date(2025, 10, 1)) == "国庆节"
    assert calendar_.day_name(date(2025, 10, 6)) == "中秋节"
    assert calendar_.day_name(date(2025, 10, 11)) == "调休上班（国庆节）"
    assert calendar_.day_name(date(2025, 10, 13)) == ""


# --- Deadlines on loaded years -------------------------------------------------------------------------


def test_a_deadline_spans_national_day_and_a_make_up_saturday(calendar):
    """Done-when of the issue. 2025-09-30 (Tue) 15:00 + 3 working days: 10-1..10-8 are holidays, so the
    working days after it are Thu 10-9, Fri 10-10 and Sat 10-11 (make-up): Sat 10-11 at 15:00."""
    deadline = wc.add_working_days(at("2025-09-30 15:00"), 3)
    assert deadline == Deadline(at("2025-10-11 15:00"), provisional=False)
    assert deadline.at.tzinfo == SHANGHAI and str(deadline) == "2025-10-11 15:00"
    assert wc.add_working_days(at("2025-09-30 15:00"), 1).at == at("2025-10-09 15:00")
    # The make-up Sunday before counts too: Fri 9-26 15:00 + 1 day = Sun 9-28 15:00.
    assert wc.add_working_days(at("2025-09-26 15:00"), 1).at == at("2025-09-28 15:00")
    # In hours: 2.5 h left on 9-30, then 10-9 from 08:30.
    assert wc.add_working_hours(at("2025-09-30 15:00"), 4).at == at("2025-10-09 10:00")
    assert wc.working_duration(at("2025-09-30 15:00"), deadline.at).working == timedelta(hours=21)


def test_spring_festival_2026(calendar):
    """2026: 2-15..2-23 holidays, Sat 2-14 and Sat 2-28 make-up working days (as chinese-calendar has it)."""
    for offset in range(9):
        assert not chinese_calendar.is_workday(date(2026, 2, 15) + timedelta(days=offset))
    assert chinese_calendar.is_workday(date(2026, 2, 14)) and chinese_calendar.is_workday(date(2026, 2, 28))
    start = at("2026-02-13 10:00")  # Friday
    assert wc.add_working_days(start, 1).at == at("2026-02-14 10:00")  # the make-up Saturday
    assert wc.add_working_days(start, 2).at == at("2026-02-24 10:00")  # after the holiday
    assert wc.add_working_hours(at("2026-02-14 17:00"), 1).at == at("2026-02-24 09:00")
    assert wc.add_working_days(at("2026-02-16 09:00"), 1).at == at("2026-02-24 17:30")  # reported on a holiday
    duration = wc.working_duration(at("2026-02-13 10:00"), at("2026-02-24 10:00"))
    assert duration.working == timedelta(hours=14) and duration.days == 2 and not duration.provisional


@pytest.mark.parametrize(
    ("start", "limit", "expected"),
    [
        # Inside office hours: N working days end at the same clock time.
        ("2025-11-18 15:00", "1 day", "2025-11-19 15:00"),
        ("2025-11-18 08:30", "1 day", "2025-11-18 17:30"),
        # Out of hours: counting starts at the next opening, so a day ends at a close.
        ("2025-11-18 19:00", "1 day", "2025-11-19 17:30"),
        ("2025-11-18 07:00", "1 day", "2025-11-18 17:30"),
        ("2025-11-22 10:00", "1 day", "2025-11-24 17:30"),  # a Saturday
        # Hours across the lunch break and the night.
        ("2025-11-18 12:30", "1 h", "2025-11-18 15:00"),
        ("2025-11-18 11:30", "1 h", "2025-11-18 14:30"),
        ("2025-11-18 11:30", "30 min", "2025-11-18 12:00"),  # a period used up ends at its end
        ("2025-11-18 17:00", "30 min", "2025-11-18 17:30"),
        ("2025-11-21 17:00", "1 h", "2025-11-24 09:00"),  # Friday → Monday
        ("2025-11-18 17:30", "1 h", "2025-11-19 09:30"),
        ("2025-11-18 10:00", "0 h", "2025-11-18 10:00"),
        ("2025-11-18 20:00", "0 h", "2025-11-18 20:00"),
    ],
)
def test_the_counting_convention(calendar, start, limit, expected):
    amount, unit = limit.split()
    if unit == "day":
        deadline = wc.add_working_days(at(start), int(amount))
    else:
        deadline = wc.add_working_hours(at(start), int(amount) / (60 if unit == "min" else 1))
    assert deadline.at == at(expected)


def test_days_are_the_working_day_length_in_hours(calendar):
    start = at("2025-09-30 15:00")
    for days in range(6):
        assert wc.add_working_days(start, days) == wc.add_working_hours(start, 7 * days)


def test_inputs(calendar):
    utc = datetime(2025, 11, 18, 7, 0, tzinfo=UTC)  # 15:00 in Beijing
    assert wc.add_working_days(utc, 1).at == at("2025-11-19 15:00")
    assert wc.add_working_days(utc, 1).at.tzinfo == SHANGHAI
    with pytest.raises(ValueError, match="aware"):
        wc.add_working_days(datetime(2025, 11, 18, 15), 1)  # noqa: DTZ001
    with pytest.raises(ValueError, match="negative"):
        wc.add_working_hours(utc, -1)


def test_working_hours_are_configurable(calendar, settings):
    settings.WORKING_HOURS = [("09:00", "12:00"), ("13:00", "18:00")]
    assert wc.current_calendar().hours.day_length == timedelta(hours=8)
    assert wc.add_working_days(at("2025-11-18 15:00"), 1).at == at("2025-11-19 15:00")
    assert wc.add_working_hours(at("2025-11-18 11:30"), 1).at == at("2025-11-18 13:30")
    assert wc.add_working_days(at("2025-11-18 19:00"), 1).at == at("2025-11-19 18:00")
    with pytest.raises(ValueError, match="non-overlapping"):
        wc.WorkingHours.parse([("14:00", "17:30"), ("08:30", "12:00")])


def test_working_duration(calendar):
    duration = wc.working_duration(at("2025-09-30 15:00"), at("2025-10-09 10:00"))
    assert duration.working == timedelta(hours=4) and duration.hours == 4 and duration.days == pytest.approx(4 / 7)
    assert wc.working_duration(at("2025-10-09 10:00"), at("2025-09-30 15:00")).working == -timedelta(hours=4)
    assert wc.working_duration(at("2025-10-01 10:00"), at("2025-10-05 10:00")).working == timedelta(0)
    assert wc.working_duration(at("2025-11-18 12:10"), at("2025-11-18 13:50")).working == timedelta(0)  # lunch


# --- Years not loaded ----------------------------------------------------------------------------------


def test_a_year_not_loaded_falls_back_and_is_provisional(calendar):
    assert not CalendarYear.objects.filter(year=2027).exists()
    assert wc.is_workday(date(2027, 1, 1)) == (False, True)  # 元旦, a fixed date
    assert wc.is_workday(date(2027, 5, 3)) == (True, True)  # Labour Day beyond the two statutory days
    assert wc.is_workday(date(2027, 5, 2)) == (False, True)  # Sunday anyway
    assert wc.is_workday(date(2027, 2, 8)) == (True, True)  # inside the Spring Festival: cannot be known
    assert wc.is_workday(date(2027, 2, 6)) == (False, True)  # a Saturday
    # 2027-09-30 (Thu) 15:00 + 3 days: Fri 10-1 is a holiday, Sat/Sun, then Mon 10-4, Tue 10-5, Wed 10-6.
    deadline = wc.add_working_days(at("2027-09-30 15:00"), 3)
    assert deadline == Deadline(at("2027-10-06 15:00"), provisional=True, provisional_years=(2027,))
    assert str(deadline) == "2027-10-06 15:00（暂定）"
    # New Year's Eve 2026 is loaded; what runs into 2027 is provisional, what stays in 2026 is not.
    assert not wc.add_working_hours(at("2026-12-31 10:00"), 1).provisional
    crossing = wc.add_working_hours(at("2026-12-31 17:00"), 1)
    assert crossing.at == at("2027-01-04 09:00") and crossing.provisional  # 1-1 holiday, 1-2/3 weekend
    assert wc.working_duration(at("2026-12-31 17:00"), at("2027-01-04 09:00")).provisional
    assert wc.year_status(2027).provisional and not wc.year_status(2025).provisional


def test_years_long_ago_or_far_ahead_never_crash(calendar):
    assert wc.add_working_days(at("1999-09-30 15:00"), 3).provisional
    assert wc.is_workday(date(2003, 5, 2)) == (False, True)  # 1999–2007: three statutory Labour Day days
    assert wc.is_workday(date(2013, 5, 2)) == (True, False)  # loaded: it was a working day
    far = wc.add_working_days(at("2026-06-01 09:00"), 2500)  # ten years on
    assert far.provisional and far.provisional_years == tuple(range(2027, far.at.year + 1))


def test_year_status_and_years_loaded(calendar, make_user):
    assert wc.years_loaded() == list(range(2004, 2027))
    status = wc.year_status(2025)
    assert status.loaded and status.source == "chinese-calendar" and status.note == "chinesecalendar 1.11.0"
    assert status.holidays == 28 and status.make_up_days == 5
    assert wc.year_status(2027) == wc.YearStatus(year=2027, loaded=False)
    admin = make_user(Role.DISTRICT_ADMIN, DISTRICT)
    wc.calendar_load_year(actor=admin, year=2027, rows=rows_2027(), note="国办发明电〔2026〕X号（测试）")
    status = wc.year_status(2027)
    assert status.loaded and status.source == "administrator" and status.loaded_by == admin.username
    assert status.source_label == "管理员导入" and status.holidays == 25 and status.make_up_days == 3
    assert wc.years_loaded() == list(range(2004, 2028))


# --- Loading a year ------------------------------------------------------------------------------------


def test_loading_2027_from_a_file_recomputes_the_deadline(calendar, tmp_path, capsys):
    start = at("2027-09-30 15:00")
    before = wc.add_working_days(start, 3)
    assert before.provisional and before.at == at("2027-10-06 15:00")
    path = tmp_path / "2027.csv"
    path.write_text(ARRANGEMENT_2027, encoding="utf-8")
    call_command("load_calendar", str(path), "--note", "测试安排")
    assert "已导入 2027 年：放假 25 天、调休上班 3 天" in capsys.readouterr().out
    # The arrangement says 10-1..10-7 off and Sat 10-9 on: Fri 10-8, Sat 10-9, Mon 10-11.
    after = wc.add_working_days(start, 3)
    assert after == Deadline(at("2027-10-11 15:00"), provisional=False)
    assert wc.is_workday(date(2027, 2, 8)) == (False, False)  # the Spring Festival is known now
    year = CalendarYear.objects.get(year=2027)
    assert year.source == "administrator" and year.loaded_by is None and year.note == "测试安排"
    entry = AuditEntry.objects.filter(action="calendar.load_year").get()
    assert entry.object_id == str(year.pk) and entry.detail["year"] == 2027 and entry.detail["replaced"] == ""
    # Against the fallback: the lunar holidays on weekdays, 10-4..10-7, 5-3..5-5, and the make-up days.
    assert "2027-10-09" in entry.detail["changed_dates"] and "2027-10-01" not in entry.detail["changed_dates"]


def test_a_json_file_gives_the_same_arrangement(calendar, make_user):
    lines = [line.split(",") for line in ARRANGEMENT_2027.splitlines()[1:] if not line.startswith("#")]
    text = json.dumps([{"date": d, "type": t, "name": n} for d, t, n in lines], ensure_ascii=False, indent=1)
    admin = make_user(Role.DISTRICT_ADMIN, DISTRICT)
    result = wc.calendar_load_text(actor=admin, text=text)
    assert (result.year, result.holidays, result.make_up_days) == (2027, 25, 3)
    assert wc.add_working_days(at("2027-09-30 15:00"), 3).at == at("2027-10-11 15:00")
    # The API passes rows as a list of objects: the same service.
    again = wc.calendar_load_year(actor=admin, year=2027, rows=wc.rows_from_mappings(json.loads(text)))
    assert again.replaced == "administrator" and again.changed_dates == ()


def test_loading_replaces_the_whole_year(calendar, make_user):
    admin = make_user(Role.DISTRICT_ADMIN, DISTRICT)
    wc.calendar_load_year(actor=admin, year=2027, rows=rows_2027())
    assert wc.add_working_days(at("2027-09-30 15:00"), 3).at == at("2027-10-11 15:00")
    # A corrected notice: National Day 10-1..10-5 only, no make-up Saturday.
    corrected = "\n".join(
        line
        for line in ARRANGEMENT_2027.splitlines()
        if not line.startswith(("2027-10-06", "2027-10-07", "2027-10-09"))
    )
    result = wc.calendar_load_year(actor=admin, year=2027, rows=rows_2027(corrected))
    assert result.replaced == "administrator"
    assert result.changed_dates == (date(2027, 10, 6), date(2027, 10, 7), date(2027, 10, 9))
    dates = set(CalendarDay.objects.filter(year__year=2027).values_list("date", flat=True))
    assert date(2027, 10, 9) not in dates and date(2027, 10, 5) in dates
    assert wc.add_working_days(at("2027-09-30 15:00"), 3).at == at("2027-10-08 15:00")  # Wed, Thu, Fri


def test_an_administrator_may_replace_a_package_year(calendar, make_user):
    admin = make_user(Role.DISTRICT_ADMIN, DISTRICT)
    rows = [
        CalendarRow(i, d.isoformat(), "workday" if w else "holiday", n if not w else "调休上班")
        for i, (d, (w, n)) in enumerate(sorted(PACKAGE[2026].items()), start=1)
    ]
    result = wc.calendar_load_year(actor=admin, year=2026, rows=rows)
    assert result.replaced == "chinese-calendar" and result.changed_dates == ()
    assert wc.year_status(2026).source == "administrator"
    # Seeding never overwrites it.
    seed = wc.calendar_seed_from_package(refresh=True)
    assert seed.kept == (2026,) and 2026 not in seed.seeded
    assert wc.year_status(2026).source == "administrator"


def _file(*lines: str) -> str:
    return "\n".join(["date,type,name", *lines]) + "\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (_file("2027-01-01,holiday,元旦", "2027-02-30,holiday,春节"), ["第 3 行：日期“2027-02-30”无法识别"]),
        (_file("2027-01-01,holiday,元旦", "2026-06-01,holiday,端午节"), ["第 3 行：日期 2026-06-01 不在 2027 年内"]),
        (
            _file("2027-01-01,holiday,元旦", "2026-12-26,workday,调休上班"),
            ["第 3 行：日期 2026-12-26 不在 2027 年内", "请写入 2026 年的文件"],
        ),
        (_file("2027-01-01,holiday,元旦", "2027-02-08,rest,春节"), ["第 3 行：类型“rest”无法识别"]),
        (_file("2027-01-01,holiday,元旦", "2027-01-01,holiday,元旦"), ["第 3 行：日期 2027-01-01 与第 2 行重复"]),
        (_file("2027-03-03,workday,调休上班"), ["第 2 行：2027-03-03 是星期三，本来就是工作日"]),
        (_file("2027-01-01,holiday"), ["年份不完整：2027-05-01（劳动节）", "年份不完整：没有“春节”的放假安排"]),
        (_file("2027-01-01,holiday,元旦,多余"), ["第 2 行：应为 2–3 列"]),
        ("", ["文件为空"]),
        ("date,type,name\n\n", ["文件为空"]),
        ('[{"date": "2027-01-01", "type": "holiday"},\n {"date": "2027-13-01", "type": "holiday"}]', ["第 2 行："]),
        ('[{"date": "2027-01-01", "type": "holiday"}\n {"date": "2027-01-02"}]', ["第 2 行：JSON 格式错误"]),
        ('[\n"2027-01-01"]', ["第 2 行：每一项应为对象"]),
        ("[\n\n  {]", ["第 3 行：JSON 格式错误"]),
        ('{"date": "2027-01-01"}', ["第 1 行：JSON 文件应为数组"]),
    ],
)
def test_a_bad_file_changes_nothing(calendar, tmp_path, text, expected):
    before = snapshot()
    entries = AuditEntry.objects.count()
    with pytest.raises(CalendarRejected) as caught:
        wc.calendar_load_text(actor=None, text=text, year=2027)
    messages = "\n".join(str(error) for error in caught.value.errors)
    for fragment in expected:
        assert fragment in messages
    assert snapshot() == before and AuditEntry.objects.count() == entries
    # Through the command: the same messages on stderr, and nothing imported.
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CommandError, match="未导入任何数据"):
        call_command("load_calendar", str(path), "--year", "2027")
    assert snapshot() == before


def test_a_bad_reload_keeps_the_loaded_year(calendar, make_user):
    admin = make_user(Role.DISTRICT_ADMIN, DISTRICT)
    wc.calendar_load_year(actor=admin, year=2027, rows=rows_2027())
    before = snapshot()
    broken = ARRANGEMENT_2027.replace("2027-06-09,holiday,端午节", "2027-06-09,holiday,端午节,？")
    with pytest.raises(CalendarRejected) as caught:
        wc.calendar_load_text(actor=admin, text=broken)
    assert [str(e) for e in caught.value.errors] == [
        "第 21 行：应为 2–3 列（date,type,name），实际为 4 列"
    ]  # the 端午节 line
    assert snapshot() == before
    assert wc.add_working_days(at("2027-09-30 15:00"), 3).at == at("2027-10-11 15:00")


def test_the_error_shape_for_the_api(calendar):
    with pytest.raises(CalendarRejected) as caught:
        wc.calendar_load_year(actor=None, year=2027, rows=[CalendarRow(7, "2027-1-1", "放假", "元旦")])
    error = caught.value
    assert error.code == "calendar_rejected" and error.status == 400
    assert {"line": None, "message": "年份不完整：没有“春节”的放假安排（放假日的名称应包含“春节”）"} in error.extra[
        "errors"
    ]


def test_chinese_spellings_are_read(calendar):
    rows = [CalendarRow(1, "２０２７年１０月９日", "上班", ""), CalendarRow(2, "2027/1/1", "放假", "元旦")]
    _days, errors = wc.validate_year(2027, rows)
    assert not [e for e in errors if e.line is not None]


def test_the_validator_accepts_the_package_years():
    """Every package year since 2008 passes; 2020 names its Mid-Autumn Festival (10-1, inside National
    Day) "National Day", so the completeness check asks for 中秋 — as it would of an administrator."""
    for year, days in PACKAGE.items():
        rows = [
            CalendarRow(i, d.isoformat(), "workday" if w else "holiday", n)
            for i, (d, (w, n)) in enumerate(sorted(days.items()), start=1)
            if d.year == year
        ]
        _days, errors = wc.validate_year(year, rows)
        if year == 2020:
            assert [e.message for e in errors] == ["年份不完整：没有“中秋”的放假安排（放假日的名称应包含“中秋”）"]
        else:
            assert errors == [], (year, errors)


# --- Who may load --------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [None, Role.GRID_WORKER, Role.TOWN_ADMIN, Role.AUDITOR])
def test_only_a_district_administrator_may_load(calendar, make_user, role):
    from django.contrib.auth.models import AnonymousUser

    units = {Role.GRID_WORKER: SHIQIAO_COMMUNITY, Role.TOWN_ADMIN: SHIQIAO, Role.AUDITOR: DISTRICT}
    actor = AnonymousUser() if role is None else make_user(role, units[role])
    before = snapshot()
    with pytest.raises(NotAuthenticated if role is None else PermissionDenied):
        wc.calendar_load_year(actor=actor, year=2027, rows=rows_2027())
    with pytest.raises(NotAuthenticated if role is None else PermissionDenied):
        wc.calendar_seed_from_package(actor=actor)
    assert snapshot() == before
    refusal = AuditEntry.objects.filter(action="calendar.load_year").get()
    assert refusal.result == AuditEntry.Result.DENIED and refusal.detail["year"] == 2027


def test_a_district_administrator_loads_and_is_recorded(calendar, make_user):
    admin = make_user(Role.DISTRICT_ADMIN, DISTRICT)
    wc.calendar_load_year(actor=admin, year=2027, rows=rows_2027())
    assert CalendarYear.objects.get(year=2027).loaded_by == admin
    entry = AuditEntry.objects.filter(action="calendar.load_year").get()
    assert entry.actor_id == admin.pk and entry.result == AuditEntry.Result.OK


# --- Seeding, caching, hooks ---------------------------------------------------------------------------


def test_seeding_is_fast_and_idempotent(calendar, capsys):
    import time

    CalendarYear.objects.all().delete()
    started = time.perf_counter()
    result = wc.calendar_seed_from_package()
    elapsed = time.perf_counter() - started
    assert result.seeded == tuple(range(2004, 2027)) and elapsed < 1.0
    assert CalendarDay.objects.count() == 771
    assert AuditEntry.objects.filter(action="calendar.seed").get().detail["years"] == list(range(2004, 2027))
    assert wc.calendar_seed_from_package().seeded == ()
    assert wc.calendar_seed_from_package(refresh=True).seeded == ()  # the package has not changed
    CalendarYear.objects.filter(year=2025).delete()
    call_command("seed_calendar", "--dry-run")
    assert "将写入 2025" in capsys.readouterr().out and not CalendarYear.objects.filter(year=2025).exists()
    call_command("seed_calendar")
    assert "已写入 2025" in capsys.readouterr().out
    assert wc.add_working_days(at("2025-09-30 15:00"), 3).at == at("2025-10-11 15:00")


def test_refresh_rewrites_a_package_year_that_differs(calendar):
    CalendarDay.objects.filter(date=date(2025, 10, 11)).delete()  # as if an older release lacked it
    assert wc.calendar_seed_from_package().seeded == ()
    assert wc.calendar_seed_from_package(refresh=True).seeded == (2025,)
    assert CalendarDay.objects.filter(date=date(2025, 10, 11), is_workday=True).exists()


def test_another_process_sees_a_loaded_year_at_the_next_version_check(calendar, settings):
    settings.WORKCALENDAR_CACHE_SECONDS = 3600
    assert wc.add_working_days(at("2027-09-30 15:00"), 3).provisional
    # Another process loads 2027: this process's cache knows nothing of it...
    days, errors = wc.validate_year(2027, rows_2027())
    assert not errors
    year = CalendarYear.objects.create(year=2027, source="administrator", loaded_at=datetime.now(tz=UTC))
    CalendarDay.objects.bulk_create(CalendarDay(year=year, date=d, is_workday=w, name=n) for d, (w, n) in days.items())
    assert wc.add_working_days(at("2027-09-30 15:00"), 3).provisional
    # ...until it checks the version (every WORKCALENDAR_CACHE_SECONDS, or now on refresh).
    assert not wc.current_calendar(refresh=True).add_working_days(at("2027-09-30 15:00"), 3).provisional
    assert wc.add_working_days(at("2027-09-30 15:00"), 3).at == at("2027-10-11 15:00")


def test_hooks_run_after_commit(calendar, make_user, django_capture_on_commit_callbacks, monkeypatch):
    called: list[int] = []
    monkeypatch.setattr(wc, "YEAR_LOADED_HOOKS", [called.append])
    admin = make_user(Role.DISTRICT_ADMIN, DISTRICT)
    with django_capture_on_commit_callbacks(execute=True):
        wc.calendar_load_year(actor=admin, year=2027, rows=rows_2027())
        assert called == []
    assert called == [2027]


def test_dry_run_writes_nothing(calendar, tmp_path, capsys):
    path = tmp_path / "2027.csv"
    path.write_text(ARRANGEMENT_2027, encoding="utf-8")
    call_command("load_calendar", str(path), "--dry-run")
    assert "校验通过：2027 年放假 25 天" in capsys.readouterr().out
    assert not CalendarYear.objects.filter(year=2027).exists()


def test_a_gb18030_file(calendar, tmp_path):
    path = tmp_path / "2027.csv"
    path.write_bytes(ARRANGEMENT_2027.encode("gb18030"))
    call_command("load_calendar", str(path))
    assert CalendarDay.objects.get(date=date(2027, 10, 9)).name == "调休上班"


def test_a_quick_benchmark_guard(calendar):
    """10,000 deadlines well inside a second (the events app recomputes 100,000 within 30 s; the full
    benchmark is benchmarks/bench_deadlines.py)."""
    import time

    calendar_ = wc.current_calendar()
    starts = [at("2025-01-01 00:00") + timedelta(minutes=97 * i) for i in range(10_000)]
    started = time.perf_counter()
    for i, start in enumerate(starts):
        calendar_.add_working_days(start, 1 + i % 5)
    assert time.perf_counter() - started < 2.0


# --- Properties ----------------------------------------------------------------------------------------

MOMENTS = st.datetimes(
    min_value=datetime(2024, 6, 1),  # noqa: DTZ001 — hypothesis draws naive moments, made Beijing time here
    max_value=datetime(2028, 6, 1),  # noqa: DTZ001
).map(lambda moment: moment.replace(tzinfo=SHANGHAI))
HOURS = PACKAGE_CALENDAR.hours


def _in_office(calendar_: WorkCalendar, moment: datetime) -> bool:
    return calendar_.is_workday(moment.date())[0] and HOURS.contains(moment.timetz().replace(tzinfo=None))


@settings(max_examples=300, deadline=None)
@given(start=MOMENTS, n=st.integers(min_value=0, max_value=40))
def test_add_working_days_is_monotonic_and_lands_on_a_working_day(start, n):
    here = PACKAGE_CALENDAR.add_working_days(start, n + 1)
    assert _in_office(PACKAGE_CALENDAR, here.at)
    assert here.at > PACKAGE_CALENDAR.add_working_days(start, n).at >= start
    assert here.provisional == (here.at.year >= 2027)


@settings(max_examples=300, deadline=None)
@given(start=MOMENTS, minutes=st.integers(min_value=1, max_value=60 * 7 * 30), more=st.integers(1, 60 * 7 * 5))
def test_working_duration_inverts_add_and_adding_composes(start, minutes, more):
    limit, extra = timedelta(minutes=minutes), timedelta(minutes=more)
    deadline = PACKAGE_CALENDAR.add_working_time(start, limit)
    assert _in_office(PACKAGE_CALENDAR, deadline.at)
    assert PACKAGE_CALENDAR.working_duration(start, deadline.at).working == limit
    # The earliest such moment: a minute earlier there is less office time.
    assert PACKAGE_CALENDAR.working_duration(start, deadline.at - timedelta(minutes=1)).working < limit
    composed = PACKAGE_CALENDAR.add_working_time(deadline.at, extra)
    assert composed.at == PACKAGE_CALENDAR.add_working_time(start, limit + extra).at


@settings(max_examples=200, deadline=None)
@given(day=st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 12, 31)))
def test_the_bitmap_agrees_with_chinese_calendar(day):
    assert PACKAGE_CALENDAR.is_workday(day) == (chinese_calendar.is_workday(day), False)


def _reference_workday(day: date) -> bool:
    """Independent of the module: chinese-calendar for its years, else Monday–Friday minus fixed dates."""
    if day.year <= 2026:
        return chinese_calendar.is_workday(day)
    fixed = {(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)}
    return day.weekday() < 5 and (day.month, day.day) not in fixed


def _reference_deadline(start: datetime, amount: timedelta) -> datetime:
    """The definition, walked minute by minute of office time: period by period, day by day."""
    if not amount:
        return start
    remaining, moment, day = amount, start, start.date()
    while True:
        if _reference_workday(day):
            for opens, closes in HOURS.periods:
                begin = max(datetime.combine(day, opens, tzinfo=SHANGHAI), moment)
                end = datetime.combine(day, closes, tzinfo=SHANGHAI)
                if begin < end:
                    if end - begin >= remaining:
                        return begin + remaining
                    remaining -= end - begin
        day += timedelta(days=1)
        moment = datetime.combine(day, datetime.min.time(), tzinfo=SHANGHAI)


@settings(max_examples=300, deadline=None)
@given(start=MOMENTS, minutes=st.integers(min_value=0, max_value=60 * 7 * 12))
def test_the_bitmap_arithmetic_equals_a_day_by_day_walk(start, minutes):
    limit = timedelta(minutes=minutes)
    assert PACKAGE_CALENDAR.add_working_time(start, limit).at == _reference_deadline(start, limit)
