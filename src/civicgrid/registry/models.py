"""The real population and housing register (实有人口、房屋).

Buildings carry a point and are stamped with the grid they fall in; houses sit in buildings; persons live
in houses through residence records whose life (register → update → cancel) is an append-only action
journal with the current state projected onto the record in the same transaction. Identity numbers and
phones are stored encrypted with a keyed blind index for exact search, and a masked copy for display.

Every row that a user may see carries `org_path`, the materialised path of its community, so that scoping
to a user's area is one indexed prefix filter without joins, even on millions of rows."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from civicgrid.core.idnumbers import DocumentType
from civicgrid.orgunits.models import OrgUnit


class Building(models.Model):
    community = models.ForeignKey(OrgUnit, verbose_name=_("社区/村"), on_delete=models.PROTECT, related_name="+")
    road = models.CharField(_("路/街/巷"), max_length=100)
    door_number = models.CharField(_("门牌号"), max_length=30)
    name = models.CharField(_("楼栋"), max_length=60, blank=True)
    address_key = models.CharField(max_length=40)
    lon = models.FloatField(_("经度"), null=True, blank=True)
    lat = models.FloatField(_("纬度"), null=True, blank=True)
    grid = models.ForeignKey(
        OrgUnit, verbose_name=_("所在网格"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    stamped_layer = models.ForeignKey(
        "geo.LayerVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    org_path = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("建筑物")
        verbose_name_plural = _("建筑物")
        indexes = [models.Index(fields=["org_path"], name="building_path_idx", opclasses=["varchar_pattern_ops"])]
        # A constraint rather than `unique=True`: the same index, without PostgreSQL's LIKE twin that no
        # query uses (the register's tables are written in bulk, and every index costs each row).
        constraints = [models.UniqueConstraint(fields=["address_key"], name="building_unique_address")]

    def __str__(self) -> str:
        return f"{self.road}{self.door_number}{self.name}"


class BuildingStamp(models.Model):
    """Every grid a building was stamped with, per layer version (the history kept across adjustments)."""

    building = models.ForeignKey(Building, on_delete=models.CASCADE, related_name="stamps")
    layer = models.ForeignKey("geo.LayerVersion", on_delete=models.PROTECT, related_name="+")
    grid = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    stamped_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["building", "layer"], name="building_stamp_once")]

    def __str__(self) -> str:
        return f"{self.building_id}@{self.layer_id}"


class HouseUse(models.TextChoices):
    SELF_OCCUPIED = "self", _("自住")
    RENTED = "rented", _("出租")
    COMMERCIAL = "commercial", _("商用")
    VACANT = "vacant", _("空置")
    MIXED = "mixed", _("混合")
    THREE_IN_ONE = "three_in_one", _("三合一")


class House(models.Model):
    building = models.ForeignKey(Building, verbose_name=_("建筑物"), on_delete=models.PROTECT, related_name="houses")
    room = models.CharField(_("房号"), max_length=30, blank=True)
    address_key = models.CharField(max_length=40)
    use = models.CharField(_("房屋用途"), max_length=16, choices=HouseUse.choices, default=HouseUse.SELF_OCCUPIED)
    rooms = models.PositiveSmallIntegerField(_("房间数"), null=True, blank=True)
    floor_area = models.DecimalField(_("建筑面积（㎡）"), max_digits=8, decimal_places=2, null=True, blank=True)
    org_path = models.CharField(max_length=255)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("房屋")
        verbose_name_plural = _("房屋")
        indexes = [models.Index(fields=["org_path"], name="house_path_idx", opclasses=["varchar_pattern_ops"])]
        constraints = [models.UniqueConstraint(fields=["address_key"], name="house_unique_address")]

    def __str__(self) -> str:
        return f"{self.building}{self.room}"


class Person(models.Model):
    class Sex(models.TextChoices):
        MALE = "M", _("男")
        FEMALE = "F", _("女")

    class PermitStatus(models.TextChoices):
        NONE = "none", _("未办理")
        APPLIED = "applied", _("已申请")
        VALID = "valid", _("有效")
        EXPIRED = "expired", _("已过期")

    id_type = models.CharField(_("证件类型"), max_length=20, choices=DocumentType.choices)
    id_number_enc = models.BinaryField(_("证件号码（加密）"))
    id_blind = models.CharField(max_length=32)
    id_masked = models.CharField(_("证件号码"), max_length=40)
    name = models.CharField(_("姓名"), max_length=60)
    sex = models.CharField(_("性别"), max_length=1, choices=Sex.choices, blank=True)
    birth_date = models.DateField(_("出生日期"), null=True, blank=True)
    phone_enc = models.BinaryField(_("联系电话（加密）"), null=True, blank=True)
    phone_blind = models.CharField(max_length=32, blank=True)
    phone_masked = models.CharField(_("联系电话"), max_length=20, blank=True)
    hukou_place = models.CharField(_("户籍地"), max_length=120, blank=True)
    hukou_region = models.CharField(_("户籍地区划代码"), max_length=6, blank=True)
    is_migrant = models.BooleanField(_("来穗人员"), default=False)
    employer = models.CharField(_("工作单位"), max_length=120, blank=True)
    permit_status = models.CharField(
        _("居住证"), max_length=10, choices=PermitStatus.choices, default=PermitStatus.NONE
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("人员")
        verbose_name_plural = _("人员")
        constraints = [models.UniqueConstraint(fields=["id_type", "id_blind"], name="person_unique_document")]
        indexes = [
            # Name search is by prefix (one index serves = and LIKE 'x%'); phone search is exact, and most
            # rows that have no phone need no entry.
            models.Index(fields=["name"], name="person_name_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["phone_blind"], name="person_phone_idx", condition=~Q(phone_blind="")),
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.id_masked}）"


class Landlord(models.Model):
    """A house owner who lets: a person in the register, or an organisation with a USCC."""

    class Kind(models.TextChoices):
        PERSON = "person", _("个人")
        ORGANISATION = "org", _("单位")

    kind = models.CharField(_("类型"), max_length=8, choices=Kind.choices)
    person = models.OneToOneField(Person, on_delete=models.PROTECT, null=True, blank=True, related_name="landlord")
    org_name = models.CharField(_("单位名称"), max_length=120, blank=True)
    uscc = models.CharField(_("统一社会信用代码"), max_length=18, blank=True)

    class Meta:
        verbose_name = _("房东")
        verbose_name_plural = _("房东")
        constraints = [
            models.UniqueConstraint(fields=["uscc"], condition=~Q(uscc=""), name="landlord_unique_uscc"),
        ]

    def __str__(self) -> str:
        return self.org_name if self.kind == self.Kind.ORGANISATION else str(self.person)


class Rental(models.Model):
    """A letting of a house: landlord, period, number of tenants, and the group-renting (群租) flags.

    `group_reasons` holds every reason in force: the officer-recorded ones (rooms inside rooms, balcony
    rooms, hourly letting) and `under_5m2`, which is never recorded by hand but derived from the house's
    floor area and `tenants` whenever either changes (`registry.rentals.assess_group_renting`). A house has
    at most one active rental; an ended one stays, with the date and reason it ended."""

    class GroupReason(models.TextChoices):
        UNDER_5M2 = "under_5m2", _("人均居住面积不足 5 平方米")
        ROOM_IN_ROOM = "room_in_room", _("房中房、隔断间")
        BALCONY = "balcony", _("阳台、厨房、卫生间住人")
        HOURLY = "hourly", _("按小时、按日出租")

    house = models.ForeignKey(House, on_delete=models.PROTECT, related_name="rentals")
    landlord = models.ForeignKey(Landlord, on_delete=models.PROTECT, related_name="rentals")
    start = models.DateField(_("起租日期"))
    end = models.DateField(_("到期日期"), null=True, blank=True)
    tenants = models.PositiveSmallIntegerField(_("承租人数"), null=True, blank=True)
    active = models.BooleanField(default=True)
    ended_on = models.DateField(_("退租日期"), null=True, blank=True)
    end_reason = models.CharField(_("退租原因"), max_length=200, blank=True)
    group_renting = models.BooleanField(_("群租"), default=False)
    group_reasons = models.JSONField(_("群租情形"), default=list, blank=True)
    org_path = models.CharField(max_length=255, db_index=True)

    class Meta:
        verbose_name = _("出租登记")
        verbose_name_plural = _("出租登记")
        constraints = [
            models.UniqueConstraint(fields=["house"], condition=Q(active=True), name="rental_one_active_per_house")
        ]

    def __str__(self) -> str:
        return f"{self.house} ← {self.landlord}"


class ResidenceRecord(models.Model):
    """A person living at a house. The state is a projection of the action journal below."""

    class State(models.TextChoices):
        ACTIVE = "active", _("在住")
        CANCELLED = "cancelled", _("已注销")

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="residences")
    house = models.ForeignKey(House, on_delete=models.PROTECT, related_name="residences")
    state = models.CharField(_("状态"), max_length=10, choices=State.choices, default=State.ACTIVE)
    registered_on = models.DateField(_("登记日期"))
    updated_on = models.DateField(_("最近更新"))
    cancelled_on = models.DateField(_("注销日期"), null=True, blank=True)
    exception_reason = models.CharField(_("多处居住的例外说明"), max_length=200, blank=True)
    org_path = models.CharField(max_length=255)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name = _("居住登记")
        verbose_name_plural = _("居住登记")
        indexes = [
            models.Index(fields=["org_path"], name="residence_path_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["state", "updated_on"], name="residence_state_updated_idx"),
        ]
        constraints = [
            # A person is active at one house unless an officer recorded an exception for the extra one.
            models.UniqueConstraint(
                fields=["person"], condition=Q(state="active", exception_reason=""), name="residence_one_active"
            ),
            models.UniqueConstraint(
                fields=["person", "house"], condition=Q(state="active"), name="residence_active_once_per_house"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person} @ {self.house}"


class ResidenceAction(models.Model):
    """The append-only journal of a residence record (OpenCRVS-style action journal)."""

    class Kind(models.TextChoices):
        REGISTER = "register", _("登记")
        UPDATE = "update", _("更新")
        CANCEL = "cancel", _("注销")
        EXCEPTION = "exception", _("记录例外")

    record = models.ForeignKey(ResidenceRecord, on_delete=models.PROTECT, related_name="actions")
    kind = models.CharField(_("动作"), max_length=10, choices=Kind.choices)
    at = models.DateTimeField(_("时间"), auto_now_add=True)
    on = models.DateField(_("业务日期"))
    # Who acted is shown with the action, never searched by (the audit journal answers "what did X do").
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+", db_index=False
    )
    data = models.JSONField(_("内容"), default=dict)
    source = models.CharField(_("来源"), max_length=16, default="web")
    txn_id = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("居住登记动作")
        verbose_name_plural = _("居住登记动作")
        # A client's transaction id makes a retried request a no-op; imported actions have none, and so no
        # index entry.
        constraints = [
            models.UniqueConstraint(fields=["txn_id"], condition=Q(txn_id__isnull=False), name="action_unique_txn")
        ]

    def __str__(self) -> str:
        return f"{self.record_id} {self.kind} {self.on}"


class QualityIssue(models.Model):
    """One finding of the data-quality scan, for a clerk to work through. Detection never changes the
    register; a decision is recorded here (and any fix goes through the ordinary services)."""

    class Kind(models.TextChoices):
        DUPLICATE_PERSON = "duplicate_person", _("疑似重复人员")
        DUAL_ACTIVE = "dual_active", _("多处在住")
        OVER_CAPACITY = "over_capacity", _("超员居住")
        STALE = "stale", _("长期未更新")
        ID_MISMATCH = "id_mismatch", _("证件信息不一致")

    class Status(models.TextChoices):
        OPEN = "open", _("待处理")
        CONFIRMED = "confirmed", _("已核实属实")
        DISMISSED = "dismissed", _("已核实无误")
        RESOLVED = "resolved", _("已整改")

    kind = models.CharField(_("类型"), max_length=20, choices=Kind.choices)
    key = models.CharField(max_length=80)
    person = models.ForeignKey(Person, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    house = models.ForeignKey(House, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    detail = models.JSONField(_("详情"), default=dict)
    message = models.CharField(_("说明"), max_length=300)
    org_path = models.CharField(max_length=255, db_index=True)
    # A finding that spans two areas (a person active in two communities, a duplicate whose records live in
    # different places) is in both areas' queues; either side may decide it.
    other_org_path = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(_("状态"), max_length=10, choices=Status.choices, default=Status.OPEN)
    detected_at = models.DateTimeField(_("发现时间"), auto_now_add=True)
    last_seen_at = models.DateTimeField(_("最近一次发现"), auto_now_add=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    decided_at = models.DateTimeField(_("处理时间"), null=True, blank=True)
    decision_note = models.CharField(_("处理说明"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("数据质量问题")
        verbose_name_plural = _("数据质量问题")
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="quality_issue_once")]
        indexes = [
            models.Index(fields=["org_path"], name="quality_path_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["other_org_path"], name="quality_other_path_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["kind", "status"], name="quality_kind_status_idx"),
        ]

    def __str__(self) -> str:
        return self.message

    def text(self) -> str:
        """The message in the reader's language (`message` is stored in Chinese; see `quality.issue_text`)."""
        from civicgrid.registry.quality import issue_text  # quality imports this module

        return issue_text(self)


