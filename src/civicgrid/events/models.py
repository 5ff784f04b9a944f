"""Grid events (网格事件): the catalogue with versioned time limits, dispatch rules, cases, their
append-only status history and flag history (supervision, escalation, extension), evaluations."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from civicgrid.events.workflow import OPEN_STATES, Action, State
from civicgrid.orgunits.models import Department, OrgUnit


class Category(models.Model):
    """Two levels: a major category (大类) and its minor categories (小类). Cases use minor ones."""

    code = models.CharField(_("代码"), max_length=16, unique=True)
    name = models.CharField(_("名称"), max_length=60)
    parent = models.ForeignKey(
        "self", verbose_name=_("大类"), on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    default_department_kind = models.CharField(_("默认处置部门类别"), max_length=16, blank=True)
    self_fixable = models.BooleanField(_("网格员可自行处置"), default=False)
    active = models.BooleanField(_("启用"), default=True)
    sort = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort", "code"]
        verbose_name = _("事件分类")
        verbose_name_plural = _("事件分类")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class TimeLimit(models.Model):
    """A version of a category's time limits. A case keeps the version it was filed under."""

    class Unit(models.TextChoices):
        HOURS = "hours", _("工作小时")
        DAYS = "days", _("工作日")

    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="limits")
    valid_from = models.DateTimeField(_("生效时间"))
    handle_value = models.PositiveSmallIntegerField(_("处置时限"))
    handle_unit = models.CharField(_("单位"), max_length=5, choices=Unit.choices, default=Unit.DAYS)
    file_hours = models.DecimalField(_("立案时限（工作小时）"), max_digits=5, decimal_places=2, default=1)
    dispatch_hours = models.DecimalField(_("派遣时限（工作小时）"), max_digits=5, decimal_places=2, default=1)
    accept_hours = models.DecimalField(_("签收时限（工作小时）"), max_digits=5, decimal_places=2, default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")

    class Meta:
        ordering = ["category", "-valid_from"]
        verbose_name = _("处置时限")
        verbose_name_plural = _("处置时限")

    def __str__(self) -> str:
        return f"{self.category.code} {self.handle_value}{self.get_handle_unit_display()} @ {self.valid_from:%Y-%m-%d}"


class DispatchRule(models.Model):
    """Ordered rules that pick a department for a case (first match wins)."""

    order = models.PositiveIntegerField(_("顺序"))
    name = models.CharField(_("名称"), max_length=100)
    category = models.ForeignKey(
        Category,
        verbose_name=_("分类（大类或小类）"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    area = models.ForeignKey(
        OrgUnit, verbose_name=_("区域（含下级）"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    weekdays = models.CharField(_("星期（1–7，空为不限）"), max_length=13, blank=True)
    time_from = models.TimeField(_("开始时间"), null=True, blank=True)
    time_to = models.TimeField(_("结束时间"), null=True, blank=True)
    department = models.ForeignKey(Department, verbose_name=_("派往部门"), on_delete=models.PROTECT, related_name="+")
    active = models.BooleanField(_("启用"), default=True)

    class Meta:
        ordering = ["order", "id"]
        verbose_name = _("派遣规则")
        verbose_name_plural = _("派遣规则")

    def __str__(self) -> str:
        return f"{self.order}. {self.name}"


class Channel(models.TextChoices):
    GRID_WORKER = "grid_worker", _("网格员上报")
    CITIZEN = "citizen", _("群众上报")
    PHONE = "phone", _("电话受理")
    OPEN311 = "open311", _("Open311 接口")


class Case(models.Model):
    number = models.CharField(_("案件编号"), max_length=24, unique=True)
    title = models.CharField(_("标题"), max_length=100)
    description = models.TextField(_("描述"))
    category = models.ForeignKey(Category, verbose_name=_("分类"), on_delete=models.PROTECT, related_name="+")
    # Rarely-deleted references, never filtered on: no index of their own (see the note on Meta.indexes).
    limit = models.ForeignKey(
        TimeLimit, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    channel = models.CharField(_("来源渠道"), max_length=12, choices=Channel.choices)
    state = models.CharField(_("状态"), max_length=14, choices=State.choices, default=State.REPORTED)
    # Where: stored in WGS-84, stamped with the grid of the layer in force when reported.
    lon = models.FloatField(_("经度"), null=True, blank=True)
    lat = models.FloatField(_("纬度"), null=True, blank=True)
    address = models.CharField(_("地址"), max_length=200, blank=True)
    grid = models.ForeignKey(
        OrgUnit,
        verbose_name=_("网格"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    community = models.ForeignKey(
        OrgUnit, verbose_name=_("社区"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    town = models.ForeignKey(
        OrgUnit, verbose_name=_("镇街"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    layer = models.ForeignKey(
        "geo.LayerVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    org_path = models.CharField(max_length=255)
    # Who: the collecting side and the handling side, never the same (采办分离).
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("采集人"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    reporter_name = models.CharField(_("反映人"), max_length=60, blank=True)
    reporter_phone_enc = models.BinaryField(null=True, blank=True)
    reporter_phone_masked = models.CharField(_("反映人电话"), max_length=20, blank=True)
    token = models.CharField(max_length=32)
    department = models.ForeignKey(
        Department,
        verbose_name=_("处置部门"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    handler = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("处置人"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    duplicate_of = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="duplicates")
    # When, and the deadlines in force (working time on the Chinese calendar).
    reported_at = models.DateTimeField(_("上报时间"), db_index=True)
    filed_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    handled_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(_("当前环节时限"), null=True, blank=True)
    handle_due_at = models.DateTimeField(_("处置时限"), null=True, blank=True)
    due_provisional = models.BooleanField(_("时限为暂定"), default=False)
    # The current step: when it started and its limit; when it will be three times over (escalation).
    # Kept with the deadline so the periodic sweep is a few indexed queries, not a calendar walk per case.
    step_started_at = models.DateTimeField(null=True, blank=True)
    step_limit_hours = models.FloatField(null=True, blank=True)
    escalate_at = models.DateTimeField(null=True, blank=True)
    extension_hours = models.DecimalField(_("已批准延期（工作小时）"), max_digits=7, decimal_places=2, default=0)
    extension_pending = models.BooleanField(_("延期待审批"), default=False)
    supervised = models.BooleanField(_("督办中"), default=False)
    escalation_level = models.PositiveSmallIntegerField(_("升级层级"), default=0)
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-reported_at"]
        verbose_name = _("事件")
        verbose_name_plural = _("事件")
        # Every index is paid for by each write of a case (the periodic job rewrites every overdue one), so
        # there are only those a list or the sweep uses: `state` and `due_at` are served by the composite,
        # the grid, reporter and department foreign keys by the composites that lead with them, and the
        # supervision and escalation indexes hold only the rows they find.
        indexes = [
            models.Index(fields=["org_path"], name="case_path_idx", opclasses=["varchar_pattern_ops"]),
            # With the path, a state tab's count within an area is read from this index alone.
            models.Index(fields=["state", "due_at", "org_path"], name="case_state_due_path_idx"),
            models.Index(fields=["escalate_at"], name="case_escalate_at_idx", condition=Q(escalate_at__isnull=False)),
            # Open cases by deadline (the overdue tab, most urgent first): the composite above gives each
            # state's rows in order but not all six merged, so without this the tab sorted every overdue case.
            models.Index(
                fields=["due_at"],
                name="case_open_due_idx",
                condition=Q(state__in=sorted(OPEN_STATES)),
                include=["org_path"],
            ),
            # Partial and covering (PostgreSQL reads the tab's count and order from the index alone).
            models.Index(
                fields=["due_at"], name="case_supervised_idx", condition=Q(supervised=True), include=["org_path"]
            ),
            models.Index(
                fields=["org_path"],
                name="case_extension_path_idx",
                opclasses=["varchar_pattern_ops"],
                condition=Q(extension_pending=True, state="accepted"),
                include=["due_at", "id"],
            ),
            models.Index(fields=["department", "state"], name="case_department_state_idx"),
            models.Index(fields=["reporter", "state"], name="case_reporter_state_idx"),
            models.Index(fields=["grid", "state"], name="case_grid_state_idx"),
        ]
        constraints = [models.UniqueConstraint(fields=["token"], name="case_token_unique")]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"


class CaseHistory(models.Model):
    """Append-only status history: one row per transition, with how long the step took against its limit."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="history")
    seq = models.PositiveIntegerField()
    action = models.CharField(_("动作"), max_length=12, choices=Action.choices)
    from_state = models.CharField(max_length=14, choices=State.choices, blank=True)
    to_state = models.CharField(max_length=14, choices=State.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    actor_label = models.CharField(_("经办"), max_length=100, blank=True)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    at = models.DateTimeField(_("时间"))
    note = models.TextField(_("说明"), blank=True)
    data = models.JSONField(default=dict, blank=True)
    step_hours = models.FloatField(_("本环节用时（工作小时）"), null=True, blank=True)
    step_limit_hours = models.FloatField(_("本环节时限（工作小时）"), null=True, blank=True)

    class Meta:
        ordering = ["case", "seq"]
        constraints = [models.UniqueConstraint(fields=["case", "seq"], name="case_history_seq_once")]
        verbose_name = _("办理记录")
        verbose_name_plural = _("办理记录")

    def __str__(self) -> str:
        return f"{self.case_id}#{self.seq} {self.action}"


class CaseFlag(models.Model):
    """Flag history: supervision (督办), escalation (升级), extension requests and decisions (延期),
    reopening requests. Flags never change the state; they are recorded here and summarised on Case."""

    class Kind(models.TextChoices):
        SUPERVISE = "supervise", _("督办")
        ESCALATE = "escalate", _("升级")
        EXTENSION_REQUEST = "ext_request", _("申请延期")
        EXTENSION_APPROVED = "ext_approved", _("批准延期")
        EXTENSION_DENIED = "ext_denied", _("驳回延期")
        REOPEN_REQUEST = "reopen_request", _("申请重新办理")
        REOPEN_DENIED = "reopen_denied", _("驳回重新办理")

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="flags")
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    at = models.DateTimeField(_("时间"))
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    automatic = models.BooleanField(_("系统自动"), default=False)
    level = models.PositiveSmallIntegerField(default=0)
    hours = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    note = models.CharField(_("说明"), max_length=300, blank=True)
    key = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["case", "at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "key"], condition=~models.Q(key=""), name="case_flag_once")
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.kind}"


class Evaluation(models.Model):
    case = models.OneToOneField(Case, on_delete=models.PROTECT, related_name="evaluation")
    rating = models.PositiveSmallIntegerField(_("满意度（1–5）"))
    comment = models.CharField(_("评价"), max_length=300, blank=True)
    by_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    at = models.DateTimeField(_("时间"))
    reopen_requested = models.BooleanField(_("申请重新办理"), default=False)

    def __str__(self) -> str:
        return f"{self.case_id}: {self.rating}"


class Attachment(models.Model):
    """A photo or document of a case, stored through the storage interface (disk by default, an
    S3-compatible store by configuration). The type is sniffed from the content, not the name."""

    class Kind(models.TextChoices):
        PHOTO = "photo", _("照片")
        DOCUMENT = "document", _("文件")

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="attachments")
    history = models.ForeignKey(CaseHistory, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    kind = models.CharField(_("类型"), max_length=10, choices=Kind.choices)
    stage = models.CharField(_("环节"), max_length=12, blank=True)
    name = models.CharField(_("文件名"), max_length=200)
    content_type = models.CharField(max_length=80)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    storage_name = models.CharField(max_length=255)
    public_name = models.CharField(max_length=255, blank=True, help_text="EXIF-stripped copy for public views")
    thumbnail_name = models.CharField(max_length=255, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["case", "uploaded_at", "id"]
        verbose_name = _("附件")
        verbose_name_plural = _("附件")

    def __str__(self) -> str:
        return self.name


class ApiClient(models.Model):
    """An outside system allowed to post requests through Open311 (the key is stored hashed)."""

    name = models.CharField(_("名称"), max_length=100)
    key_prefix = models.CharField(max_length=8, unique=True)
    key_hash = models.CharField(max_length=64)
    jurisdiction = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="+")
    active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("接口客户端")
        verbose_name_plural = _("接口客户端")

    def __str__(self) -> str:
        return self.name
