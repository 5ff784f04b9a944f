"""The Chinese working-day calendar and working-time arithmetic for deadlines (DOMAIN §5, time limits).

**The calendar is data.** `CalendarYear`/`CalendarDay` (see `core.models`) hold each year's arrangement:
statutory holidays and make-up working days (调休上班). Years the chinese-calendar package covers are
seeded from it (`civicgrid seed-calendar`, also run by the core data migration); an administrator loads
later years from the State Council's notice (`civicgrid load-calendar FILE`, or `calendar_load_year`
from the web/API). A year with no `CalendarYear` row is *not loaded*: it falls back to Monday–Friday minus
the fixed-date holidays (元旦 1-1, 劳动节 5-1 and, since 2025, 5-2, 国庆节 10-1..10-3 — the lunar holidays
cannot be known before the notice), and every result that depended on such a year says `provisional`.
Nothing here raises because a year is missing.

**Working time.** Office hours are periods of the day, by default 08:30–12:00 and 14:00–17:30 (Guangzhou
government office hours; `settings.WORKING_HOURS`), so a working day is 7 working hours. Time limits are
counted in working time inside office hours on working days. The one rule, for hours and days alike:

    the deadline of a limit L from a moment S is the earliest moment M ≥ S such that the office time
    between S and M is L.

Consequences (all tested):

- a case reported out of hours (evening, lunch break, weekend, holiday) starts counting at the opening of
  the next working period; a deadline that uses up a period exactly falls at its end (12:00, 17:30), not
  at the start of the next one;
- **N working days = N × the working-day length in working hours** (7 h with the default hours). From a
  moment inside office hours this ends at the same clock time N working days later (Tue 15:00 + 3 days =
  Fri 15:00); from a moment outside office hours, at the close of the N-th working day (Tue 19:00 + 1 day
  = Wed 17:30).

Why this convention: 数字化城管 practice counts limits in working hours within office hours, and a
working-day limit is converted to working hours at the length of the office day. One unit of measure
means one arithmetic for hour limits and day limits, `working_duration` measures a step against either,
`add(S, a + b) == add(add(S, a), b)` holds, and the alternative "same clock time N days later" leaves
out-of-hours reports undefined (19:00 + 1 day = 19:00 the next day is after closing) — the conversion
gives the same answer wherever that convention is defined.

**Performance.** Each year is built once into a working-day bitmap with a running count, so adding N
working days is an index lookup, not a day-by-day walk; years are cached per process (`current_calendar`)
and rebuilt when a year is (re)loaded: immediately in the loading process and, in other processes, at
the next check of the calendar's version in the database (at most every `WORKCALENDAR_CACHE_SECONDS`,
default 5 s; `current_calendar(refresh=True)` checks now — batch recomputations use it).
"""

from __future__ import annotations

import csv
import functools
import importlib.metadata
import io
import itertools
import json
import re
import time as monotonic_time
import unicodedata
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civicgrid.audit.services import audit_record, audit_refusal
from civicgrid.core.errors import Conflict, NotAuthenticated, PermissionDenied, ValidationFailed
from civicgrid.core.models import CalendarDay, CalendarYear

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_WORKING_HOURS: tuple[tuple[str, str], ...] = (("08:30", "12:00"), ("14:00", "17:30"))
DEFAULT_CACHE_SECONDS = 5.0

# A day's stored status: (is a working day, name). `YearDays` is one year's exceptions to the plain week.
DayStatus = tuple[bool, str]
YearDays = Mapping[date, DayStatus]
YearLoader = Callable[[int], YearDays | None]

_US = 1_000_000  # microseconds per second: working time is counted in integer microseconds


# --- Working hours -------------------------------------------------------------------------------------


def _time_us(value: time) -> int:
    return ((value.hour * 60 + value.minute) * 60 + value.second) * _US + value.microsecond


def _us_time(us: int) -> time:
    seconds, micro = divmod(us, _US)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return time(hour, minute, second, micro)


