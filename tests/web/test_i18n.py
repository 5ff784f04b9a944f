"""Messages produced by services and pages follow the request's language: Chinese by default, English
when the user picks it. Checked at the points where they are produced (a service error, a rejected
layer file, a topology check) rather than only on template text."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation
from shapely.geometry import box

from civicgrid.accounts.roles import Role
from civicgrid.geo import services
from tests.conftest import DISTRICT, SHIQIAO_COMMUNITY
from tests.geo.conftest import feature_collection

pytestmark = pytest.mark.django_db

# Two grids of one community that overlap by half: an error the topology check must report.
OVERLAPPING = feature_collection(
    [
        ({"code": SHIQIAO_COMMUNITY + "001", "parent_code": SHIQIAO_COMMUNITY}, box(113.360, 22.940, 113.362, 22.942)),
        ({"code": SHIQIAO_COMMUNITY + "002", "parent_code": SHIQIAO_COMMUNITY}, box(113.361, 22.940, 113.363, 22.942)),
    ]
)
NO_CODE = feature_collection([({"parent_code": SHIQIAO_COMMUNITY}, box(113.36, 22.94, 113.361, 22.941))])


def _english(client) -> None:  # type: ignore[no-untyped-def]
    client.post(reverse("set_language"), {"language": "en", "next": "/login/"})


def test_a_login_failure_follows_the_language(client, make_user):
    user = make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY)
    html = client.post(reverse("web:login"), {"username": user.username, "password": "wrong"}).content.decode()
    assert "用户名或密码错误" in html
    _english(client)
    response = client.post(reverse("web:login"), {"username": user.username, "password": "wrong"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "Incorrect username or password" in html and "用户名或密码错误" not in html
    # The API speaks the same language as the page.
    body = client.post(
        reverse("api:auth-token"), {"username": user.username, "password": "wrong"}, HTTP_ACCEPT_LANGUAGE="en"
    ).json()
    assert body["code"] == "login_failed" and body["message"] == "Incorrect username or password"


def test_a_rejected_layer_file_follows_the_language(client, make_user):
    client.force_login(make_user(Role.DISTRICT_ADMIN, DISTRICT))
    upload = {"file": SimpleUploadedFile("bad.geojson", NO_CODE), "name": "bad"}
    html = client.post(reverse("geo:layers"), upload).content.decode()
    assert "缺少网格编码" in html and "文件有 1 处错误" in html
    _english(client)
    upload = {"file": SimpleUploadedFile("bad.geojson", NO_CODE), "name": "bad"}
    response = client.post(reverse("geo:layers"), upload)
    html = response.content.decode()
    assert response.status_code == 400
    assert "Feature 1, code: grid code is missing" in html
    assert "缺少网格编码" not in html and "个要素" not in html


def test_topology_messages_and_page_messages_follow_the_language(client, make_user):
    admin = make_user(Role.DISTRICT_ADMIN, DISTRICT)
    with translation.override("zh-hans"):
        layer = services.layer_import(actor=admin, data=OVERLAPPING, filename="overlap.geojson", name="overlap")
    client.force_login(admin)
    _english(client)
    response = client.post(reverse("geo:layer-action", args=[layer.pk, "check"]), follow=True)
    html = response.content.decode()
    assert "The topology check found" in html and "see the table below and the map" in html
    # Stored problems are written in the language of whoever ran the check.
    assert f"Grids {SHIQIAO_COMMUNITY}001 and {SHIQIAO_COMMUNITY}002 overlap by" in html
    assert "Topology check results" in html and "拓扑检查" not in html
    missing = client.get(reverse("geo:layer", args=[layer.pk + 1000])).content.decode()
    assert f"Layer version {layer.pk + 1000} does not exist." in missing

    # Chinese stays the default: a fresh session that picked no language gets Chinese.
    client.cookies.clear()
    client.force_login(admin)
    response = client.post(reverse("geo:layer-action", args=[layer.pk, "check"]), follow=True)
    html = response.content.decode()
    assert '<html lang="zh-hans">' in html
    assert "拓扑检查发现" in html and "重叠" in html and "overlap by" not in html


def test_password_rules_are_the_validators_own(client, make_user):
    client.force_login(make_user(Role.GRID_WORKER, SHIQIAO_COMMUNITY))
    html = client.get(reverse("web:password")).content.decode()
    assert "密码至少需要 10 个字符。" in html
    _english(client)
    html = client.get(reverse("web:password")).content.decode()
    assert "The password must be at least 10 characters long." in html and "密码" not in html


def test_register_and_attachment_refusals_follow_the_language(make_user, unit):
    """Service errors of the register and of case attachments: Chinese by default, English when asked."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from civicgrid.core.errors import ValidationFailed
    from civicgrid.events.attachments import attachment_check
    from civicgrid.registry import services as registry

    clerk = make_user(Role.COMMUNITY_CLERK, SHIQIAO_COMMUNITY)
    program = SimpleUploadedFile("photo.jpg", b"MZ\x90\x00" + b"\x00" * 200)

    def refusals() -> tuple[dict[str, list[str]], str]:
        with pytest.raises(ValidationFailed) as building:
            registry.building_get_or_create(actor=clerk, community=unit(SHIQIAO_COMMUNITY), road=" ", door_number="1号")
        program.seek(0)
        with pytest.raises(ValidationFailed) as upload:
            attachment_check(program)
        return building.value.fields, str(upload.value.message)

    with translation.override("zh-hans"):
        fields, upload = refusals()
    assert fields["road"] == ["路/街/巷不能为空"] and "photo.jpg" in upload and "可执行程序" in upload
    with translation.override("en"):
        fields, upload = refusals()
    assert fields["road"] == ["Road/street/lane is required."]
    assert "photo.jpg" in upload and "executable program" in upload
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in upload), upload
