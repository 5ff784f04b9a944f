"""Attachments: content sniffed (not trusted from the name), size limit, storage through the storage API,
thumbnails, public copies without EXIF (GPS included), and who may add and fetch files."""

from __future__ import annotations

import io

import pytest
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import ExifTags, Image

from civicgrid.audit.models import AuditEntry
from civicgrid.core.errors import NotAuthenticated, PermissionDenied, ValidationFailed
from civicgrid.events import attachments
from civicgrid.events.attachments import attachment_add
from civicgrid.events.models import Attachment
from civicgrid.events.workflow import Action
from tests.conftest import PASSWORD
from tests.events.conftest import report

pytestmark = pytest.mark.django_db

GPS = {
    ExifTags.GPS.GPSLatitudeRef: "N",
    ExifTags.GPS.GPSLatitude: (22.0, 56.0, 20.0),
    ExifTags.GPS.GPSLongitudeRef: "E",
    ExifTags.GPS.GPSLongitude: (113.0, 21.0, 50.0),
}
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def stored_files(media) -> list[str]:
    return sorted(str(p.relative_to(media)) for p in media.rglob("*") if p.is_file()) if media.exists() else []


def jpeg_with_gps(size=(640, 480), orientation=6) -> bytes:
    """A real JPEG as a phone writes it: camera make, orientation, GPS position, a comment."""
    image = Image.new("RGB", size, (200, 30, 30))
    image.paste((20, 20, 200), (0, 0, size[0] // 4, size[1] // 4))  # a marker in the top-left corner
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestCam"
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.IFD.GPSInfo] = GPS
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, comment=b"home of the reporter")
    return out.getvalue()


def image_bytes(fmt: str, size=(400, 300), mode="RGB") -> bytes:
    image = Image.new(mode, size, (10, 120, 10, 128) if mode == "RGBA" else (10, 120, 10))
    exif = Image.Exif()
    exif[ExifTags.IFD.GPSInfo] = GPS
    out = io.BytesIO()
    image.save(out, fmt, exif=exif)
    return out.getvalue()