@dataclass(frozen=True)
class WorkingHours:
    """Office hours: ordered, non-overlapping periods of the day, e.g. 08:30–12:00 and 14:00–17:30."""

    periods: tuple[tuple[time, time], ...]
    _bounds: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        bounds = tuple((_time_us(start), _time_us(end)) for start, end in self.periods)
        if not bounds:
            raise ValueError("working hours need at least one period")
        previous_end = -1
        for start, end in bounds:
            if start >= end or start < previous_end:
                raise ValueError(f"working hours must be ordered, non-overlapping periods: {self.periods}")
            previous_end = end
        object.__setattr__(self, "_bounds", bounds)

    @classmethod
    def parse(cls, spec: Iterable[Sequence[str | time]]) -> WorkingHours:
        """From pairs of "HH:MM" strings (or `time`s), as in `settings.WORKING_HOURS`."""
        return cls(tuple((_as_time(start), _as_time(end)) for start, end in spec))

    @classmethod
    def from_settings(cls) -> WorkingHours:
        return cls.parse(getattr(settings, "WORKING_HOURS", DEFAULT_WORKING_HOURS))

    @functools.cached_property
    def day_us(self) -> int:
        """Length of a working day in microseconds."""
        return sum(end - start for start, end in self._bounds)

    @property
    def day_length(self) -> timedelta:
        return timedelta(microseconds=self.day_us)

    @property
    def opens(self) -> time:
        return self.periods[0][0]

    @property
    def closes(self) -> time:
        return self.periods[-1][1]

    def elapsed_us(self, clock: time) -> int:
        """Office time of a working day that has passed by `clock` (0 before opening, a day after closing)."""
        at = _time_us(clock)
        total = 0
        for start, end in self._bounds:
            if at <= start:
                break
            total += min(at, end) - start
        return total

    def clock_at(self, elapsed_us: int) -> time:
        """The earliest clock time by which `elapsed_us` (0 < elapsed_us ≤ a day) of office time has passed:
        a period used up exactly ends at its end (12:00), not at the start of the next one (14:00)."""
        done = 0
        for start, end in self._bounds:
            if elapsed_us <= done + (end - start):
                return _us_time(start + elapsed_us - done)
            done += end - start
        return _us_time(self._bounds[-1][1])

    def contains(self, clock: time) -> bool:
        """True when `clock` is inside a period (its end included: a deadline may fall at 17:30)."""
        at = _time_us(clock)
        return any(start < at <= end for start, end in self._bounds)


def _as_time(value: str | time) -> time:
    return value if isinstance(value, time) else time.fromisoformat(value)


# --- Results -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Deadline:
    """When a time limit runs out. `provisional` when any day crossed lies in a year whose arrangement is
    not loaded (listed in `provisional_years`): show it as provisional, and recompute when the year loads."""

    at: datetime  # aware, Asia/Shanghai
    provisional: bool
    provisional_years: tuple[int, ...] = ()

    def __str__(self) -> str:
        text = self.at.strftime("%Y-%m-%d %H:%M")
        return _("%(at)s（暂定）") % {"at": text} if self.provisional else text


@dataclass(frozen=True, slots=True)
class WorkingDuration:
    """Office time between two moments (negative when the end is before the start)."""

    working: timedelta
    provisional: bool
    day_length: timedelta
    provisional_years: tuple[int, ...] = ()

    @property
    def hours(self) -> float:
        return self.working / timedelta(hours=1)

    @property
    def days(self) -> float:
        """In working days of `day_length` (7 h by default)."""
        return self.working / self.day_length


# --- Fixed-date holidays and the fallback --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FixedHoliday:
    month: int
    day: int
    name: str
    first_year: int = 1950
    last_year: int = 9999


# The statutory holidays with a fixed Gregorian date (《全国年节及纪念日放假办法》). Labour Day had three
# statutory days until 2007, one from 2008 and two from 2025.
FIXED_HOLIDAYS: tuple[FixedHoliday, ...] = (
    FixedHoliday(1, 1, "元旦"),
    FixedHoliday(5, 1, "劳动节"),
    FixedHoliday(5, 2, "劳动节", last_year=2007),
    FixedHoliday(5, 3, "劳动节", last_year=2007),
    FixedHoliday(5, 2, "劳动节", first_year=2025),
    FixedHoliday(10, 1, "国庆节"),
    FixedHoliday(10, 2, "国庆节"),
    FixedHoliday(10, 3, "国庆节"),
)

# Every year's arrangement names these festivals (a name may combine two, e.g. "中秋节、国庆节").
FESTIVALS: tuple[str, ...] = ("元旦", "春节", "清明", "劳动", "端午", "中秋", "国庆")
FESTIVALS_SINCE = 2008  # 清明, 端午 and 中秋 became holidays in 2008

# A real year has 244–252 working days; outside this range a file is certainly wrong.
WORKDAYS_RANGE = (235, 262)


def fixed_holidays(year: int) -> dict[date, str]:
    """The fixed-date statutory holidays of `year`, with their names."""
    return {
        date(year, rule.month, rule.day): rule.name
        for rule in FIXED_HOLIDAYS
        if rule.first_year <= year <= rule.last_year
    }


def fallback_days(year: int) -> dict[date, DayStatus]:
    """The provisional arrangement of a year not loaded: the fixed-date holidays, nothing else."""
    return {day: (False, name) for day, name in fixed_holidays(year).items()}


# --- One year, built for fast lookups ------------------------------------------------------------------


