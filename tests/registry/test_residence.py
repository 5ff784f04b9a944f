"""Register on arrival, update while present, cancel on departure: the journal, the projection, the
one-active-residence rule and its exception, personal information encrypted, masked and revealed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from civicgrid.accounts.roles import Role
from civicgrid.audit.models import AuditEntry
from civicgrid.core.errors import Conflict, OutOfScope, PermissionDenied, ValidationFailed
from civicgrid.registry import selectors, services
from civicgrid.registry.models import Person, ResidenceAction, ResidenceRecord
from tests.conftest import SHATOU_COMMUNITY, SHIQIAO
from tests.registry.conftest import person

pytestmark = pytest.mark.django_db


def test_lifecycle_is_a_journal_with_a_projection(clerk, house):
    record = services.residence_register(actor=clerk, person=person(), house=house, on=dt.date(2026, 3, 1))
    assert record.state == "active" and record.registered_on == dt.date(2026, 3, 1)
    subject = record.person
    assert subject.sex == "M" and subject.birth_date == dt.date(1991, 1, 1) and subject.is_migrant
    record = services.residence_update(
        actor=clerk, record=record, on=dt.date(2026, 6, 1), employer="番禺某厂", expected_version=1
    )
    assert record.updated_on == dt.date(2026, 6, 1) and record.version == 2
    record = services.residence_cancel(actor=clerk, record=record, reason="已搬离", on=dt.date(2026, 9, 1))
    assert record.state == "cancelled" and record.cancelled_on == dt.date(2026, 9, 1)
    kinds = list(ResidenceAction.objects.filter(record=record).values_list("kind", flat=True))
    assert kinds == ["register", "update", "cancel"]
    assert Person.objects.get(pk=subject.pk).employer == "番禺某厂"
    assert AuditEntry.objects.filter(action__startswith="residence.", object_id=str(record.pk)).count() == 3
    with pytest.raises(Conflict):
        services.residence_update(actor=clerk, record=record, phone="13900139000")


def test_one_active_residence_unless_an_exception_is_recorded(clerk, house, other_house):
    first = services.residence_register(actor=clerk, person=person(), house=house)
    with pytest.raises(Conflict, match="已在"):
        services.residence_register(actor=clerk, person=person(), house=other_house)
    assert ResidenceRecord.objects.filter(state="active").count() == 1
    services.residence_record_exception(actor=clerk, person=first.person, house=other_house, reason="两地工作")
    assert ResidenceRecord.objects.filter(person=first.person, state="active").count() == 2
    with pytest.raises(Conflict, match="已在该房屋"):
        services.residence_register(actor=clerk, person=person(), house=house)


def test_the_database_refuses_a_second_active_residence_without_exception(clerk, house, other_house):
    """The rule holds even if a service were bypassed: a partial unique index."""
    from django.db import IntegrityError, transaction

    record = services.residence_register(actor=clerk, person=person(), house=house)
    with pytest.raises(IntegrityError), transaction.atomic():
        ResidenceRecord.objects.create(
            person=record.person,
            house=other_house,
            registered_on=dt.date(2026, 1, 5),
            updated_on=dt.date(2026, 1, 5),
            org_path=other_house.org_path,
        )


def test_retried_requests_with_the_same_transaction_id_register_once(clerk, house):
    a = services.residence_register(actor=clerk, person=person(), house=house, txn_id="phone-7f3a")
    b = services.residence_register(actor=clerk, person=person(), house=house, txn_id="phone-7f3a")
    assert a.pk == b.pk and ResidenceAction.objects.count() == 1


@pytest.mark.parametrize(
    ("number", "field", "words"),
    [
        ("36042619910102009X", "id_number", "校验"),
        ("360426199113010079", "id_number", "出生日期"),
        ("12345", "id_number", ""),
    ],
)
def test_bad_identity_numbers_are_refused_by_field(clerk, house, number, field, words):
    with pytest.raises(ValidationFailed) as exc:
        services.residence_register(actor=clerk, person=person(number), house=house)
    assert field in exc.value.fields and words in " ".join(exc.value.fields[field])
    assert not Person.objects.exists()


def test_stated_sex_and_birth_date_must_agree_with_the_id(clerk, house):
    with pytest.raises(ValidationFailed) as exc:
        services.residence_register(actor=clerk, person=person(sex="F", birth_date=dt.date(1990, 1, 1)), house=house)
    assert len(exc.value.fields["id_number"]) == 2


def test_no_identity_number_or_phone_in_clear_text(clerk, house):
    services.residence_register(actor=clerk, person=person("44011320141005001X"), house=house)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM registry_person")
        rows = cursor.fetchall()
    dump = repr(rows)
    for secret in ("44011320141005001X", "440113201410050", "13800138000", "0138000"):
        assert secret not in dump
    subject = Person.objects.get()
    assert subject.id_masked == "440113********001X" and subject.phone_masked == "138****8000"


def test_reveal_needs_permission_reason_and_is_audited(clerk, house, make_user):
    subject = services.residence_register(actor=clerk, person=person(), house=house).person
    with pytest.raises(ValidationFailed):
        services.person_reveal(actor=clerk, person=subject, field="id_number", reason="")
    assert (
        services.person_reveal(actor=clerk, person=subject, field="id_number", reason="核实身份")
        == "360426199101010071"
    )
    assert services.person_reveal(actor=clerk, person=subject, field="phone", reason="联系本人") == "13800138000"
    entries = AuditEntry.objects.filter(action__startswith="pii.reveal", result="ok")
    assert entries.count() == 2 and entries.first().detail["reason"] == "核实身份"
    with pytest.raises(PermissionDenied):
        services.person_reveal(
            actor=make_user(Role.GRID_WORKER, house.building.community.code),
            person=subject,
            field="id_number",
            reason="想看",
        )
    with pytest.raises(OutOfScope):
        services.person_reveal(
            actor=make_user(Role.COMMUNITY_CLERK, SHATOU_COMMUNITY), person=subject, field="id_number", reason="想看"
        )
    assert AuditEntry.objects.filter(action="pii.reveal.id_number", result="denied").count() == 2


def test_register_matrix(make_user, house):
    for actor, error in (
        (make_user(Role.DISPATCHER, SHIQIAO), PermissionDenied),
        (make_user(Role.COMMUNITY_CLERK, SHATOU_COMMUNITY), OutOfScope),
    ):
        with pytest.raises(error):
            services.residence_register(actor=actor, person=person(), house=house)
    assert not ResidenceRecord.objects.exists() and not Person.objects.exists()


def test_search_by_full_masked_name_and_phone_is_scoped(clerk, house, make_user):
    subject = services.residence_register(actor=clerk, person=person(), house=house).person
    assert list(selectors.person_search(actor=clerk, q="360426199101010071")) == [subject]
    assert list(selectors.person_search(actor=clerk, q="360426********0071")) == [subject]
    assert list(selectors.person_search(actor=clerk, q="张")) == [subject]
    assert list(selectors.person_search(actor=clerk, q="13800138000")) == [subject]
    outsider = make_user(Role.COMMUNITY_CLERK, SHATOU_COMMUNITY)
    assert list(selectors.person_search(actor=outsider, q="360426199101010071")) == []
