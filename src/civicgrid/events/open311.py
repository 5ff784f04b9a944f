"""Open311 GeoReport v2 (https://wiki.open311.org/GeoReport_v2) at /open311/v2/: plain Django views that
answer in XML or JSON according to the resource's `.xml` / `.json` suffix, with the spec's error format
(`<errors><error><code/><description/></error></errors>`, or `[{"code", "description"}]`) and HTTP status
(400 bad input, 403 missing or wrong api_key, 404 unknown resource).

Resources:

- `GET services.{fmt}`: the active minor categories (小类). `service_code` is the category code,
  `group` the major category (大类), `type` always `realtime`, `metadata` always `false`.
- `GET services/{code}.{fmt}`: the service definition, with an empty attribute list (we ask for nothing
  beyond the standard fields).
- `POST requests.{fmt}` (form-encoded, needs `api_key`): files a case through `events.services.case_report`
  on the `open311` channel. `description` is required (≤ 4000 characters). **Location: `lat` and `long`
  (WGS-84) are required**; an `address_string` alone cannot be located and is refused with 400 (it is kept
  as the case's address when coordinates come with it); `address_id` is not supported. The point must lie
  in the area the api_key is registered for. `first_name`/`last_name` become the reporter's name and
  `phone` the reporter's phone (stored encrypted); **`email`, `device_id`, `account_id` and `media_url`
  are not stored** (personal information we have no duty to keep; media is not fetched from the
  internet). `attribute[...]` is ignored. The answer carries `service_request_id` (the case number) and
  the `token`.
- `GET requests.{fmt}`: filters `service_request_id` (comma list, overrides the rest), `service_code`,
  `start_date`/`end_date` (W3C datetimes on `requested_datetime`, at most 90 days apart; default the last
  90 days), `status` (`open`, `closed`); at most 1000 requests, newest first.
- `GET requests/{id}.{fmt}`, `GET tokens/{token}.{fmt}`.

Requests are shown as the public may see them: never the reporter's name or phone. Internal states map to
`open` (the open states of the closed loop) and `closed` (final states); `status_notes` is the state's
label only (staff notes may name people, so they are never public); `agency_responsible` is the
department; `expected_datetime` is the current step's deadline (the handling deadline once accepted).
Datetimes are W3C (ISO 8601) in the district's time zone (+08:00). `jurisdiction_id` is optional; when
given it must equal `settings.OPEN311_JURISDICTION` ("panyu.gz.gov.cn" by default).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
import math
import re
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.csrf import csrf_exempt

from civicgrid.audit.services import audit_record, audit_refusal
from civicgrid.core import context
from civicgrid.core.errors import Conflict, DomainError, ValidationFailed
from civicgrid.core.middleware import client_address
from civicgrid.events.models import ApiClient, Case, Category, Channel, TimeLimit
from civicgrid.events.services import Report, case_report
from civicgrid.events.workflow import FINAL_STATES, OPEN_STATES, State
from civicgrid.orgunits.models import OrgUnit

DEFAULT_JURISDICTION = "panyu.gz.gov.cn"
MAX_REQUESTS = 1000
MAX_SPAN = dt.timedelta(days=90)
MAX_DESCRIPTION = 4000
KEY_PREFIX_LENGTH = 8
STATUS_NOTE_STATES = frozenset({State.CLOSED, State.REJECTED})

Data = dict[str, Any] | list[Any]


class Open311Error(Exception):
    """One or more errors of the same HTTP status, rendered in the spec's error format."""

    def __init__(self, status: int, *descriptions: str, headers: dict[str, str] | None = None):
        self.status = status
        self.descriptions = list(descriptions) or [_("请求无法完成")]
        self.headers = headers or {}
        super().__init__("; ".join(self.descriptions))