class _Year:
    """One year's working days as a bitmap (`work[i]` for the i-th day of the year), the running count of
    working days before each day (`rank`), and the day indexes of the working days (`positions`)."""

    __slots__ = ("first", "loaded", "names", "positions", "rank", "work", "year")

    def __init__(self, year: int, days: YearDays | None):
        self.year = year
        self.loaded = days is not None
        stored = days if days is not None else fallback_days(year)
        first = date(year, 1, 1)
        self.first = first.toordinal()
        length = (date(year, 12, 31) - first).days + 1
        weekday = first.weekday()
        self.work = bytearray(1 if (weekday + i) % 7 < 5 else 0 for i in range(length))
        self.names: dict[date, str] = {}
        for day, (is_workday, name) in stored.items():
            if day.year == year:
                self.work[day.toordinal() - self.first] = 1 if is_workday else 0
                self.names[day] = name
        self.rank = array("H", itertools.accumulate(self.work, initial=0))
        self.positions = array("H", (i for i, flag in enumerate(self.work) if flag))


def _local(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("working-time arithmetic needs an aware datetime")
    return moment.astimezone(SHANGHAI)


def _micro(amount: timedelta) -> int:
    return amount // timedelta(microseconds=1)


class WorkCalendar:
    """Working days and working time over a calendar whose years come from `loader` (a year's exceptions
    to the plain week, or None when the year is not loaded). Pure: the DB-backed instance is built by
    `current_calendar()`; tests and benchmarks may pass any loader. Years are built once and memoised."""

    def __init__(self, loader: YearLoader, *, hours: WorkingHours | None = None, token: object = None):
        self._loader = loader
        self.hours = hours or WorkingHours.parse(DEFAULT_WORKING_HOURS)
        self.token = token
        self._years: dict[int, _Year] = {}

    def _year(self, year: int) -> _Year:
        built = self._years.get(year)
        if built is None:
            built = self._years[year] = _Year(year, self._loader(year))
        return built

    # Days

    def is_loaded(self, year: int) -> bool:
        return self._year(year).loaded

    def is_workday(self, day: date) -> tuple[bool, bool]:
        """(is a working day, provisional: the day's year is not loaded)."""
        year = self._year(day.year)
        return bool(year.work[day.toordinal() - year.first]), not year.loaded

    def day_name(self, day: date) -> str:
        """The holiday's or make-up day's name ("国庆节", "调休上班（国庆节）"), "" for an ordinary day."""
        return self._year(day.year).names.get(day, "")

    def next_workday(self, day: date) -> date:
        """`day` itself if it is a working day, else the first working day after it."""
        year = self._year(day.year)
        index = day.toordinal() - year.first
        while True:
            found = year.work.find(1, index)
            if found >= 0:
                return date.fromordinal(year.first + found)
            year, index = self._year(year.year + 1), 0

    def nth_workday(self, day: date, n: int) -> date:
        """The n-th working day after the working day `day` (n = 0: `day`)."""
        year = self._year(day.year)
        k = year.rank[day.toordinal() - year.first] + n
        while k >= len(year.positions):
            k -= len(year.positions)
            year = self._year(year.year + 1)
        return date.fromordinal(year.first + year.positions[k])

    def workdays_between(self, start: date, end: date) -> int:
        """The number of working days d with start ≤ d < end (start ≤ end)."""
        first, last = self._year(start.year), self._year(end.year)
        start_rank = first.rank[start.toordinal() - first.first]
        end_rank = last.rank[end.toordinal() - last.first]
        if start.year == end.year:
            return end_rank - start_rank
        between = sum(len(self._year(y).positions) for y in range(start.year + 1, end.year))
        return len(first.positions) - start_rank + between + end_rank

    def _unloaded(self, first: int, last: int) -> tuple[int, ...]:
        return tuple(y for y in range(first, last + 1) if not self._year(y).loaded)

    def _anchor(self, local: datetime) -> tuple[date, int]:
        """Where counting starts: (working day, office time of that day already passed)."""
        day = local.date()
        year = self._year(day.year)
        if year.work[day.toordinal() - year.first]:
            return day, self.hours.elapsed_us(local.time())
        return self.next_workday(day), 0

    # Working time

    def add_working_time(self, start: datetime, amount: timedelta) -> Deadline:
        """The earliest moment by which `amount` of office time has passed since `start` (module docstring)."""
        local = _local(start)
        amount_us = _micro(amount)
        if amount_us < 0:
            raise ValueError("a time limit cannot be negative")
        if amount_us == 0:
            unloaded = self._unloaded(local.year, local.year)
            return Deadline(local, bool(unloaded), unloaded)
        day, offset = self._anchor(local)
        full_days, rest = divmod(offset + amount_us, self.hours.day_us)
        if rest == 0:  # ends exactly at a close: that close, not the next opening
            full_days, rest = full_days - 1, self.hours.day_us
        end_day = self.nth_workday(day, full_days)
        at = datetime.combine(end_day, self.hours.clock_at(rest), tzinfo=SHANGHAI)
        unloaded = self._unloaded(local.year, end_day.year)
        return Deadline(at, bool(unloaded), unloaded)

    def add_working_hours(self, start: datetime, hours: float) -> Deadline:
        return self.add_working_time(start, timedelta(hours=hours))

    def add_working_days(self, start: datetime, days: int) -> Deadline:
        """`days` × the working-day length of office time (see the module docstring)."""
        return self.add_working_time(start, days * self.hours.day_length)

    def working_duration(self, start: datetime, end: datetime) -> WorkingDuration:
        """Office time between two moments, e.g. how long a step took, to compare with its limit."""
        a, b = _local(start), _local(end)
        sign = 1
        if b < a:
            a, b, sign = b, a, -1
        day_a, offset_a = self._anchor(a)
        day_b, offset_b = self._anchor(b)
        micro = self.workdays_between(day_a, day_b) * self.hours.day_us + offset_b - offset_a
        unloaded = self._unloaded(a.year, max(b.year, day_b.year))
        return WorkingDuration(timedelta(microseconds=sign * micro), bool(unloaded), self.hours.day_length, unloaded)


# --- The chinese-calendar package ----------------------------------------------------------------------

_PACKAGE_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利70周年纪念日",
}
MAKE_UP_DAY = "调休上班"