class SpotCheck(models.Model):
    """A reproducible random sample of houses in an area, stratified by community (抽查)."""

    area = models.ForeignKey(OrgUnit, verbose_name=_("抽查范围"), on_delete=models.PROTECT, related_name="+")
    seed = models.BigIntegerField(_("随机种子"))
    per_community = models.PositiveSmallIntegerField(_("每社区抽取户数"))
    year = models.PositiveSmallIntegerField(_("年度"))
    month = models.PositiveSmallIntegerField(_("月份"))
    title = models.CharField(_("名称"), max_length=100)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-year", "-month", "-id"]
        verbose_name = _("抽查")
        verbose_name_plural = _("抽查")

    def __str__(self) -> str:
        return self.title


class SpotCheckHouse(models.Model):
    spot_check = models.ForeignKey(SpotCheck, on_delete=models.CASCADE, related_name="houses")
    house = models.ForeignKey(House, on_delete=models.PROTECT, related_name="+")
    community = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="+")
    org_path = models.CharField(max_length=255, db_index=True)
    inspector = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    visited_on = models.DateField(_("走访日期"), null=True, blank=True)
    house_found = models.BooleanField(_("房屋存在"), null=True)
    house_registered = models.BooleanField(_("房屋已登记且信息属实"), null=True)
    note = models.CharField(_("备注"), max_length=300, blank=True)

    class Meta:
        ordering = ["community__code", "id"]
        constraints = [models.UniqueConstraint(fields=["spot_check", "house"], name="spotcheck_house_once")]

    def __str__(self) -> str:
        return f"{self.spot_check_id}:{self.house_id}"


class SpotCheckPerson(models.Model):
    """A person the inspector found living in a sampled house, and whether the register had them."""

    item = models.ForeignKey(SpotCheckHouse, on_delete=models.CASCADE, related_name="persons")
    person = models.ForeignKey(Person, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    name = models.CharField(_("姓名"), max_length=60)
    id_masked = models.CharField(_("证件号码"), max_length=40, blank=True)
    is_migrant = models.BooleanField(_("来穗人员"))
    was_registered = models.BooleanField(_("抽查时已登记"))
    registered_on_spot = models.BooleanField(_("现场补登"), default=False)

    def __str__(self) -> str:
        return self.name


from civicgrid.registry.models_imports import ImportJob, ImportProblem  # noqa: E402, F401