def jurisdiction() -> str:
    return str(getattr(settings, "OPEN311_JURISDICTION", DEFAULT_JURISDICTION))


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def w3_datetime(value: dt.datetime | None) -> str | None:
    """ISO 8601 as the W3C note profiles it, in the district's time zone: 2026-03-02T09:30:00+08:00."""
    if value is None:
        return None
    return timezone.localtime(value, timezone.get_default_timezone()).isoformat(timespec="seconds")


# --- reads -----------------------------------------------------------------------------------------------


def api_client_authenticate(key: str) -> ApiClient:
    """The active client whose key this is; 403 otherwise. The key is looked up by its prefix and its
    SHA-256 compared in constant time."""
    key = key.strip()
    if not key:
        audit_refusal(actor=None, action="events.open311_report", reason="missing_api_key")
        raise Open311Error(403, _("缺少 api_key（api_key was not provided）"))
    client = ApiClient.objects.select_related("jurisdiction").filter(key_prefix=key[:KEY_PREFIX_LENGTH]).first()
    expected = client.key_hash if client is not None else "0" * 64
    matches = hmac.compare_digest(key_hash(key), expected)
    if client is None or not matches or not client.active:
        reason = "inactive_api_key" if client is not None and matches else "invalid_api_key"
        audit_refusal(actor=None, action="events.open311_report", reason=reason)
        raise Open311Error(403, _("api_key 无效或已停用（invalid api_key）"))
    return client


def services_list() -> list[tuple[Category, TimeLimit | None]]:
    """Active minor categories under active major ones, each with the time limit in force now."""
    now = timezone.now()
    categories = (
        Category.objects.filter(parent__isnull=False, active=True, parent__active=True)
        .select_related("parent")
        .prefetch_related("limits")
        .order_by("parent__sort", "parent__code", "sort", "code")
    )
    result = []
    for category in categories:
        limits = sorted((x for x in category.limits.all() if x.valid_from <= now), key=lambda x: x.valid_from)
        result.append((category, limits[-1] if limits else None))
    return result


def service_get(code: str) -> Category:
    category = (
        Category.objects.filter(code=code, parent__isnull=False, active=True, parent__active=True)
        .select_related("parent")
        .first()
    )
    if category is None:
        raise Open311Error(404, _("service_code “%(code)s” 不存在（service_code not found）") % {"code": code})
    return category


@dataclass(frozen=True)
class RequestQuery:
    ids: list[str]
    codes: list[str]
    start: dt.datetime | None
    end: dt.datetime | None
    statuses: set[str]


def _public_cases() -> QuerySet[Case]:
    return Case.objects.select_related("category", "department", "community", "town").order_by("-reported_at", "-pk")


def requests_list(query: RequestQuery) -> list[Case]:
    cases = _public_cases()
    if query.ids:
        cases = cases.filter(number__in=query.ids)
    else:
        if query.codes:
            cases = cases.filter(category__code__in=query.codes)
        if query.start is not None:
            cases = cases.filter(reported_at__gte=query.start)
        if query.end is not None:
            cases = cases.filter(reported_at__lte=query.end)
        if query.statuses == {"open"}:
            cases = cases.filter(state__in=OPEN_STATES)
        elif query.statuses == {"closed"}:
            cases = cases.filter(state__in=FINAL_STATES)
    return list(cases[:MAX_REQUESTS])


def request_get(number: str) -> Case:
    case = _public_cases().filter(number=number).first()
    if case is None:
        raise Open311Error(
            404, _("service_request_id “%(number)s” 不存在（service request not found）") % {"number": number}
        )
    return case


def token_lookup(token: str) -> Case:
    case = Case.objects.filter(token=token).only("number", "token").first()
    if case is None:
        raise Open311Error(404, _("token 不存在（token not found）"))
    return case