def package_version() -> str:
    try:
        return importlib.metadata.version("chinesecalendar")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def package_years() -> dict[int, dict[date, DayStatus]]:
    """Every year the installed chinese-calendar package covers, as exceptions to the plain week: its
    holidays (named, weekends inside a holiday period included) and its make-up working days."""
    from chinese_calendar import constants

    years: dict[int, dict[date, DayStatus]] = {}
    for day, label in constants.holidays.items():
        years.setdefault(day.year, {})[day] = (False, _PACKAGE_NAMES.get(str(label), str(label))[:50])
    for day, label in constants.workdays.items():
        festival = _PACKAGE_NAMES.get(str(label), str(label))
        years.setdefault(day.year, {})[day] = (True, f"{MAKE_UP_DAY}（{festival}）"[:50])
    return dict(sorted(years.items()))


# --- The process cache ---------------------------------------------------------------------------------


@dataclass
class _Cache:
    calendar: WorkCalendar | None = None
    hours_spec: object = None
    checked_at: float = 0.0


_cache = _Cache()


def _db_year(year: int) -> YearDays | None:
    year_id = CalendarYear.objects.filter(year=year).values_list("id", flat=True).first()
    if year_id is None:
        return None
    rows = CalendarDay.objects.filter(year_id=year_id).values_list("date", "is_workday", "name")
    return {day: (is_workday, name) for day, is_workday, name in rows}


def _version_token() -> tuple[Any, ...]:
    """Changes whenever a year is added, reloaded or removed."""
    summary = CalendarYear.objects.aggregate(n=Count("id"), last=Max("loaded_at"), top=Max("id"))
    return summary["n"], summary["last"], summary["top"]


def current_calendar(*, refresh: bool = False) -> WorkCalendar:
    """The database calendar, cached per process. Checks the calendar's version in the database at most
    every `settings.WORKCALENDAR_CACHE_SECONDS` seconds, or now with `refresh=True` (a batch job that
    recomputes deadlines after a year is loaded starts with a refresh)."""
    spec = getattr(settings, "WORKING_HOURS", DEFAULT_WORKING_HOURS)
    ttl = float(getattr(settings, "WORKCALENDAR_CACHE_SECONDS", DEFAULT_CACHE_SECONDS))
    now = monotonic_time.monotonic()
    calendar = _cache.calendar
    if calendar is not None and not refresh and spec == _cache.hours_spec and now - _cache.checked_at < ttl:
        return calendar
    token = _version_token()
    if calendar is None or calendar.token != token or spec != _cache.hours_spec:
        calendar = WorkCalendar(_db_year, hours=WorkingHours.parse(spec), token=token)
        _cache.calendar, _cache.hours_spec = calendar, spec
    _cache.checked_at = now
    return calendar


def forget_cache() -> None:
    """Drop this process's calendar; the next use reads the database again."""
    _cache.calendar = None
    _cache.checked_at = 0.0


def is_workday(day: date) -> tuple[bool, bool]:
    """(is `day` a working day, provisional: its year is not loaded)."""
    return current_calendar().is_workday(day)


def add_working_days(start: datetime, days: int) -> Deadline:
    """The deadline `days` working days after `start` (N days = N × the working-day length in working
    hours, counted in office hours; see the module docstring)."""
    return current_calendar().add_working_days(start, days)


def add_working_hours(start: datetime, hours: float) -> Deadline:
    """The deadline `hours` working hours after `start`, counted in office hours on working days."""
    return current_calendar().add_working_hours(start, hours)


def working_duration(start: datetime, end: datetime) -> WorkingDuration:
    """Office time between two moments (`.working`, `.hours`, `.days`, `.provisional`)."""
    return current_calendar().working_duration(start, end)


# --- Reads for the UI ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class YearStatus:
    year: int
    loaded: bool  # False: deadlines in this year are provisional
    source: str = ""
    source_label: str = ""
    loaded_at: datetime | None = None
    loaded_by: str = ""
    note: str = ""
    holidays: int = 0  # stored holiday rows (weekends inside holiday periods included)
    make_up_days: int = 0

    @property
    def provisional(self) -> bool:
        return not self.loaded


