"""Attachments of grid events (photos and documents): checking, storing, thumbnails, public copies, and
who may fetch them.

**What is accepted.** JPEG, PNG and WebP photos and PDF documents, judged by the content's magic bytes,
never by the name or the browser's MIME type. The name's extension (and the claimed MIME type, when the
browser sends a specific one) must agree with the content: a PDF named .jpg or a program named .png is
refused, with a Chinese message naming the file. Photos must also decode (a truncated or corrupt image is
refused) and stay under `EVENTS_ATTACHMENT_MAX_PIXELS` (default 50 megapixels, against decompression
bombs). Every file is limited to `EVENTS_ATTACHMENT_MAX_BYTES` (default 10 MB).

**What is stored.** Through Django's storage API, `django.core.files.storage.storages["default"]`, under
``events/<case number>/<uuid>.<ext>``:

- the original, byte for byte (it is evidence; its EXIF, GPS included, is only served to staff who may
  see the case);
- for photos, a public copy ``<uuid>.public.<ext>``: orientation applied, re-encoded with no metadata at
  all (EXIF with GPS, XMP, comments; only the ICC colour profile and palette transparency are kept), and
  a thumbnail ``<uuid>.thumb.jpg`` (JPEG, at most 320 px on its longer side, also without metadata).

The default store is the local disk (MEDIA_ROOT). An S3-compatible store (MinIO, OSS, OBS, COS, Ceph RGW)
is configuration, not code: install django-storages[s3] and set, in settings,

    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": "civicgrid-attachments",
            "endpoint_url": "https://minio.intranet.example:9000",
            "access_key": "...", "secret_key": "...",   # from the environment, never in the repository
            "region_name": "us-east-1", "addressing_style": "path",
            "default_acl": "private", "querystring_auth": True, "file_overwrite": False,
        },
    }

The bucket must be private: files are served only by the views below, which check access first.

**Who may fetch.** `attachment_get_visible` (staff): the case's reporter, users whose area contains the
case (except department handlers), and handlers of the department the case is dispatched to; others get
"not found". `attachment_get_public` (the citizen's tracking link): only the public copy and thumbnail of
photos of the case whose token is presented.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import uuid
import warnings
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import FileResponse, HttpRequest
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from PIL import Image, ImageOps

from civicgrid.accounts.roles import Role
from civicgrid.audit.services import audit_record, audit_refusal
from civicgrid.core.errors import NotAuthenticated, NotFound, PermissionDenied, ValidationFailed
from civicgrid.events.models import Attachment, Case, Channel
from civicgrid.events.workflow import FINAL_STATES, Action, State

THUMBNAIL_PX = 320
PUBLIC_JPEG_QUALITY = 90
THUMBNAIL_JPEG_QUALITY = 80
# A citizen may add at most this many photos to a report through the tracking token.
PUBLIC_MAX_PHOTOS = 3
# Metadata of the decoded image that the public copy keeps (none of it can locate anyone).
_KEPT_INFO = ("icc_profile", "transparency")


@dataclass(frozen=True)
class Format:
    name: str  # jpeg | png | webp | pdf
    label: Any  # a lazy translation
    mime: str
    ext: str
    kind: str  # Attachment.Kind
    pillow: str = ""  # Pillow's format name for photos


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("jpeg", gettext_lazy("JPEG 图片"), "image/jpeg", "jpg", Attachment.Kind.PHOTO, "JPEG"),
        Format("png", gettext_lazy("PNG 图片"), "image/png", "png", Attachment.Kind.PHOTO, "PNG"),
        Format("webp", gettext_lazy("WebP 图片"), "image/webp", "webp", Attachment.Kind.PHOTO, "WEBP"),
        Format("pdf", gettext_lazy("PDF 文件"), "application/pdf", "pdf", Attachment.Kind.DOCUMENT),
    )
}
EXTENSIONS = {"jpg": "jpeg", "jpeg": "jpeg", "jpe": "jpeg", "jfif": "jpeg", "png": "png", "webp": "webp", "pdf": "pdf"}
CLAIMED_MIME = {
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/pjpeg": "jpeg",
    "image/png": "png",
    "image/x-png": "png",
    "image/webp": "webp",
    "application/pdf": "pdf",
    "application/x-pdf": "pdf",
}
ACCEPTED = gettext_lazy("只接受 JPEG、PNG、WebP 格式的照片和 PDF 格式的文件")


def max_bytes() -> int:
    return int(getattr(settings, "EVENTS_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024))


def max_pixels() -> int:
    return int(getattr(settings, "EVENTS_ATTACHMENT_MAX_PIXELS", 50_000_000))


# --- sniffing -------------------------------------------------------------------------------------------


def sniff(head: bytes) -> str:
    """The format the first bytes announce ("jpeg", "png", "webp", "pdf"), or a name for a recognised
    but refused format ("heic", "gif", "exe", …), or "" when unknown."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
        return "heic"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head.startswith(b"MZ") or head.startswith(b"\x7fELF"):
        return "executable"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    return ""


