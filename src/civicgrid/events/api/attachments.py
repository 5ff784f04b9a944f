"""Attachments of a case through the API: the list, an upload, and the files themselves.

Access is the web pages': the list and the upload read the case through `selectors.case_get` (out of the
caller's scope reads as missing), `attachments.attachment_add` decides who may add (and audits refusals)
and checks the file by its content; the files are served by `attachments.attachment_file`, which checks
`attachment_get_visible` and journals every fetch of an original photo. The original keeps its EXIF (it is
evidence, for staff who may see the case); the public copy and the thumbnail carry no metadata."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from civicgrid.core.errors import ValidationFailed
from civicgrid.events import attachments, selectors
from civicgrid.events.api import reads
from civicgrid.events.models import Attachment
from civicgrid.events.workflow import Action


class AttachmentSerializer(serializers.ModelSerializer[Attachment]):
    stage_label = serializers.SerializerMethodField()
    uploaded_by = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField(help_text=gettext_lazy("原件（照片含 EXIF，仅限可查看该事件的工作人员）"))
    public_url = serializers.SerializerMethodField(help_text=gettext_lazy("照片去除 EXIF 的副本；文件为空"))
    thumbnail_url = serializers.SerializerMethodField(help_text=gettext_lazy("照片缩略图（JPEG）；文件为空"))

    class Meta:
        model = Attachment
        fields = [
            "id",
            "kind",
            "stage",
            "stage_label",
            "name",
            "content_type",
            "size",
            "sha256",
            "uploaded_at",
            "uploaded_by",
            "url",
            "public_url",
            "thumbnail_url",
        ]

    def get_stage_label(self, attachment: Attachment) -> str:
        return str(Action(attachment.stage).label) if attachment.stage in Action.values else ""

    def get_uploaded_by(self, attachment: Attachment) -> str | None:
        user = attachment.uploaded_by
        return user.display_name if user is not None else None

    def get_url(self, attachment: Attachment) -> str:
        return reverse("api:events-attachment-file", kwargs={"attachment_id": attachment.pk})

    def _variant(self, attachment: Attachment, variant: str, name: str) -> str | None:
        if not name:
            return None
        return reverse("api:events-attachment-variant", kwargs={"attachment_id": attachment.pk, "variant": variant})

    def get_public_url(self, attachment: Attachment) -> str | None:
        return self._variant(attachment, "public", attachment.public_name)

    def get_thumbnail_url(self, attachment: Attachment) -> str | None:
        return self._variant(attachment, "thumb", attachment.thumbnail_name)


class AttachmentUploadSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(
        help_text=gettext_lazy("JPEG、PNG、WebP 照片或 PDF 文件；按内容识别类型，扩展名须与内容一致")
    )
    stage = serializers.ChoiceField(
        choices=[("", gettext_lazy("不属于某一环节")), *Action.choices],
        required=False,
        allow_blank=True,
        default="",
        help_text=gettext_lazy("上传所属环节，如 self_handle（自行处置前先上传照片）、handle（处置反馈）"),
    )


class CaseAttachmentListView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        operation_id="events_cases_attachments_list",
        responses=AttachmentSerializer(many=True),
        summary=gettext_lazy("事件的照片和文件"),
    )
    def get(self, request: Request, number: str) -> Response:
        case = selectors.case_get(actor=request.user, number=number)
        return Response(AttachmentSerializer(reads.case_attachments(case=case), many=True).data)

    @extend_schema(
        request={"multipart/form-data": AttachmentUploadSerializer},
        responses={201: AttachmentSerializer},
        summary=gettext_lazy("上传照片或文件（在办事件；上报人、辖区网格员、事件中心、督办、被派遣部门）"),
    )
    def post(self, request: Request, number: str) -> Response:
        case = selectors.case_get(actor=request.user, number=number)
        if not request.FILES.get("file"):
            raise ValidationFailed(fields={"file": [_("请选择要上传的照片或文件")]})
        payload = AttachmentUploadSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        attachment = attachments.attachment_add(
            actor=request.user, case=case, upload=payload.validated_data["file"], stage=payload.validated_data["stage"]
        )
        return Response(AttachmentSerializer(attachment).data, status=201)


FILE_RESPONSES = {
    (200, "image/jpeg"): OpenApiTypes.BINARY,
    (200, "image/png"): OpenApiTypes.BINARY,
    (200, "image/webp"): OpenApiTypes.BINARY,
    (200, "application/pdf"): OpenApiTypes.BINARY,
}


class AttachmentFileView(APIView):
    @extend_schema(
        operation_id="events_attachments_file",
        responses=FILE_RESPONSES,
        summary=gettext_lazy("下载附件原件（查看原始照片记入审计日志）"),
    )
    def get(self, request: Request, attachment_id: int) -> FileResponse:
        return attachments.attachment_file(request, attachment_id)


class AttachmentVariantView(APIView):
    @extend_schema(
        operation_id="events_attachments_variant",
        parameters=[
            OpenApiParameter(
                "variant",
                str,
                OpenApiParameter.PATH,
                enum=["original", "public", "thumb"],
                description=gettext_lazy("original 原件；public 去除 EXIF 的副本；thumb 缩略图"),
            )
        ],
        responses=FILE_RESPONSES,
        summary=gettext_lazy("附件的去 EXIF 副本或缩略图"),
    )
    def get(self, request: Request, attachment_id: int, variant: str) -> FileResponse:
        return attachments.attachment_file(request, attachment_id, variant)