def years_loaded() -> list[int]:
    """The years whose arrangement is loaded, ascending."""
    return list(CalendarYear.objects.order_by("year").values_list("year", flat=True))


def year_status(year: int) -> YearStatus:
    """Whether `year` is loaded, from where, when and by whom, for the UI."""
    row = (
        CalendarYear.objects.filter(year=year)
        .select_related("loaded_by")
        .annotate(
            n_holidays=Count("days", filter=Q(days__is_workday=False)),
            n_workdays=Count("days", filter=Q(days__is_workday=True)),
        )
        .first()
    )
    if row is None:
        return YearStatus(year=year, loaded=False)
    return YearStatus(
        year=year,
        loaded=True,
        source=row.source,
        source_label=str(row.get_source_display()),
        loaded_at=row.loaded_at,
        loaded_by=row.loaded_by.get_username() if row.loaded_by else "",
        note=row.note,
        holidays=row.n_holidays,
        make_up_days=row.n_workdays,
    )


# --- Administrator files: parsing and validation (pure) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class CalendarRow:
    """One line of an administrator's file, as written: `line` is its line number in the file."""

    line: int
    date: str
    type: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class RowError:
    line: int | None  # None: the file as a whole
    message: str

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        return _("第 %(line)d 行：%(message)s") % {"line": self.line, "message": self.message}

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "message": self.message}


class CalendarRejected(ValidationFailed):
    code = "calendar_rejected"
    default_message = gettext_lazy("日历文件有错误，未导入任何数据。")

    def __init__(self, errors: Sequence[RowError]):
        self.errors = list(errors)
        super().__init__(fields={"rows": [str(e) for e in self.errors]}, errors=[e.as_dict() for e in self.errors])


_HOLIDAY_WORDS = frozenset({"holiday", "休", "休息", "放假", "假"})
_WORKDAY_WORDS = frozenset({"workday", "班", "上班", "调休上班"})
_DATE = re.compile(r"(\d{4})\s*(?:[-/.]|年)\s*(\d{1,2})\s*(?:[-/.]|月)\s*(\d{1,2})\s*日?")
_WEEKDAYS = (
    gettext_lazy("星期一"),
    gettext_lazy("星期二"),
    gettext_lazy("星期三"),
    gettext_lazy("星期四"),
    gettext_lazy("星期五"),
    gettext_lazy("星期六"),
    gettext_lazy("星期日"),
)
NAME_MAX_LENGTH = 50


def _parse_date(text: str) -> date | None:
    match = _DATE.fullmatch(unicodedata.normalize("NFKC", text).strip())
    if not match:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def _parse_type(text: str) -> bool | None:
    """True: a working day; False: a holiday; None: unknown."""
    word = unicodedata.normalize("NFKC", text).strip().lower()
    if word in _HOLIDAY_WORDS:
        return False
    if word in _WORKDAY_WORDS:
        return True
    return None


def parse_calendar_text(text: str, *, fmt: str | None = None) -> tuple[list[CalendarRow], list[RowError]]:
    """Rows of a CSV (`date,type,name`, header optional, `#` comments) or JSON file (an array of
    `{"date": ..., "type": ..., "name": ...}`), each with its line number. `fmt` is "csv", "json" or None
    (JSON when the text starts with "["). Structural problems come back as errors naming the line."""
    text = text.lstrip("\ufeff")
    if fmt is None:
        fmt = "json" if text.lstrip().startswith(("[", "{")) else "csv"
    if fmt == "json":
        return _json_rows(text)
    if fmt == "csv":
        return _csv_rows(text)
    raise ValueError(f"unknown calendar file format {fmt!r}")


def _csv_rows(text: str) -> tuple[list[CalendarRow], list[RowError]]:
    rows: list[CalendarRow] = []
    errors: list[RowError] = []
    reader = csv.reader(io.StringIO(text))
    first = True
    try:
        for cells in reader:
            line = reader.line_num
            cells = [cell.strip() for cell in cells]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if first and cells[0].lower() in ("date", "日期"):
                first = False
                continue
            first = False
            if not 2 <= len(cells) <= 3:
                errors.append(RowError(line, _("应为 2–3 列（date,type,name），实际为 %(n)d 列") % {"n": len(cells)}))
                continue
            rows.append(CalendarRow(line, cells[0], cells[1], cells[2] if len(cells) > 2 else ""))
    except csv.Error as exc:
        errors.append(RowError(reader.line_num or None, _("CSV 格式错误：%(error)s") % {"error": exc}))
    return rows, errors