def api_client_create(*, actor: Any, name: str, area: OrgUnit) -> tuple[ApiClient, str]:
    """Register an outside system. Returns the client and its key, which is shown once and stored only as
    its SHA-256 (and its first 8 characters, to find it)."""
    name = name.strip()
    if not name:
        raise ValidationFailed(fields={"name": [_("请填写客户端名称")]})
    with transaction.atomic():
        for _attempt in range(5):
            key = secrets.token_urlsafe(32)
            if not ApiClient.objects.filter(key_prefix=key[:KEY_PREFIX_LENGTH]).exists():
                break
        else:  # pragma: no cover - 48 random bits colliding five times
            raise Conflict(_("无法生成唯一的密钥前缀，请重试"))
        client = ApiClient.objects.create(
            name=name[:100], key_prefix=key[:KEY_PREFIX_LENGTH], key_hash=key_hash(key), jurisdiction=area
        )
        audit_record(
            actor=actor,
            action="events.api_client_create",
            target=client,
            detail={"key_prefix": client.key_prefix, "jurisdiction": area.code},
        )
    return client, key


# --- serialisers -----------------------------------------------------------------------------------------

_KEYWORD_SPLIT = re.compile(r"[、，,;；/／（）()\s]+")


def _limit_text(limit: TimeLimit | None) -> str:
    if limit is None:
        return ""
    n = limit.handle_value
    if limit.handle_unit == TimeLimit.Unit.DAYS:
        return ngettext("%(n)s 个工作日", "%(n)s 个工作日", n) % {"n": n}
    return ngettext("%(n)s 个工作小时", "%(n)s 个工作小时", n) % {"n": n}


def service_dict(category: Category, limit: TimeLimit | None) -> dict[str, Any]:
    group = category.parent.name if category.parent else ""
    description = _("%(group)s：%(category)s") % {"group": group, "category": category.name}
    if limit is not None:
        description += _("。处置时限 %(limit)s") % {"limit": _limit_text(limit)}
    keywords = list(dict.fromkeys(w for w in [group, *_KEYWORD_SPLIT.split(category.name)] if w))
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": description,
        "metadata": False,
        "type": "realtime",
        "keywords": ", ".join(keywords),
        "group": group,
    }


def service_definition_dict(category: Category) -> dict[str, Any]:
    return {"service_code": category.code, "attributes": []}


def _status(case: Case) -> str:
    return "closed" if case.state in FINAL_STATES else "open"


def _expected(case: Case) -> dt.datetime | None:
    if case.state not in OPEN_STATES:
        return None
    if case.state == State.ACCEPTED and case.handle_due_at is not None:
        return case.handle_due_at
    return case.due_at


def _updated(case: Case) -> dt.datetime:
    if case.state in FINAL_STATES and case.closed_at is not None:
        return case.closed_at
    return case.updated_at


def _address(case: Case) -> str:
    if case.address:
        return case.address
    return ", ".join(u.name for u in (case.community, case.town) if u is not None)


def request_dict(case: Case) -> dict[str, Any]:
    """A case as the public may see it: no reporter name, phone or token, and no staff notes (they may
    name people): the status note is the state's fixed wording."""
    status_notes = str(State(case.state).label)
    return {
        "service_request_id": case.number,
        "status": _status(case),
        "status_notes": status_notes,
        "service_name": case.category.name,
        "service_code": case.category.code,
        "description": case.description,
        "agency_responsible": case.department.name if case.department else None,
        "service_notice": None,
        "requested_datetime": w3_datetime(case.reported_at),
        "updated_datetime": w3_datetime(_updated(case)),
        "expected_datetime": w3_datetime(_expected(case)),
        "address": _address(case) or None,
        "address_id": None,
        "zipcode": None,
        "lat": case.lat,
        "long": case.lon,
    }


def created_dict(case: Case) -> dict[str, Any]:
    return {
        "service_request_id": case.number,
        "token": case.token,
        "service_notice": _service_notice(case),
        "account_id": None,
    }


def _service_notice(case: Case) -> str:
    limit = case.limit
    file_hours = f"{float(limit.file_hours):g}" if limit is not None else "1"
    text = _("已受理，事件编号 %(number)s。事件中心将在 %(hours)s 个工作小时内审核立案") % {
        "number": case.number,
        "hours": file_hours,
    }
    if limit is not None:
        text += _("，立案后的处置时限为 %(limit)s") % {"limit": _limit_text(limit)}
    return text + _("。为保护个人信息，本接口不保存电子邮箱、设备号和账号；位置只按 lat/long（WGS-84）确定。")


