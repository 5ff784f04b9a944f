"""The Chinese working-day calendar as data (DOMAIN §5, time limits).

A `CalendarYear` row says "this year's arrangement is known": seeded from the chinese-calendar package
for the years it covers, or loaded by an administrator from the State Council's notice. A year without a
row is *not loaded*: deadlines crossing it fall back to Monday–Friday minus the fixed-date holidays and
are marked provisional (see `civicgrid.core.workcalendar`).

Only the days that differ from the plain week are stored, as `CalendarDay` rows: holidays (on a weekday,
or on a weekend when the notice names them, e.g. 国庆节 on a Saturday) and make-up working days on a
weekend (调休上班). Every other day is a working day Monday to Friday and a rest day at the weekend.
This is the shape of the notice itself (a list of exceptions), of an administrator's file, and of the
package's data; a year is ~35 rows instead of 365, so seeding 2004–2026 writes ~800 rows.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class CalendarYear(models.Model):
    class Source(models.TextChoices):
        PACKAGE = "chinese-calendar", _("chinese-calendar 软件包")
        ADMINISTRATOR = "administrator", _("管理员导入")

    year = models.PositiveSmallIntegerField(_("年份"), unique=True)
    source = models.CharField(_("来源"), max_length=32, choices=Source.choices)
    loaded_at = models.DateTimeField(_("导入时间"))
    loaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("导入人"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    note = models.CharField(_("说明"), max_length=500, blank=True)

    class Meta:
        ordering = ["year"]
        verbose_name = pgettext_lazy("singular", "工作日历年度")
        verbose_name_plural = _("工作日历年度")

    def __str__(self) -> str:
        return f"{self.year}（{self.get_source_display()}）"


class CalendarDay(models.Model):
    """A day that differs from the plain week: a holiday, or a make-up working day on a weekend."""

    year = models.ForeignKey(CalendarYear, verbose_name=_("年度"), on_delete=models.CASCADE, related_name="days")
    date = models.DateField(_("日期"), unique=True)
    is_workday = models.BooleanField(_("上班"))
    name = models.CharField(_("名称"), max_length=50, blank=True)

    class Meta:
        ordering = ["date"]
        verbose_name = pgettext_lazy("singular", "日历特殊日")
        verbose_name_plural = _("日历特殊日")

    def __str__(self) -> str:
        return f"{self.date.isoformat()} {self.name}"
