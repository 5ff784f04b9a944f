"""Pages: the grid map and the layer versions (import, check, publish, export)."""

from __future__ import annotations

import datetime as dt
from typing import cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext
from django.views.decorators.http import require_POST

from civicgrid.accounts.models import User
from civicgrid.accounts.roles import Capability, has_capability
from civicgrid.core.errors import DomainError
from civicgrid.geo import exports, formats, selectors, services

CRS_CHOICES = [
    ("wgs84", gettext_lazy("WGS-84 / CGCS2000 经纬度")),
    ("gcj02", gettext_lazy("GCJ-02（高德、腾讯）")),
    ("bd09", gettext_lazy("BD-09（百度）")),
    ("epsg4547", gettext_lazy("CGCS2000 高斯-克吕格 114°E（EPSG:4547）")),
]


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


@login_required
def grid_map(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    try:
        layers = list(selectors.layer_list(actor=user))
    except DomainError as exc:
        return render(request, "web/error.html", {"message": exc.message}, status=exc.status)
    current = selectors.layer_current()
    selected = current
    if request.GET.get("layer"):
        selected = next((layer for layer in layers if str(layer.pk) == request.GET["layer"]), current)
    return render(
        request,
        "geo/map.html",
        {
            "layers": layers,
            "selected": selected,
            "current": current,
            "tile_url": settings.MAP_TILE_URL,
            "households_warning": settings.GRID_HOUSEHOLDS_WARNING,
        },
    )


@login_required
def layer_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    try:
        layers = list(selectors.layer_list(actor=user))
    except DomainError as exc:
        return render(request, "web/error.html", {"message": exc.message}, status=exc.status)
    errors: list[str] = []
    if request.method == "POST" and has_capability(user, Capability.MANAGE_GRID_LAYERS):
        upload = request.FILES.get("file")
        if upload is None:
            errors = [_("请选择图层文件（GeoJSON 或 Shapefile zip）")]
        else:
            try:
                layer = services.layer_import(
                    actor=user,
                    data=upload.read(),
                    filename=upload.name or "upload",
                    name=request.POST.get("name", ""),
                    crs=request.POST.get("crs") or None,
                    note=request.POST.get("note", ""),
                )
            except services.LayerFileRejected as exc:
                errors = [str(e) for e in exc.errors][:200]
            except DomainError as exc:
                errors = [str(exc.message)]
            else:
                count = layer.features.count()
                messages.success(
                    request,
                    ngettext(
                        "已导入草稿“%(name)s”：%(n)d 个网格，请进行拓扑检查",
                        "已导入草稿“%(name)s”：%(n)d 个网格，请进行拓扑检查",
                        count,
                    )
                    % {"name": layer.name, "n": count},
                )
                return redirect("geo:layer", layer_id=layer.pk)
    return render(
        request,
        "geo/layers.html",
        {
            "layers": layers,
            "current": selectors.layer_current(),
            "errors": errors,
            "crs_choices": CRS_CHOICES,
            "can_manage": has_capability(user, Capability.MANAGE_GRID_LAYERS),
        },
        status=400 if errors else 200,
    )


@login_required
def layer_detail(request: HttpRequest, layer_id: int) -> HttpResponse:
    user = _user(request)
    try:
        layer = selectors.layer_get_visible(actor=user, layer_id=layer_id)
    except DomainError as exc:
        return render(request, "web/error.html", {"message": exc.message}, status=exc.status)
    return render(
        request,
        "geo/layer.html",
        {
            "layer": layer,
            "problems": selectors.problem_list(layer=layer)[:500],
            "lineage": selectors.lineage_list(layer=layer)[:500],
            "feature_count": layer.features.count(),
            "boundary_count": layer.boundaries.count(),
            "can_manage": has_capability(user, Capability.MANAGE_GRID_LAYERS),
            "crs_choices": CRS_CHOICES,
            "formats": [("geojson", "GeoJSON"), ("shapefile", "Shapefile"), ("csv", "CSV (WKT)")],
            "today": dt.date.today().isoformat(),  # noqa: DTZ011 - a default for a date input
        },
    )


@login_required
@require_POST
def layer_action(request: HttpRequest, layer_id: int, action: str) -> HttpResponse:
    user = _user(request)
    try:
        layer = selectors.layer_get_visible(actor=user, layer_id=layer_id)
        if action == "check":
            report = services.layer_check(actor=user, layer=layer)
            if report.ok:
                grids = ngettext("%(n)d 个网格", "%(n)d 个网格", report.grids) % {"n": report.grids}
                notes = ngettext("%(n)d 条提示", "%(n)d 条提示", len(report.problems)) % {"n": len(report.problems)}
                messages.success(request, _("拓扑检查通过：%(grids)s，%(notes)s") % {"grids": grids, "notes": notes})
            else:
                n = len(report.errors)
                messages.error(
                    request,
                    ngettext(
                        "拓扑检查发现 %(n)d 个错误，详见下表和地图", "拓扑检查发现 %(n)d 个错误，详见下表和地图", n
                    )
                    % {"n": n},
                )
        elif action == "publish":
            raw = request.POST.get("effective_from") or ""
            effective = dt.date.fromisoformat(raw) if raw else None
            layer = services.layer_publish(actor=user, layer=layer, effective_from=effective)
            summary = layer.check_summary.get("publish", {})
            messages.success(
                request,
                _("已发布为 V%(number)s：保留编码 %(kept)s 个，新编码 %(issued)s 个，停用 %(retired)s 个")
                % {
                    "number": layer.number,
                    "kept": summary.get("kept"),
                    "issued": summary.get("issued"),
                    "retired": summary.get("retired"),
                },
            )
        elif action == "discard":
            services.layer_discard(actor=user, layer=layer)
            messages.success(request, _("草稿已废弃"))
        elif action == "draft":
            draft = services.layer_draft_from(actor=user, base=layer, name=request.POST.get("name", ""))
            messages.success(request, _("已基于 %(layer)s 新建调整草稿") % {"layer": layer})
            return redirect("geo:layer", layer_id=draft.pk)
        elif action == "boundaries":
            upload = request.FILES.get("file")
            if upload is None:
                messages.error(request, _("请选择边界文件"))
            else:
                count = services.boundaries_import(
                    actor=user,
                    layer=layer,
                    data=upload.read(),
                    filename=upload.name or "upload",
                    crs=request.POST.get("crs") or None,
                )
                messages.success(
                    request,
                    ngettext("已导入 %(n)d 个社区/镇街边界", "已导入 %(n)d 个社区/镇街边界", count) % {"n": count},
                )
        else:
            messages.error(request, _("未知操作"))
    except services.LayerFileRejected as exc:
        messages.error(request, pgettext("sentence separator", "；").join(str(e) for e in exc.errors[:20]))
    except DomainError as exc:
        comma = pgettext("clause separator", "，")
        detail = pgettext("sentence separator", "；").join(
            f"{k}: {comma.join(str(m) for m in v)}" for k, v in exc.fields.items()
        )
        if detail:
            messages.error(request, _("%(message)s（%(detail)s）") % {"message": exc.message, "detail": detail})
        else:
            messages.error(request, str(exc.message))
    except ValueError:
        messages.error(request, _("生效日期格式应为 YYYY-MM-DD"))
    return redirect(reverse("geo:layer", kwargs={"layer_id": layer_id}))


@login_required
def layer_export(request: HttpRequest, layer_id: int) -> HttpResponse:
    user = _user(request)
    try:
        layer = selectors.layer_get_visible(actor=user, layer_id=layer_id)
        from civicgrid.geo import crs as crs_module

        try:
            crs = crs_module.parse_crs(request.GET.get("crs", "wgs84"))
        except ValueError as exc:
            return render(request, "web/error.html", {"message": formats.crs_error_text(exc)}, status=400)
        return exports.layer_export_response(actor=user, layer=layer, fmt=request.GET.get("format", "geojson"), crs=crs)
    except DomainError as exc:
        return render(request, "web/error.html", {"message": exc.message}, status=400)