# --- rendering -------------------------------------------------------------------------------------------

_XML_ITEMS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
}
_XML_INVALID = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
CONTENT_TYPES = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}


def _xml_fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _xml_fill(ET.SubElement(element, key), item)
    elif isinstance(value, list):
        tag = _XML_ITEMS[element.tag]
        for item in value:
            _xml_fill(ET.SubElement(element, tag), item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = _XML_INVALID.sub("", str(value))


def to_xml(root: str, data: Data) -> bytes:
    element = ET.Element(root)
    _xml_fill(element, data)
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(element, encoding="unicode")).encode("utf-8")


def render(fmt: str, root: str, data: Data, status: int = 200) -> HttpResponse:
    body = json.dumps(data, ensure_ascii=False).encode("utf-8") if fmt == "json" else to_xml(root, data)
    return HttpResponse(body, status=status, content_type=CONTENT_TYPES.get(fmt, CONTENT_TYPES["xml"]))


def render_errors(fmt: str, error: Open311Error) -> HttpResponse:
    data = [{"code": error.status, "description": d} for d in error.descriptions]
    response = render(fmt, "errors", data, status=error.status)
    for header, value in error.headers.items():
        response[header] = value
    return response


# --- input -----------------------------------------------------------------------------------------------

# Our service's field names → the Open311 parameters a client sent.
_PARAMS = {
    "title": "description",
    "description": "description",
    "category": "service_code",
    "lon": "lat/long",
    "lat": "lat/long",
    "community": "lat/long",
    "address": "address_string",
    "reporter_name": "first_name/last_name",
    "reporter_phone": "phone",
}
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _values(params: Any, name: str) -> list[str]:
    """A parameter declared once with commas, or several times: the non-empty values."""
    return [v.strip() for raw in params.getlist(name) for v in raw.split(",") if v.strip()]


def parse_w3(value: str, name: str) -> dt.datetime:
    """A W3C datetime (2026-01-01T00:00:00Z, …+08:00) or a date (midnight in the district's time zone).
    A '+' of an offset left unencoded in a query string arrives as a space; it is put back."""
    text = value.strip()
    if "T" in text:
        text = text.replace(" ", "+")
    try:
        if _DATE_ONLY.fullmatch(text):
            day = dt.date.fromisoformat(text)
            return timezone.make_aware(dt.datetime.combine(day, dt.time.min), timezone.get_default_timezone())
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise Open311Error(
            400, _("%(name)s 不是 W3C 日期时间格式，例如 2026-01-01T00:00:00+08:00") % {"name": name}
        ) from None
    if timezone.is_naive(parsed):
        raise Open311Error(400, _("%(name)s 需带时区，例如 2026-01-01T00:00:00+08:00 或 …Z") % {"name": name})
    return parsed


def parse_request_query(params: Any) -> RequestQuery:
    ids = _values(params, "service_request_id")
    if len(ids) > MAX_REQUESTS:
        raise Open311Error(
            400,
            ngettext("service_request_id 一次最多 %(n)d 个", "service_request_id 一次最多 %(n)d 个", MAX_REQUESTS)
            % {"n": MAX_REQUESTS},
        )
    statuses = {s.lower() for s in _values(params, "status")}
    if statuses - {"open", "closed"}:
        raise Open311Error(400, _("status 只能是 open 或 closed"))
    start_text, end_text = params.get("start_date", "").strip(), params.get("end_date", "").strip()
    start = parse_w3(start_text, "start_date") if start_text else None
    end = parse_w3(end_text, "end_date") if end_text else None
    if start is None and end is None:
        end = timezone.now()
    if start is None and end is not None:
        start = end - MAX_SPAN
    elif end is None and start is not None:
        end = start + MAX_SPAN
    if start is not None and end is not None:
        if start > end:
            raise Open311Error(400, _("start_date 不能晚于 end_date"))
        if end - start > MAX_SPAN:
            raise Open311Error(
                400,
                ngettext(
                    "start_date 与 end_date 相隔不能超过 %(n)d 天",
                    "start_date 与 end_date 相隔不能超过 %(n)d 天",
                    MAX_SPAN.days,
                )
                % {"n": MAX_SPAN.days},
            )
    return RequestQuery(ids=ids, codes=_values(params, "service_code"), start=start, end=end, statuses=statuses)


