"""The seed catalogue of grid-event categories: (major code, major name, [(minor code, minor name,
default department kind, handling limit value, unit, self-fixable)]). Codes are data an administrator
may change; this is the starting point a district recognises."""

from __future__ import annotations

CATALOGUE: list[tuple[str, str, list[tuple[str, str, str, int, str, bool]]]] = [
    (
        "01",
        "安全隐患",
        [
            ("0101", "建筑物外墙脱落、悬挂物坠落隐患", "housing", 3, "days", False),
            ("0102", "危险房屋", "housing", 5, "days", False),
            ("0103", "井盖缺失或破损", "urban", 4, "hours", False),
            ("0104", "边坡、围墙塌方隐患", "emergency", 3, "days", False),
        ],
    ),
    (
        "02",
        "消防",
        [
            ("0201", "消防通道堵塞", "fire", 1, "days", True),
            ("0202", "电动自行车违规停放充电", "fire", 1, "days", True),
            ("0203", "消防设施损坏、缺失", "fire", 3, "days", False),
            ("0204", "违规住人（三合一场所）", "fire", 3, "days", False),
        ],
    ),
    (
        "03",
        "燃气",
        [
            ("0301", "瓶装液化气违规存放、使用", "gas", 1, "days", False),
            ("0302", "燃气管道泄漏隐患", "gas", 4, "hours", False),
        ],
    ),
    (
        "04",
        "出租屋",
        [
            ("0401", "出租屋未登记", "police", 5, "days", False),
            ("0402", "群租、隔断出租", "housing", 5, "days", False),
            ("0403", "出租屋安全隐患", "fire", 3, "days", False),
        ],
    ),
    (
        "05",
        "矛盾纠纷",
        [
            ("0501", "邻里纠纷", "justice", 5, "days", False),
            ("0502", "劳资纠纷", "other", 5, "days", False),
            ("0503", "物业纠纷", "housing", 5, "days", False),
        ],
    ),
    (
        "06",
        "市容环境",
        [
            ("0601", "暴露垃圾、积存垃圾", "urban", 1, "days", True),
            ("0602", "乱张贴、乱涂写", "urban", 2, "days", True),
            ("0603", "占道经营", "urban", 1, "days", False),
            ("0604", "乱堆物料", "urban", 2, "days", True),
        ],
    ),
    (
        "07",
        "违法建设",
        [
            ("0701", "在建违法建设", "urban", 2, "days", False),
            ("0702", "天台、楼顶违建", "urban", 5, "days", False),
        ],
    ),
    (
        "08",
        "道路交通",
        [
            ("0801", "道路破损、坑洼", "transport", 5, "days", False),
            ("0802", "交通标志、信号灯损坏", "transport", 2, "days", False),
            ("0803", "机动车乱停放", "police", 1, "days", False),
        ],
    ),
    (
        "09",
        "公共设施",
        [
            ("0901", "路灯不亮", "urban", 2, "days", False),
            ("0902", "公共座椅、护栏损坏", "urban", 5, "days", False),
            ("0903", "供水管道爆裂", "water", 4, "hours", False),
        ],
    ),
    (
        "10",
        "环境保护",
        [
            ("1001", "污水直排", "environment", 3, "days", False),
            ("1002", "噪声扰民", "environment", 2, "days", False),
            ("1003", "焚烧垃圾、露天烧烤油烟", "environment", 1, "days", False),
        ],
    ),
]
