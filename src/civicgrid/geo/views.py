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
from django.views.decorators.http import require_POST

from civicgrid.accounts.models import User
from civicgrid.accounts.roles import Capability, has_capability
from civicgrid.core.errors import DomainError
from civicgrid.geo import exports, selectors, services

CRS_CHOICES = [
    ("wgs84", "WGS-84 / CGCS2000 经纬度"),
    ("gcj02", "GCJ-02（高德、腾讯）"),
    ("bd09", "BD-09（百度）"),
    ("epsg4547", "CGCS2000 高斯-克吕格 114°E（EPSG:4547）"),
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
            errors = ["请选择图层文件（GeoJSON 或 Shapefile zip）"]
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
                messages.success(request, f"已导入草稿“{layer.name}”：{layer.features.count()} 个网格，请进行拓扑检查")
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
                messages.success(request, f"拓扑检查通过：{report.grids} 个网格，{len(report.problems)} 条提示")
            else:
                messages.error(request, f"拓扑检查发现 {len(report.errors)} 个错误，详见下表和地图")
        elif action == "publish":
            raw = request.POST.get("effective_from") or ""
            effective = dt.date.fromisoformat(raw) if raw else None
            layer = services.layer_publish(actor=user, layer=layer, effective_from=effective)
            summary = layer.check_summary.get("publish", {})
            messages.success(
                request,
                f"已发布为 V{layer.number}：保留编码 {summary.get('kept')} 个，"
                f"新编码 {summary.get('issued')} 个，停用 {summary.get('retired')} 个",
            )
        elif action == "discard":
            services.layer_discard(actor=user, layer=layer)
            messages.success(request, "草稿已废弃")
        elif action == "draft":
            draft = services.layer_draft_from(actor=user, base=layer, name=request.POST.get("name", ""))
            messages.success(request, f"已基于 {layer} 新建调整草稿")
            return redirect("geo:layer", layer_id=draft.pk)
        elif action == "boundaries":
            upload = request.FILES.get("file")
            if upload is None:
                messages.error(request, "请选择边界文件")
            else:
                count = services.boundaries_import(
                    actor=user,
                    layer=layer,
                    data=upload.read(),
                    filename=upload.name or "upload",
                    crs=request.POST.get("crs") or None,
                )
                messages.success(request, f"已导入 {count} 个社区/镇街边界")
        else:
            messages.error(request, "未知操作")
    except services.LayerFileRejected as exc:
        messages.error(request, "；".join(str(e) for e in exc.errors[:20]))
    except DomainError as exc:
        detail = "；".join(f"{k}: {'，'.join(v)}" for k, v in exc.fields.items())
        messages.error(request, f"{exc.message}{('（' + detail + '）') if detail else ''}")
    except ValueError:
        messages.error(request, "生效日期格式应为 YYYY-MM-DD")
    return redirect(reverse("geo:layer", kwargs={"layer_id": layer_id}))


@login_required
def layer_export(request: HttpRequest, layer_id: int) -> HttpResponse:
    user = _user(request)
    try:
        layer = selectors.layer_get_visible(actor=user, layer_id=layer_id)
        from civicgrid.geo import crs as crs_module

        crs = crs_module.parse_crs(request.GET.get("crs", "wgs84"))
        return exports.layer_export_response(actor=user, layer=layer, fmt=request.GET.get("format", "geojson"), crs=crs)
    except (DomainError, ValueError) as exc:
        message = exc.message if isinstance(exc, DomainError) else str(exc)
        return render(request, "web/error.html", {"message": message}, status=400)