_REFUSED_LABELS = {
    "heic": gettext_lazy("HEIC 照片（请在手机相机设置中选择“兼容性最佳”，或转换为 JPEG 后上传）"),
    "gif": gettext_lazy("GIF 图片"),
    "executable": gettext_lazy("可执行程序"),
    "zip": gettext_lazy("压缩包或 Office 文档"),
}


@dataclass(frozen=True)
class CheckedFile:
    """An upload that passed the checks: its name, format and content."""

    name: str
    format: Format
    data: bytes
    sha256: str

    @property
    def kind(self) -> str:
        return self.format.kind


def _display_name(upload: UploadedFile) -> str:
    raw = str(upload.name or "").replace("\\", "/")
    name = PurePath(raw).name.strip() or "未命名文件"
    return name[:200]


def _read_limited(upload: UploadedFile, limit: int, name: str) -> bytes:
    if upload.size is not None and upload.size > limit:
        raise _too_big(name, upload.size, limit)
    buffer = bytearray()
    upload.seek(0)
    for chunk in upload.chunks():
        buffer += chunk
        if len(buffer) > limit:
            raise _too_big(name, len(buffer), limit)
    return bytes(buffer)


def _too_big(name: str, size: int, limit: int) -> ValidationFailed:
    return _refuse(
        _("文件“%(name)s”过大（%(size).1f MB），单个文件不能超过 %(limit).0f MB")
        % {"name": name, "size": size / 1048576, "limit": limit / 1048576}
    )


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={"file": [message]})


def attachment_check(upload: UploadedFile) -> CheckedFile:
    """Check an upload without storing it: size, content sniffed by magic bytes, agreement of the name's
    extension and the claimed MIME type with the content, and (for photos) that the image decodes within
    the pixel limit. Raises ValidationFailed with a message naming the file."""
    name = _display_name(upload)
    data = _read_limited(upload, max_bytes(), name)
    if not data:
        raise _refuse(_("文件“%(name)s”是空文件") % {"name": name})
    sniffed = sniff(data[:64])
    ext = PurePath(name).suffix.lower().lstrip(".")
    claimed = EXTENSIONS.get(ext)
    if sniffed not in FORMATS:
        what = _REFUSED_LABELS.get(sniffed, _("无法识别的格式"))
        suffix = _("（扩展名 .%(ext)s 与内容不符）") % {"ext": ext} if claimed else ""
        raise _refuse(
            _("文件“%(name)s”的内容是%(what)s，不受支持%(suffix)s。%(accepted)s")
            % {"name": name, "what": what, "suffix": suffix, "accepted": ACCEPTED}
        )
    fmt = FORMATS[sniffed]
    if claimed is None:
        shown = _("扩展名 .%(ext)s") % {"ext": ext} if ext else _("没有扩展名")
        raise _refuse(
            _("文件“%(name)s”%(shown)s，不受支持。%(accepted)s") % {"name": name, "shown": shown, "accepted": ACCEPTED}
        )
    if claimed != sniffed:
        raise _refuse(
            _("文件“%(name)s”的扩展名为 .%(ext)s，但内容是%(format)s，两者不符，请确认文件后重新上传")
            % {"name": name, "ext": ext, "format": fmt.label}
        )
    mime = (upload.content_type or "").split(";")[0].strip().lower()
    claimed_by_mime = CLAIMED_MIME.get(mime)
    if claimed_by_mime is not None and claimed_by_mime != sniffed:
        raise _refuse(
            _("文件“%(name)s”声明的类型为 %(mime)s，但内容是%(format)s，两者不符")
            % {"name": name, "mime": mime, "format": fmt.label}
        )
    if fmt.kind == Attachment.Kind.PHOTO:
        _open_image(data, fmt, name).close()
    return CheckedFile(name=name, format=fmt, data=data, sha256=hashlib.sha256(data).hexdigest())


