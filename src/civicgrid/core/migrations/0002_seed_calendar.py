"""Seed the working-day calendar from the chinese-calendar package (2004–2026 with release 1.11), so that
every installation computes deadlines on the real arrangement from its first `migrate`. Later package
releases and later years: `civicgrid seed-calendar`, `civicgrid load-calendar FILE`. No audit entry here
(the journal is written by the services; a migration only has the historical models)."""

from django.db import migrations
from django.utils import timezone


def seed(apps, schema_editor):
    from civicgrid.core.workcalendar import package_version, package_years

    CalendarYear = apps.get_model("core", "CalendarYear")
    CalendarDay = apps.get_model("core", "CalendarDay")
    package = package_years()
    existing = set(CalendarYear.objects.values_list("year", flat=True))
    todo = [year for year in package if year not in existing]
    now = timezone.now()
    note = f"chinesecalendar {package_version()}"
    CalendarYear.objects.bulk_create(
        CalendarYear(year=year, source="chinese-calendar", loaded_at=now, note=note) for year in todo
    )
    ids = dict(CalendarYear.objects.filter(year__in=todo).values_list("year", "id"))
    CalendarDay.objects.bulk_create(
        CalendarDay(year_id=ids[year], date=day, is_workday=is_workday, name=name)
        for year in todo
        for day, (is_workday, name) in sorted(package[year].items())
    )


def unseed(apps, schema_editor):
    apps.get_model("core", "CalendarYear").objects.filter(source="chinese-calendar").delete()


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
