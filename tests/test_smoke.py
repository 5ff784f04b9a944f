def test_division_list_loaded(db):
    from civicgrid.orgunits.models import OrgUnit

    assert OrgUnit.objects.count() == 293