def upload(name: str, data: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def read(name: str) -> bytes:
    with storages["default"].open(name, "rb") as handle:
        return handle.read()


def opened(name: str) -> Image.Image:
    return Image.open(io.BytesIO(read(name)))


# --- accepted files -------------------------------------------------------------------------------------


def test_photo_public_copy_has_no_gps_and_is_upright(loop):
    case = report(loop)
    data = jpeg_with_gps()
    attachment = attachment_add(
        actor=loop.collector, case=case, upload=upload("现场照片.JPG", data, "image/jpeg"), stage=Action.REPORT
    )
    assert attachment.kind == Attachment.Kind.PHOTO and attachment.content_type == "image/jpeg"
    assert attachment.name == "现场照片.JPG" and attachment.size == len(data) and len(attachment.sha256) == 64
    assert attachment.uploaded_by == loop.collector and attachment.stage == "report"
    for name in (attachment.storage_name, attachment.public_name, attachment.thumbnail_name):
        assert name.startswith(f"events/{case.number}/")
    # The original is kept byte for byte (evidence), GPS included.
    assert read(attachment.storage_name) == data
    assert opened(attachment.storage_name).getexif().get_ifd(ExifTags.IFD.GPSInfo)
    # The public copy: no EXIF at all (no GPS, no camera), no comment, orientation applied.
    public = opened(attachment.public_name)
    assert public.format == "JPEG"
    assert ExifTags.IFD.GPSInfo not in public.getexif() and not public.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert len(public.getexif()) == 0 and "exif" not in public.info and "comment" not in public.info
    assert public.size == (480, 640)  # orientation 6: rotated a quarter turn
    # The marker (top-left of the sensor) is at the top-right once upright.
    r, _g, b = public.convert("RGB").getpixel((470, 10))
    assert b > 150 and r < 100
    # The thumbnail: a JPEG at most 320 px on its longer side, proportions kept, no EXIF.
    thumb = opened(attachment.thumbnail_name)
    assert thumb.format == "JPEG" and thumb.size == (240, 320) and len(thumb.getexif()) == 0
    entry = AuditEntry.objects.filter(action="events.attachment_add").latest("seq")
    assert entry.object_id == str(case.pk) and entry.detail["attachment"] == attachment.pk


@pytest.mark.parametrize(
    ("fmt", "name", "mode", "size", "thumb_size"),
    [
        ("PNG", "plan.png", "RGBA", (1000, 200), (320, 64)),
        ("WEBP", "photo.webp", "RGB", (400, 300), (320, 240)),
        ("JPEG", "small.jpeg", "RGB", (200, 100), (200, 100)),  # never enlarged
    ],
)
def test_png_webp_and_small_photos(loop, fmt, name, mode, size, thumb_size):
    case = report(loop)
    attachment = attachment_add(
        actor=loop.collector, case=case, upload=upload(name, image_bytes(fmt, size, mode)), stage=Action.REPORT
    )
    public = opened(attachment.public_name)
    assert public.format == fmt and public.size == size
    assert not public.getexif().get_ifd(ExifTags.IFD.GPSInfo) and "exif" not in public.info
    thumb = opened(attachment.thumbnail_name)
    assert thumb.format == "JPEG" and thumb.mode == "RGB" and thumb.size == thumb_size
    assert attachment.public_name.endswith("." + {"PNG": "png", "WEBP": "webp", "JPEG": "jpg"}[fmt])


def test_pdf_document(loop):
    case = report(loop)
    attachment = attachment_add(
        actor=loop.collector, case=case, upload=upload("整改通知书.pdf", PDF, "application/pdf"), stage=""
    )
    assert attachment.kind == Attachment.Kind.DOCUMENT and attachment.content_type == "application/pdf"
    assert attachment.public_name == "" and attachment.thumbnail_name == ""
    assert read(attachment.storage_name) == PDF and attachment.storage_name.endswith(".pdf")


# --- refused files --------------------------------------------------------------------------------------


def refused(loop, name: str, data: bytes, content_type: str = "application/octet-stream") -> str:
    case = report(loop)
    before = AuditEntry.objects.filter(action="events.attachment_add").count()
    with pytest.raises(ValidationFailed) as caught:
        attachment_add(actor=loop.collector, case=case, upload=upload(name, data, content_type), stage="report")
    assert not Attachment.objects.exists()
    assert AuditEntry.objects.filter(action="events.attachment_add").count() == before
    message = str(caught.value.message)
    assert caught.value.fields["file"] == [message]
    assert f"“{name}”" in message  # the message names the file
    return message


def test_pdf_named_jpg_is_refused(loop, media):
    message = refused(loop, "照片.jpg", PDF, "image/jpeg")
    assert ".jpg" in message and "PDF" in message and "不符" in message
    assert stored_files(media) == []


def test_program_named_png_is_refused(loop, media):
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200 + b"This program cannot be run"
    message = refused(loop, "photo.png", exe, "image/png")
    assert "可执行程序" in message and "不受支持" in message
    assert stored_files(media) == []


def test_too_big_is_refused(loop, settings, media):
    settings.EVENTS_ATTACHMENT_MAX_BYTES = 2048
    data = jpeg_with_gps(size=(800, 600))
    assert len(data) > 2048
    message = refused(loop, "big.jpg", data, "image/jpeg")
    assert "过大" in message and "MB" in message
    assert stored_files(media) == []


def test_default_size_limit_is_ten_megabytes(settings):
    del settings.EVENTS_ATTACHMENT_MAX_BYTES
    assert attachments.max_bytes() == 10 * 1024 * 1024


@pytest.mark.parametrize(
    ("name", "data", "content_type", "expected"),
    [
        ("scan.png", image_bytes("PNG"), "image/jpeg", "image/jpeg"),  # claimed type disagrees with the content
        ("photo.heic", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64, "image/heic", "HEIC"),
        ("photo.jpg", jpeg_with_gps()[:600], "image/jpeg", "已损坏"),  # truncated
        ("empty.jpg", b"", "image/jpeg", "空文件"),
        ("notes.txt", b"just some text", "text/plain", "无法识别"),
        ("anim.gif", b"GIF89a" + b"\x00" * 40, "image/gif", "GIF"),
        ("report", PDF, "application/pdf", "没有扩展名"),
        ("report.docx", PDF, "application/pdf", ".docx"),
    ],
)
def test_other_refusals(loop, name, data, content_type, expected):
    assert expected in refused(loop, name, data, content_type)


def test_pixel_bomb_is_refused(loop, settings):
    settings.EVENTS_ATTACHMENT_MAX_PIXELS = 100_000
    assert "分辨率过大" in refused(loop, "huge.png", image_bytes("PNG", size=(400, 300)))


# --- who may add ------------------------------------------------------------------------------------------


def test_who_may_add(loop, media):
    case = report(loop)
    for actor in (loop.stranger, loop.other_handler):
        with pytest.raises(PermissionDenied):
            attachment_add(actor=actor, case=case, upload=upload("a.pdf", PDF), stage="")
        assert AuditEntry.objects.filter(
            action="events.attachment_add", actor_id=actor.pk, result=AuditEntry.Result.DENIED
        ).exists()
    with pytest.raises(NotAuthenticated):  # no account and no token
        attachment_add(actor=None, case=case, upload=upload("a.jpg", jpeg_with_gps()), stage="report")
    with pytest.raises(PermissionDenied):  # the token of a grid worker's case does not open it to the public
        attachment_add(actor=None, case=case, upload=upload("a.jpg", jpeg_with_gps()), stage="report", token=case.token)
    with pytest.raises(ValidationFailed):
        attachment_add(actor=loop.collector, case=case, upload=upload("a.pdf", PDF), stage="nonsense")
    assert not Attachment.objects.exists() and stored_files(media) == []
    # The sides of the loop may.
    for actor in (loop.collector, loop.peer, loop.dispatcher, loop.supervisor):
        attachment_add(actor=actor, case=case, upload=upload("a.pdf", PDF), stage="")
    assert Attachment.objects.filter(case=case).count() == 4


# --- serving --------------------------------------------------------------------------------------------


def body(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.mark.urls("tests.events.public_test_urls")
def test_staff_serving_checks_access(loop, client):
    from civicgrid.events import services

    case = report(loop)
    data = jpeg_with_gps()
    attachment = attachment_add(actor=loop.collector, case=case, upload=upload("p.jpg", data), stage="report")
    url = f"/events/attachments/{attachment.pk}/"
    response = client.get(url)
    assert response.status_code == 302 and "/login/" in response["Location"]
    client.force_login(loop.collector)
    response = client.get(url)
    assert response.status_code == 200 and body(response) == data and response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff" and "private" in response["Cache-Control"]
    assert AuditEntry.objects.filter(action="events.attachment_view", actor_id=loop.collector.pk).exists()
    thumb = client.get(url + "thumb/")
    assert thumb.status_code == 200 and Image.open(io.BytesIO(body(thumb))).size == (240, 320)
    public = client.get(url + "public/")
    assert public.status_code == 200 and "exif" not in Image.open(io.BytesIO(body(public))).info
    assert client.get(url + "nonsense/").status_code == 404
    for user in (loop.dispatcher, loop.supervisor, loop.peer):
        client.force_login(user)
        assert client.get(url).status_code == 200
    # A department sees the files of cases dispatched to it, and no others.
    client.force_login(loop.handler)
    assert client.get(url).status_code == 404
    case = services.case_transition(actor=loop.dispatcher, case=case, action=Action.FILE)
    services.case_transition(actor=loop.dispatcher, case=case, action=Action.DISPATCH, department=loop.department)
    assert client.get(url).status_code == 200
    for user in (loop.other_handler, loop.stranger):
        client.force_login(user)
        assert client.get(url).status_code == 404
        assert AuditEntry.objects.filter(
            action="events.attachment_view", actor_id=user.pk, result=AuditEntry.Result.DENIED
        ).exists()


@pytest.mark.urls("tests.events.public_test_urls")
def test_documents_download_as_files(loop, client):
    case = report(loop)
    attachment = attachment_add(actor=loop.collector, case=case, upload=upload("通知.pdf", PDF), stage="")
    assert client.login(username="collector", password=PASSWORD)
    response = client.get(f"/events/attachments/{attachment.pk}/")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment")
    assert client.get(f"/events/attachments/{attachment.pk}/thumb/").status_code == 404


@pytest.mark.urls("tests.events.public_test_urls")
def test_public_copy_through_the_tracking_token(loop, client):
    case = report(loop)
    other = report(loop)
    attachment = attachment_add(actor=loop.collector, case=case, upload=upload("p.jpg", jpeg_with_gps()), stage="")
    response = client.get(f"/track/{case.token}/photos/{attachment.pk}/public/")
    assert response.status_code == 200
    image = Image.open(io.BytesIO(body(response)))
    assert not image.getexif().get_ifd(ExifTags.IFD.GPSInfo) and len(image.getexif()) == 0
    assert response["Referrer-Policy"] == "no-referrer"
    assert client.get(f"/track/{case.token}/photos/{attachment.pk}/thumb/").status_code == 200
    assert client.get(f"/track/{case.token}/photos/{attachment.pk}/original/").status_code == 404
    assert client.get(f"/track/{other.token}/photos/{attachment.pk}/public/").status_code == 404
    assert client.get(f"/track/{'x' * 24}/photos/{attachment.pk}/public/").status_code == 404