def _coordinate(text: str, name: str, bound: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise Open311Error(400, _("%(name)s 不是数字") % {"name": name}) from None
    if not math.isfinite(value) or abs(value) > bound:
        raise Open311Error(400, _("%(name)s 超出范围") % {"name": name})
    return value


def _reporter_name(first: str, last: str) -> str:
    first, last = first.strip(), last.strip()
    if _CJK.search(first + last):
        return f"{last}{first}"  # 姓 then 名, no space
    return " ".join(part for part in (first, last) if part)


def _title(description: str, category: Category) -> str:
    first_line = description.strip().splitlines()[0].strip() if description.strip() else ""
    if not first_line:
        return category.name
    return first_line if len(first_line) <= 40 else first_line[:39] + "…"


def _check_area(client: ApiClient, lon: float, lat: float) -> None:
    """The point must fall in the area the client is registered for (a point outside every grid is left
    to `case_report`, which refuses it)."""
    from civicgrid.geo.selectors import layer_current, stamp_point
    from civicgrid.orgunits.selectors import orgunit_get

    layer = layer_current()
    if layer is None:
        return
    stamp = stamp_point(layer=layer, x=lon, y=lat)
    if stamp.grid is None:
        return
    try:
        grid = orgunit_get(code=stamp.grid)
    except DomainError:
        return
    if not grid.path.startswith(client.jurisdiction.path):
        audit_refusal(
            actor=None,
            action="events.open311_report",
            target=client,
            reason="out_of_scope",
            detail={"grid": grid.code},
        )
        raise Open311Error(
            403,
            _("该 api_key 只能上报%(area)s范围内的事件（location outside the key's area）")
            % {"area": client.jurisdiction.name},
        )


def parse_report(params: Any) -> tuple[Report, float, float]:
    errors: list[str] = []
    code = params.get("service_code", "").strip()
    if not code:
        raise Open311Error(400, _("缺少 service_code（service_code was not provided）"))
    category = service_get(code)
    description = params.get("description", "").strip()
    if not description:
        errors.append(_("缺少 description：请描述事件情况（description is required）"))
    elif len(description) > MAX_DESCRIPTION:
        errors.append(
            ngettext("description 不能超过 %(n)d 个字符", "description 不能超过 %(n)d 个字符", MAX_DESCRIPTION)
            % {"n": MAX_DESCRIPTION}
        )
    lat_text, long_text = params.get("lat", "").strip(), params.get("long", "").strip()
    lat = lon = math.nan
    if lat_text and long_text:
        try:
            lat = _coordinate(lat_text, "lat", 90)
            lon = _coordinate(long_text, "long", 180)
        except Open311Error as exc:
            errors.extend(exc.descriptions)
    elif lat_text or long_text:
        errors.append(_("lat 和 long 需同时提供"))
    elif params.get("address_string", "").strip() or params.get("address_id", "").strip():
        errors.append(
            _("location required：本接口只按 lat/long（WGS-84）定位，仅有 address_string 或 address_id 无法受理")
        )
    else:
        errors.append(_("location required：请提供 lat 和 long（WGS-84）"))
    if errors:
        raise Open311Error(400, *errors)
    report = Report(
        title=_title(description, category),
        description=description,
        category=category,
        channel=Channel.OPEN311,
        lon=lon,
        lat=lat,
        crs="wgs84",
        address=params.get("address_string", "").strip(),
        reporter_name=_reporter_name(params.get("first_name", ""), params.get("last_name", "")),
        reporter_phone=params.get("phone", "").strip(),
    )
    return report, lon, lat


def _domain_error(exc: DomainError) -> Open311Error:
    status = exc.status if exc.status in (403, 404) else 400
    descriptions = [
        _("%(param)s：%(message)s") % {"param": _PARAMS.get(field, field), "message": message}
        for field, messages in exc.fields.items()
        for message in messages
    ]
    return Open311Error(status, *(descriptions or [str(exc.message)]))


# --- views -----------------------------------------------------------------------------------------------

View = Callable[..., HttpResponse]


def endpoint(*methods: str) -> Callable[[View], View]:
    """Method check, the optional jurisdiction_id, and every error in the spec's format."""
    allowed = set(methods) | ({"HEAD"} if "GET" in methods else set())

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, fmt: str, **kwargs: Any) -> HttpResponse:
            try:
                if request.method not in allowed:
                    raise Open311Error(
                        405,
                        _("不支持 %(method)s 方法") % {"method": request.method},
                        headers={"Allow": ", ".join(sorted(allowed))},
                    )
                given = (request.POST.get("jurisdiction_id") if request.method == "POST" else None) or (
                    request.GET.get("jurisdiction_id")
                )
                if given and given.strip() and given.strip() != jurisdiction():
                    raise Open311Error(
                        404,
                        _("jurisdiction_id “%(id)s” 不存在（jurisdiction_id not found）") % {"id": given.strip()},
                    )
                return view(request, fmt, **kwargs)
            except Open311Error as exc:
                return render_errors(fmt, exc)
            except MultiPartParserError:
                return render_errors(
                    fmt, Open311Error(400, _("请求体无法解析：请用 application/x-www-form-urlencoded"))
                )
            except DomainError as exc:
                return render_errors(fmt, _domain_error(exc))

        return wrapper

    return decorate


