"""Seed the grid-event catalogue (two levels) and its first time-limit version."""

import datetime as dt

from django.db import migrations

from civicgrid.events.catalogue import CATALOGUE

VALID_FROM = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def seed(apps, schema_editor):
    Category = apps.get_model("events", "Category")
    TimeLimit = apps.get_model("events", "TimeLimit")
    for sort, (major_code, major_name, minors) in enumerate(CATALOGUE):
        major, _ = Category.objects.get_or_create(code=major_code, defaults={"name": major_name, "sort": sort})
        for minor_sort, (code, name, kind, value, unit, self_fixable) in enumerate(minors):
            minor, created = Category.objects.get_or_create(
                code=code,
                defaults={"name": name, "parent": major, "default_department_kind": kind,
                          "self_fixable": self_fixable, "sort": minor_sort},
            )
            if created:
                TimeLimit.objects.create(category=minor, valid_from=VALID_FROM, handle_value=value, handle_unit=unit)


def unseed(apps, schema_editor):
    Category = apps.get_model("events", "Category")
    TimeLimit = apps.get_model("events", "TimeLimit")
    codes = [code for _, _, minors in CATALOGUE for code, *_ in minors]
    TimeLimit.objects.filter(category__code__in=codes, valid_from=VALID_FROM).delete()
    Category.objects.filter(code__in=codes).delete()
    Category.objects.filter(code__in=[major for major, _, _ in CATALOGUE], children__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("events", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