def _json_rows(text: str) -> tuple[list[CalendarRow], list[RowError]]:
    decoder = json.JSONDecoder()
    rows: list[CalendarRow] = []
    position, line, counted = 0, 1, 0

    def skip(at: int) -> int:
        while at < len(text) and text[at] in " \t\r\n":
            at += 1
        return at

    def line_of(at: int) -> int:
        nonlocal line, counted
        line += text.count("\n", counted, at)
        counted = at
        return line

    position = skip(position)
    if position == len(text):
        return [], []
    if text[position] != "[":
        shape = '[{"date": "2027-10-01", "type": "holiday", "name": "国庆节"}, …]'
        return [], [RowError(line_of(position), _("JSON 文件应为数组：%(shape)s") % {"shape": shape})]
    position = skip(position + 1)
    if position < len(text) and text[position] == "]":
        position += 1
    else:
        while True:
            start = position
            try:
                value, position = decoder.raw_decode(text, position)
            except json.JSONDecodeError as exc:
                return rows, [RowError(exc.lineno, _("JSON 格式错误：%(error)s") % {"error": exc.msg})]
            row_line = line_of(start)
            if not isinstance(value, dict):
                return rows, [RowError(row_line, _("每一项应为对象 {date, type, name}"))]
            rows.append(
                CalendarRow(
                    row_line,
                    str(value.get("date") or ""),
                    str(value.get("type") or ""),
                    str(value.get("name") or ""),
                )
            )
            position = skip(position)
            if position < len(text) and text[position] == ",":
                position = skip(position + 1)
                continue
            if position < len(text) and text[position] == "]":
                position += 1
                break
            return rows, [RowError(line_of(min(position, len(text))), _("JSON 格式错误：缺少“,”或“]”"))]
    position = skip(position)
    if position < len(text):
        return rows, [RowError(line_of(position), _("JSON 格式错误：数组之后还有多余内容"))]
    return rows, []


def infer_year(rows: Sequence[CalendarRow]) -> int | None:
    """The year of the first row with a readable date."""
    for row in rows:
        day = _parse_date(row.date)
        if day is not None:
            return day.year
    return None


def validate_year(year: int, rows: Sequence[CalendarRow]) -> tuple[dict[date, DayStatus], list[RowError]]:
    """Check an administrator's arrangement of `year` and return it as exceptions to the plain week.

    Each row: a real date in `year`, a type (holiday | workday, or 放假 | 上班), a name of at most 50
    characters, no date twice. A holiday on a weekend is fine (the notice names the whole period); a
    "workday" on a weekday is refused, since it changes nothing and is almost certainly a mistyped date.
    The year as a whole, when every row is good: the fixed-date holidays are holidays, each festival
    (元旦 春节 清明 劳动 端午 中秋 国庆) is named by some holiday, and the year has a plausible number of
    working days."""
    errors: list[RowError] = []
    if not 2000 <= year <= 2100:
        return {}, [RowError(None, _("年份 %(year)s 超出范围（2000–2100）") % {"year": year})]
    if not rows:
        return {}, [RowError(None, _("文件为空：没有任何日期行"))]
    days: dict[date, DayStatus] = {}
    seen: dict[date, int] = {}
    fixed = fixed_holidays(year)
    for row in rows:
        day = _parse_date(row.date)
        if day is None:
            shown = row.date or _("（空）")
            errors.append(
                RowError(row.line, _("日期“%(date)s”无法识别（应为 YYYY-MM-DD，如 2027-10-01）") % {"date": shown})
            )
            continue
        if day.year != year:
            message = _("日期 %(date)s 不在 %(year)d 年内（一个文件只能包含一年的安排）")
            if day.year == year - 1 and day.month == 12:
                message += _("；上一年 12 月的调休安排请写入 %(previous)d 年的文件并重新导入该年")
            errors.append(RowError(row.line, message % {"date": day.isoformat(), "year": year, "previous": year - 1}))
            continue
        is_workday = _parse_type(row.type)
        if is_workday is None:
            errors.append(
                RowError(
                    row.line,
                    _("类型“%(type)s”无法识别（应为 holiday 或 workday，也可写“放假”或“上班”）")
                    % {"type": row.type or _("（空）")},
                )
            )
            continue
        name = unicodedata.normalize("NFC", row.name).strip()
        if len(name) > NAME_MAX_LENGTH:
            errors.append(RowError(row.line, _("名称超过 %(n)d 个字") % {"n": NAME_MAX_LENGTH}))
            continue
        if day in seen:
            errors.append(
                RowError(
                    row.line, _("日期 %(date)s 与第 %(other)d 行重复") % {"date": day.isoformat(), "other": seen[day]}
                )
            )
            continue
        seen[day] = row.line
        if is_workday and day.weekday() < 5:
            errors.append(
                RowError(
                    row.line,
                    _("%(date)s 是%(weekday)s，本来就是工作日；workday 只用于周末调休上班的日子（日期是否写错？）")
                    % {"date": day.isoformat(), "weekday": _WEEKDAYS[day.weekday()]},
                )
            )
            continue
        if is_workday and day in fixed:
            errors.append(
                RowError(
                    row.line,
                    _("%(date)s 是法定节假日（%(name)s），不能标为上班")
                    % {"date": day.isoformat(), "name": fixed[day]},
                )
            )
            continue
        days[day] = (is_workday, name or (MAKE_UP_DAY if is_workday else "放假"))
    if errors:
        return {}, errors
    for day, name in fixed.items():
        if day not in days:
            errors.append(
                RowError(
                    None,
                    _("年份不完整：%(date)s（%(name)s）是法定节假日，文件中没有这一天")
                    % {"date": day.isoformat(), "name": name},
                )
            )
    if year >= FESTIVALS_SINCE:
        holiday_names = [name for is_workday, name in days.values() if not is_workday]
        for festival in FESTIVALS:
            if not any(festival in name for name in holiday_names):
                errors.append(
                    RowError(
                        None,
                        _("年份不完整：没有“%(festival)s”的放假安排（放假日的名称应包含“%(festival)s”）")
                        % {"festival": festival},
                    )
                )
    workdays = len(_Year(year, days).positions)
    low, high = WORKDAYS_RANGE
    if not low <= workdays <= high:
        errors.append(
            RowError(
                None,
                _("全年工作日 %(n)d 天，超出合理范围（%(low)d–%(high)d 天），请检查文件")
                % {"n": workdays, "low": low, "high": high},
            )
        )
    return ({}, errors) if errors else (days, [])