@endpoint("GET")
def services(request: HttpRequest, fmt: str) -> HttpResponse:
    return render(fmt, "services", [service_dict(c, limit) for c, limit in services_list()])


@endpoint("GET")
def service_definition(request: HttpRequest, fmt: str, code: str) -> HttpResponse:
    return render(fmt, "service_definition", service_definition_dict(service_get(code)))


@csrf_exempt
@endpoint("GET", "POST")
def service_requests(request: HttpRequest, fmt: str) -> HttpResponse:
    if request.method == "POST":
        return _create(request, fmt)
    cases = requests_list(parse_request_query(request.GET))
    return render(fmt, "service_requests", [request_dict(c) for c in cases])


def _create(request: HttpRequest, fmt: str) -> HttpResponse:
    with context.bound(client_address(request), Channel.OPEN311):  # the audit journal records the channel
        client = api_client_authenticate(request.POST.get("api_key", ""))
        report, lon, lat = parse_report(request.POST)
        _check_area(client, lon, lat)
        case = case_report(actor=None, report=report)
    return render(fmt, "service_requests", [created_dict(case)], status=201)


@endpoint("GET")
def service_request(request: HttpRequest, fmt: str, request_id: str) -> HttpResponse:
    case = request_get(request_id)
    return render(fmt, "service_requests", [request_dict(case)])


@endpoint("GET")
def request_token(request: HttpRequest, fmt: str, token: str) -> HttpResponse:
    case = token_lookup(token)
    return render(fmt, "service_requests", [{"service_request_id": case.number, "token": case.token}])


def not_found(request: HttpRequest, rest: str) -> HttpResponse:
    """Anything else under /open311/v2/: 404 in the spec's format (JSON if asked for by suffix)."""
    fmt = "json" if rest.endswith(".json") else "xml"
    return render_errors(
        fmt,
        Open311Error(404, _("没有这个资源；资源名以 .xml 或 .json 结尾，如 services.xml（resource not found）")),
    )