def _open_image(data: bytes, fmt: Format, name: str) -> Image.Image:
    """Decode the photo fully (so corrupt files are refused here), within the pixel limit."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[fmt.pillow])
            width, height = image.size
            if width * height > max_pixels():
                image.close()
                raise _refuse(
                    _("文件“%(name)s”的分辨率过大（%(width)d×%(height)d），请压缩到 %(megapixels)d 百万像素以内")
                    % {"name": name, "width": width, "height": height, "megapixels": max_pixels() // 1_000_000}
                )
            image.load()
    except ValidationFailed:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise _refuse(_("文件“%(name)s”的分辨率过大，无法处理") % {"name": name}) from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise _refuse(_("文件“%(name)s”已损坏或不是有效的%(format)s") % {"name": name, "format": fmt.label}) from None
    return image


# --- derived images -------------------------------------------------------------------------------------


def _clean(image: Image.Image) -> Image.Image:
    """The image upright (EXIF orientation applied) with every metadata item dropped but colour."""
    clean = ImageOps.exif_transpose(image).copy()  # a fresh copy: no cached EXIF object travels along
    clean.info = {key: image.info[key] for key in _KEPT_INFO if key in image.info}
    return clean


def _encode(image: Image.Image, fmt: Format) -> bytes:
    out = io.BytesIO()
    params: dict[str, Any] = {}
    if fmt.name == "jpeg":
        if image.mode not in ("RGB", "L", "CMYK"):
            image = image.convert("RGB")
        params = {"quality": PUBLIC_JPEG_QUALITY, "optimize": True}
    elif fmt.name == "webp":
        params = {"quality": PUBLIC_JPEG_QUALITY}
    if "icc_profile" in image.info:
        params["icc_profile"] = image.info["icc_profile"]
    image.save(out, format=fmt.pillow, **params)
    return out.getvalue()


def _thumbnail(image: Image.Image) -> bytes:
    thumb = image.copy()
    thumb.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX), Image.Resampling.LANCZOS)
    if thumb.mode in ("RGBA", "LA", "P", "PA") or "transparency" in thumb.info:
        rgba = thumb.convert("RGBA")
        thumb = Image.new("RGB", rgba.size, (255, 255, 255))
        thumb.paste(rgba, mask=rgba.getchannel("A"))
    elif thumb.mode != "RGB":
        thumb = thumb.convert("RGB")
    out = io.BytesIO()
    thumb.save(out, format="JPEG", quality=THUMBNAIL_JPEG_QUALITY, optimize=True)
    return out.getvalue()


@dataclass(frozen=True)
class Derived:
    public: bytes
    thumbnail: bytes


def derive_images(checked: CheckedFile) -> Derived | None:
    """The public copy and the thumbnail of a photo (None for documents)."""
    if checked.kind != Attachment.Kind.PHOTO:
        return None
    with _open_image(checked.data, checked.format, checked.name) as image:
        clean = _clean(image)
        return Derived(public=_encode(clean, checked.format), thumbnail=_thumbnail(clean))


# --- who may add and see ------------------------------------------------------------------------------


def _authenticated(actor: Any) -> bool:
    return actor is not None and bool(getattr(actor, "is_authenticated", False))


def _in_area(actor: Any, case: Case) -> bool:
    unit = getattr(actor, "org_unit", None)
    return unit is not None and case.org_path.startswith(unit.path)


def case_visible_to(actor: Any, case: Case) -> bool:
    """Staff access to a case's files: its reporter, anyone whose area contains the case (department
    handlers excepted: they see what is dispatched to their department), and that department."""
    if not _authenticated(actor) or not getattr(actor, "is_active", True):
        return False
    if actor.pk == case.reporter_id:
        return True
    if actor.role == Role.DEPARTMENT_HANDLER:
        return case.department_id is not None and actor.department_id == case.department_id
    return _in_area(actor, case)


def _may_add(actor: Any, case: Case) -> bool:
    """The working sides of the loop add files: reporter, grid workers, dispatchers and supervisors of
    the area, and the department the case is dispatched to."""
    if not case_visible_to(actor, case):
        return False
    return actor.pk == case.reporter_id or actor.role in (
        Role.GRID_WORKER,
        Role.DISPATCHER,
        Role.SUPERVISOR,
        Role.DEPARTMENT_HANDLER,
    )


def attachment_get_visible(*, actor: Any, attachment_id: int) -> Attachment:
    """One attachment for a staff user who may see its case. Out of reach looks the same as missing."""
    if not _authenticated(actor):
        raise NotAuthenticated()
    attachment = Attachment.objects.select_related("case").filter(pk=attachment_id).first()
    if attachment is None:
        raise NotFound(_("附件不存在"))
    if not case_visible_to(actor, attachment.case):
        audit_refusal(actor=actor, action="events.attachment_view", target=attachment.case, reason="out_of_scope")
        raise NotFound(_("附件不存在或您无权查看"))
    return attachment


def attachment_get_public(*, token: str, attachment_id: int) -> Attachment:
    """A photo of the case the tracking token belongs to, for its public copy or thumbnail only."""
    attachment = (
        Attachment.objects.select_related("case")
        .filter(pk=attachment_id, kind=Attachment.Kind.PHOTO)
        .exclude(public_name="")
        .first()
    )
    if attachment is None or not token or not secrets.compare_digest(attachment.case.token, token):
        raise NotFound(_("照片不存在"))
    return attachment


def attachment_list_public(*, case: Case) -> list[Attachment]:
    """Photos of a case that have a public copy (for the tracking page, reached through the token)."""
    return list(case.attachments.filter(kind=Attachment.Kind.PHOTO).exclude(public_name="").order_by("uploaded_at"))


# --- the write ----------------------------------------------------------------------------------------


def _store() -> Storage:
    return storages["default"]


STAGES = frozenset(Action.values)


def attachment_add(*, actor: Any, case: Case, upload: UploadedFile, stage: str, token: str = "") -> Attachment:
    """Check and store a file of a case, with a public copy and thumbnail for photos; audited.

    Staff may add files while the case is open (see `_may_add`). Without an account, only the holder of
    the case's tracking token may add photos, to a citizen report still awaiting filing, at the "report"
    stage, at most PUBLIC_MAX_PHOTOS of them."""
    if stage and stage not in STAGES:
        raise ValidationFailed(fields={"stage": [_("环节“%(stage)s”无法识别") % {"stage": stage}]})
    if _authenticated(actor):
        if not _may_add(actor, case):
            audit_refusal(actor=actor, action="events.attachment_add", target=case, reason="not_allowed")
            raise PermissionDenied(_("您不能为该事件上传附件"))
    else:
        actor = actor or AnonymousUser()
        if not token or not secrets.compare_digest(case.token, token):
            audit_refusal(actor=actor, action="events.attachment_add", target=case, reason="not_authenticated")
            raise NotAuthenticated()
        if case.channel != Channel.CITIZEN or case.state != State.REPORTED or stage != Action.REPORT:
            audit_refusal(actor=actor, action="events.attachment_add", target=case, reason="public_not_allowed")
            raise PermissionDenied(_("事件受理后不能再补充照片"))
        if case.attachments.count() >= PUBLIC_MAX_PHOTOS:
            raise ValidationFailed(fields={"file": [_("每件反映最多上传 %(n)d 张照片") % {"n": PUBLIC_MAX_PHOTOS}]})
    if case.state in FINAL_STATES:
        raise ValidationFailed(
            fields={"file": [_("事件已%(state)s，不能再添加附件") % {"state": State(case.state).label}]}
        )
    checked = attachment_check(upload)
    if not _authenticated(actor) and checked.kind != Attachment.Kind.PHOTO:
        raise ValidationFailed(
            fields={"file": [_("文件“%(name)s”不是照片，群众反映只能上传照片") % {"name": checked.name}]}
        )
    derived = derive_images(checked)
    store = _store()
    stem = f"events/{case.number}/{uuid.uuid4().hex}"
    saved: list[str] = []
    try:
        saved.append(store.save(f"{stem}.{checked.format.ext}", ContentFile(checked.data)))
        public_name = thumbnail_name = ""
        if derived is not None:
            public_name = store.save(f"{stem}.public.{checked.format.ext}", ContentFile(derived.public))
            saved.append(public_name)
            thumbnail_name = store.save(f"{stem}.thumb.jpg", ContentFile(derived.thumbnail))
            saved.append(thumbnail_name)
        with transaction.atomic():
            attachment = Attachment.objects.create(
                case=case,
                kind=checked.kind,
                stage=stage,
                name=checked.name,
                content_type=checked.format.mime,
                size=len(checked.data),
                sha256=checked.sha256,
                storage_name=saved[0],
                public_name=public_name,
                thumbnail_name=thumbnail_name,
                uploaded_by=actor if _authenticated(actor) else None,
            )
            audit_record(
                actor=actor,
                action="events.attachment_add",
                target=case,
                detail={
                    "attachment": attachment.pk,
                    "kind": checked.kind,
                    "stage": stage,
                    "type": checked.format.mime,
                    "size": len(checked.data),
                    "sha256": checked.sha256,
                },
            )
    except BaseException:
        for name in saved:
            store.delete(name)
        raise
    return attachment


# --- serving ------------------------------------------------------------------------------------------

VARIANTS = ("original", "public", "thumb")


def _storage_name(attachment: Attachment, variant: str) -> str:
    if variant == "original":
        return attachment.storage_name
    if variant == "public":
        return attachment.public_name
    if variant == "thumb":
        return attachment.thumbnail_name
    return ""


def _file_response(attachment: Attachment, variant: str) -> FileResponse:
    name = _storage_name(attachment, variant)
    if not name:
        raise NotFound(_("附件不存在"))
    try:
        handle = _store().open(name, "rb")
    except FileNotFoundError:
        raise NotFound(_("附件文件已丢失，请联系管理员")) from None
    if variant == "thumb":
        content_type, filename = "image/jpeg", _("%(name)s-缩略图.jpg") % {"name": PurePath(attachment.name).stem}
    else:
        content_type, filename = attachment.content_type, attachment.name
    document = attachment.kind == Attachment.Kind.DOCUMENT
    response = FileResponse(handle, content_type=content_type, as_attachment=document, filename=filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    patch_cache_control(response, private=True, max_age=3600)
    return response


def attachment_file(request: HttpRequest, attachment_id: int, variant: str = "original") -> FileResponse:
    """Staff: a case's file (the original keeps its EXIF), its public copy, or its thumbnail. Fetching an
    original photo is journalled: it may carry where and when it was taken."""
    if variant not in VARIANTS:
        raise NotFound()
    attachment = attachment_get_visible(actor=request.user, attachment_id=attachment_id)
    response = _file_response(attachment, variant)
    if variant == "original" and attachment.kind == Attachment.Kind.PHOTO:
        audit_record(
            actor=request.user,
            action="events.attachment_view",
            target=attachment.case,
            detail={"attachment": attachment.pk, "variant": variant},
        )
    return response


def attachment_public_file(
    request: HttpRequest, token: str, attachment_id: int, variant: str = "public"
) -> FileResponse:
    """The tracking page: a photo's public copy (no EXIF) or thumbnail, for the token holder."""
    if variant not in ("public", "thumb"):
        raise NotFound()
    attachment = attachment_get_public(token=token, attachment_id=attachment_id)
    response = _file_response(attachment, variant)
    response["Referrer-Policy"] = "no-referrer"
    return response