def rows_from_mappings(items: Iterable[Mapping[str, Any]]) -> list[CalendarRow]:
    """API/web input (a list of {date, type, name}) as rows numbered from 1 (or by their `line`)."""
    return [
        CalendarRow(
            item["line"] if isinstance(item.get("line"), int) and item["line"] > 0 else index,
            str(item.get("date") or ""),
            str(item.get("type") or ""),
            str(item.get("name") or ""),
        )
        for index, item in enumerate(items, start=1)
    ]


# --- Writes --------------------------------------------------------------------------------------------

# Apps above core that keep deadlines (events) add a callable here in their AppConfig.ready(); each runs
# with the year after a load or seed commits, to recompute what that year changed. Explicit, no signals.
YEAR_LOADED_HOOKS: list[Callable[[int], object]] = []

MANAGE_CALENDAR_ROLES = frozenset({"district_admin"})


def _require_calendar_manager(actor: Any, *, action: str, year: int | None = None) -> None:
    """Until `accounts.roles` gains `Capability.MANAGE_CALENDAR`: district administrators only.
    `actor=None` is the command line (an operator with shell access)."""
    if actor is None:
        return
    detail = {"year": year} if year is not None else {}
    if not getattr(actor, "is_authenticated", False):
        audit_refusal(actor=actor, action=action, reason="not_authenticated", detail=detail)
        raise NotAuthenticated()
    if not actor.is_active or actor.role not in MANAGE_CALENDAR_ROLES:
        audit_refusal(actor=actor, action=action, reason="missing:manage_calendar", detail=detail)
        raise PermissionDenied()


def _after_change(years: Iterable[int]) -> None:
    """Forget the cached calendar now (this transaction reads the new data) and again after commit
    (other threads of this process); other processes notice the new version; then run the hooks."""
    forget_cache()
    transaction.on_commit(forget_cache)
    for year in years:
        for hook in YEAR_LOADED_HOOKS:
            transaction.on_commit(functools.partial(hook, year))


def _changed_dates(year: int, before: YearDays | None, after: YearDays) -> list[date]:
    """Days of `year` whose working/rest status differs between two arrangements (None: the fallback)."""
    old, new = _Year(year, before), _Year(year, after)
    return [date.fromordinal(old.first + i) for i, (a, b) in enumerate(zip(old.work, new.work, strict=True)) if a != b]


@dataclass(frozen=True, slots=True)
class CalendarLoadResult:
    year: int
    holidays: int
    make_up_days: int
    replaced: str  # the source of the arrangement replaced, "" if the year was not loaded
    changed_dates: tuple[date, ...]  # days whose status changed (against the fallback if not loaded)
    dry_run: bool = False


def calendar_load_year(
    *, actor: Any, year: int, rows: Sequence[CalendarRow], note: str = "", dry_run: bool = False
) -> CalendarLoadResult:
    """Load an administrator's arrangement of `year`, replacing whatever the year held, atomically and
    audited. Any error (`CalendarRejected`, every problem named by line) changes nothing."""
    _require_calendar_manager(actor, action="calendar.load_year", year=year)
    days, errors = validate_year(year, rows)
    if errors:
        raise CalendarRejected(errors)
    holidays = sum(1 for is_workday, _name in days.values() if not is_workday)
    make_up = len(days) - holidays
    if dry_run:
        existing = CalendarYear.objects.filter(year=year).first()
        before = _db_year(year) if existing else None
        return CalendarLoadResult(
            year,
            holidays,
            make_up,
            existing.source if existing else "",
            tuple(_changed_dates(year, before, days)),
            True,
        )
    try:
        with transaction.atomic():
            row = CalendarYear.objects.select_for_update().filter(year=year).first()
            before = _db_year(year) if row else None
            replaced = row.source if row else ""
            now = timezone.now()
            loaded_by = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
            if row is None:
                row = CalendarYear.objects.create(
                    year=year, source=CalendarYear.Source.ADMINISTRATOR, loaded_at=now, loaded_by=loaded_by, note=note
                )
            else:
                row.days.all().delete()
                row.source, row.loaded_at, row.loaded_by, row.note = (
                    CalendarYear.Source.ADMINISTRATOR,
                    now,
                    loaded_by,
                    note,
                )
                row.save(update_fields=["source", "loaded_at", "loaded_by", "note"])
            CalendarDay.objects.bulk_create(
                CalendarDay(year=row, date=day, is_workday=is_workday, name=name)
                for day, (is_workday, name) in sorted(days.items())
            )
            changed = _changed_dates(year, before, days)
            audit_record(
                actor=actor,
                action="calendar.load_year",
                target=row,
                detail={
                    "year": year,
                    "holidays": holidays,
                    "make_up_days": make_up,
                    "replaced": replaced,
                    "changed_dates": [d.isoformat() for d in changed],
                    "note": note,
                },
            )
            _after_change([year])
    except IntegrityError:  # another load of the same year created it first
        raise Conflict() from None
    return CalendarLoadResult(year, holidays, make_up, replaced, tuple(changed))


def calendar_load_text(
    *, actor: Any, text: str, year: int | None = None, fmt: str | None = None, note: str = "", dry_run: bool = False
) -> CalendarLoadResult:
    """Parse an administrator's CSV or JSON file and load it with `calendar_load_year`. The year is the
    one given, else that of the first readable date."""
    _require_calendar_manager(actor, action="calendar.load_year", year=year)
    rows, errors = parse_calendar_text(text, fmt=fmt)
    if year is None:
        year = infer_year(rows)
    if year is None:
        raise CalendarRejected(errors or [RowError(None, _("文件为空：没有任何日期行"))])
    if errors:  # report the readable rows' own problems too, not the year's completeness
        more = [error for error in validate_year(year, rows)[1] if error.line is not None] if rows else []
        raise CalendarRejected(sorted([*errors, *more], key=lambda e: e.line or 0))
    return calendar_load_year(actor=actor, year=year, rows=rows, note=note, dry_run=dry_run)


@dataclass(frozen=True, slots=True)
class CalendarSeedResult:
    seeded: tuple[int, ...]  # years written (new, or package years refreshed because the package changed)
    unchanged: tuple[int, ...]  # package years already stored as the package has them
    kept: tuple[int, ...]  # years the package covers that an administrator loaded: never overwritten
    package_version: str
    dry_run: bool = False


def calendar_seed_from_package(
    *, actor: Any = None, refresh: bool = False, dry_run: bool = False
) -> CalendarSeedResult:
    """Store every year the chinese-calendar package covers that is not loaded yet. With `refresh`, years
    seeded earlier from the package are rewritten where the installed package now differs. A year an
    administrator loaded is never touched. Bulk writes: 2004–2026 take a few milliseconds."""
    _require_calendar_manager(actor, action="calendar.seed")
    package = package_years()
    version = package_version()
    with transaction.atomic():
        stored = {row.year: row for row in CalendarYear.objects.select_for_update().filter(year__in=list(package))}
        kept = tuple(y for y in package if y in stored and stored[y].source != CalendarYear.Source.PACKAGE)
        todo, unchanged = [], []
        for y in package:
            if y not in stored:
                todo.append(y)
            elif y not in kept:
                if refresh and _db_year(y) != package[y]:
                    todo.append(y)
                else:
                    unchanged.append(y)
        if dry_run or not todo:
            return CalendarSeedResult(tuple(todo), tuple(unchanged), kept, version, dry_run)
        CalendarYear.objects.filter(year__in=todo).delete()
        now = timezone.now()
        loaded_by = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
        years = CalendarYear.objects.bulk_create(
            CalendarYear(
                year=y,
                source=CalendarYear.Source.PACKAGE,
                loaded_at=now,
                loaded_by=loaded_by,
                note=f"chinesecalendar {version}",
            )
            for y in todo
        )
        ids = {row.year: row.pk for row in years}
        if any(pk is None for pk in ids.values()):  # a backend that does not return ids from bulk_create
            ids = dict(CalendarYear.objects.filter(year__in=todo).values_list("year", "id"))
        CalendarDay.objects.bulk_create(
            CalendarDay(year_id=ids[y], date=day, is_workday=is_workday, name=name)
            for y in todo
            for day, (is_workday, name) in sorted(package[y].items())
        )
        audit_record(
            actor=actor,
            action="calendar.seed",
            object_type="core.calendaryear",
            object_repr=f"{todo[0]}–{todo[-1]}",
            detail={"years": todo, "package_version": version, "refresh": refresh},
        )
        _after_change(todo)
    return CalendarSeedResult(tuple(todo), tuple(unchanged), kept, version)
