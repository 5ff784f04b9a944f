"""Identity documents (DOMAIN §3): resident ID numbers (GB 11643-1999), unified social credit codes
(GB 32100-2015) and format checks for the other documents a person may hold.

Pure functions: text in, a normalised number (or `ResidentId`) out, or `IdNumberError` naming the field
and the problem in the user's language (Simplified Chinese by default). Input is normalised before it is
checked: Unicode NFKC (full-width digits and letters become ASCII), every whitespace character removed,
letters upper-cased — so "４４０１１３ ２０１４１００５ ００１ｘ" is read as 44011320141005001X.

What is *not* checked: whether the 6-digit address code of a resident ID exists in the current
administrative division list (old codes stay valid on old cards), and for the unified social credit code
the embedded organisation code's own check character (the standard's check character covers the whole
code). Numbers of the other document types get a format check only.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Literal

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

Sex = Literal["M", "F"]

# GB 11643-1999: weight of position i (0-based, i < 17) is 2^(17 − i) mod 11; check = CHECK_CHARS[Σ mod 11].
RESIDENT_ID_WEIGHTS = tuple(2 ** (17 - i) % 11 for i in range(17))
RESIDENT_ID_CHECK_CHARS = "10X98765432"
EARLIEST_BIRTH_DATE = date(1900, 1, 1)

# GB 32100-2015: 31 characters (no I, O, Z, S, V); weight of position i is 3^i mod 31.
USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = tuple(3**i % 31 for i in range(17))
_USCC_VALUES = {char: value for value, char in enumerate(USCC_CHARSET)}

RESIDENCE_PERMIT_PREFIXES = ("810000", "820000", "830000")  # Hong Kong, Macau, Taiwan
_PASSPORT = re.compile(r"[A-Z0-9]{5,17}", re.ASCII)
_HK_MACAU_PERMIT = re.compile(r"[HM]\d{8}(?:\d{2})?", re.ASCII)
_TAIWAN_PERMIT = re.compile(r"\d{8}(?:\d{2})?", re.ASCII)
_FOREIGN_PERMANENT_OLD = re.compile(r"[A-Z]{3}\d{12}", re.ASCII)
_OTHER_MAX_LENGTH = 30


class DocumentType(models.TextChoices):
    RESIDENT_ID = "resident_id", gettext_lazy("居民身份证")
    PASSPORT = "passport", gettext_lazy("护照")
    HK_MACAU_PERMIT = "hk_macau_permit", gettext_lazy("港澳居民来往内地通行证")
    TAIWAN_PERMIT = "taiwan_permit", gettext_lazy("台湾居民来往大陆通行证")
    RESIDENCE_PERMIT = "residence_permit", gettext_lazy("港澳台居民居住证")
    FOREIGN_PERMANENT = "foreign_permanent", gettext_lazy("外国人永久居留身份证")
    OTHER = "other", gettext_lazy("其他")


class IdNumberError(ValueError):
    """An identity number that cannot be accepted. `field` is the input it came from (for form and API
    errors), `code` a stable machine code, `message` the sentence for the user."""

    def __init__(self, field: str, message: str, *, code: str = "invalid"):
        self.field = field
        self.message = message
        self.code = code
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class ResidentId:
    number: str  # 18 characters, the check character an upper-case X where it is 10
    birth_date: date
    sex: Sex  # from the 17th digit (the last of the sequence): odd = male
    region_code: str  # the 6-digit address code of the place of first registration


def normalise(text: str) -> str:
    """NFKC (full-width → ASCII), every whitespace character removed, upper case."""
    return "".join(unicodedata.normalize("NFKC", text).split()).upper()


def resident_id_check_char(first17: str) -> str:
    """The GB 11643 check character of 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("resident_id_check_char needs exactly 17 ASCII digits")
    total = sum(int(digit) * weight for digit, weight in zip(first17, RESIDENT_ID_WEIGHTS, strict=True))
    return RESIDENT_ID_CHECK_CHARS[total % 11]


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character of the first 17 characters of a unified social credit code."""
    if len(first17) != 17 or any(char not in _USCC_VALUES for char in first17):
        raise ValueError("uscc_check_char needs exactly 17 characters of the code's charset")
    total = sum(_USCC_VALUES[char] * weight for char, weight in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def _first_non_digit(text: str) -> tuple[int, str] | None:
    for position, char in enumerate(text, start=1):
        if not ("0" <= char <= "9"):
            return position, char
    return None


def _birth_date(digits: str, *, label: str, field: str, today: date) -> date:
    """Validate the YYYYMMDD birth date of a GB 11643 number."""
    year, month, day = int(digits[:4]), int(digits[4:6]), int(digits[6:8])
    if not 1 <= month <= 12:
        raise IdNumberError(
            field,
            _("%(label)s中的出生日期 %(digits)s 无效：没有 %(month)s 月")
            % {"label": label, "digits": digits, "month": digits[4:6]},
            code="birth_date",
        )
    if year < EARLIEST_BIRTH_DATE.year:
        raise IdNumberError(
            field,
            _("%(label)s中的出生日期 %(digits)s 早于 1900 年") % {"label": label, "digits": digits},
            code="birth_date",
        )
    try:
        born = date(year, month, day)
    except ValueError:
        raise IdNumberError(
            field,
            _("%(label)s中的出生日期 %(digits)s 无效：%(year)d 年 %(month)d 月没有 %(day)s 日")
            % {"label": label, "digits": digits, "year": year, "month": month, "day": digits[6:8]},
            code="birth_date",
        ) from None
    if born > today:
        raise IdNumberError(
            field,
            _("%(label)s中的出生日期 %(date)s 晚于今天") % {"label": label, "date": born.isoformat()},
            code="birth_date",
        )
    return born


def _check_gb11643(number: str, *, label: str, field: str, today: date) -> ResidentId:
    """Check an 18-character, already normalised GB 11643 number: digits, birth date, check character."""
    if len(number) != 18:
        raise IdNumberError(
            field, _("%(label)s应为 18 位，实际为 %(n)d 位") % {"label": label, "n": len(number)}, code="length"
        )
    bad = _first_non_digit(number[:17])
    if bad is None and not ("0" <= number[17] <= "9" or number[17] == "X"):
        bad = (18, number[17])
    if bad is not None:
        raise IdNumberError(
            field,
            _("%(label)s第 %(position)d 位“%(char)s”不是数字（只有第 18 位可以是 X）")
            % {"label": label, "position": bad[0], "char": bad[1]},
            code="characters",
        )
    born = _birth_date(number[6:14], label=label, field=field, today=today)
    expected = resident_id_check_char(number[:17])
    if number[17] != expected:
        raise IdNumberError(field, _("校验位错误，应为 %(expected)s") % {"expected": expected}, code="check_digit")
    return ResidentId(
        number=number,
        birth_date=born,
        sex="M" if int(number[16]) % 2 else "F",
        region_code=number[:6],
    )


def _today(today: date | None) -> date:
    return today if today is not None else timezone.localdate()


def parse_resident_id(text: str, *, field: str = "id_number", today: date | None = None) -> ResidentId:
    """Parse a resident ID number (18 characters, or a 15-digit legacy number, which is upgraded to 18
    by inserting "19" after the address code and appending the check character).

    Checks, in order: length, characters, birth date (a real calendar date, not before 1900, not after
    `today` — by default today in the project's time zone), check character."""
    label = _("身份证号码")
    number = normalise(text)
    if not number:
        raise IdNumberError(field, _("请填写身份证号码"), code="required")
    if len(number) == 15:
        bad = _first_non_digit(number)
        if bad is not None:
            raise IdNumberError(
                field,
                _("15 位旧身份证号码第 %(position)d 位“%(char)s”不是数字") % {"position": bad[0], "char": bad[1]},
                code="characters",
            )
        first17 = number[:6] + "19" + number[6:]
        number = first17 + resident_id_check_char(first17)  # the birth date is checked below
    elif len(number) != 18:
        raise IdNumberError(
            field,
            _("身份证号码应为 18 位（或 15 位旧号码），实际为 %(n)d 位") % {"n": len(number)},
            code="length",
        )
    return _check_gb11643(number, label=label, field=field, today=_today(today))


def to_legacy_15(number: str) -> str | None:
    """The 15-digit legacy form of an 18-character resident ID born in the 1900s, else None (for
    matching old records)."""
    if len(number) != 18 or number[6:8] != "19":
        return None
    return number[:6] + number[8:17]


def parse_uscc(text: str, *, field: str = "uscc") -> str:
    """Parse a unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters of
    `USCC_CHARSET`, the last a check character. Returns the normalised code."""
    code = normalise(text)
    if not code:
        raise IdNumberError(field, _("请填写统一社会信用代码"), code="required")
    if len(code) != 18:
        raise IdNumberError(field, _("统一社会信用代码应为 18 位，实际为 %(n)d 位") % {"n": len(code)}, code="length")
    for position, char in enumerate(code, start=1):
        if char not in _USCC_VALUES:
            raise IdNumberError(
                field,
                _("统一社会信用代码第 %(position)d 位“%(char)s”不是允许的字符（不使用 I、O、Z、S、V）")
                % {"position": position, "char": char},
                code="characters",
            )
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        raise IdNumberError(field, _("校验位错误，应为 %(expected)s") % {"expected": expected}, code="check_digit")
    return code


def _format_error(field: str, doc_type: DocumentType, rule: str) -> IdNumberError:
    return IdNumberError(
        field,
        _("%(document)s号码格式不正确：%(rule)s") % {"document": doc_type.label, "rule": rule},
        code="format",
    )


def parse_document(
    doc_type: DocumentType | str, text: str, *, field: str = "document_number", today: date | None = None
) -> str:
    """Parse the number of an identity document of `doc_type` and return it normalised.

    - resident ID: `parse_resident_id` (15-digit legacy numbers come back as 18 characters);
    - passport: 5–17 letters and digits;
    - Mainland travel permit for Hong Kong / Macau residents: H or M, then 8 or 10 digits;
    - Mainland travel permit for Taiwan residents: 8 or 10 digits;
    - residence permit for Hong Kong, Macau and Taiwan residents: 18 characters beginning 810000,
      820000 or 830000, with a valid birth date and GB 11643 check character;
    - foreign permanent residence ID: the old 15-character form (3 letters and 12 digits) or the
      18-character form beginning with 9, with a valid birth date and GB 11643 check character;
    - other: 1–30 printable characters.
    """
    try:
        kind = DocumentType(doc_type)
    except ValueError:
        raise IdNumberError("document_type", _("未知的证件类型“%(type)s”") % {"type": doc_type}, code="type") from None
    if kind == DocumentType.RESIDENT_ID:
        return parse_resident_id(text, field=field, today=today).number
    number = normalise(text)
    if not number:
        raise IdNumberError(field, _("请填写%(document)s号码") % {"document": kind.label}, code="required")
    label = _("%(document)s号码") % {"document": kind.label}
    if kind == DocumentType.PASSPORT:
        if not _PASSPORT.fullmatch(number):
            raise _format_error(field, kind, _("应为 5–17 位字母或数字"))
    elif kind == DocumentType.HK_MACAU_PERMIT:
        if not _HK_MACAU_PERMIT.fullmatch(number):
            raise _format_error(field, kind, _("应为字母 H 或 M 加 8 位或 10 位数字"))
    elif kind == DocumentType.TAIWAN_PERMIT:
        if not _TAIWAN_PERMIT.fullmatch(number):
            raise _format_error(field, kind, _("应为 8 位或 10 位数字"))
    elif kind == DocumentType.RESIDENCE_PERMIT:
        if len(number) == 18 and not number.startswith(RESIDENCE_PERMIT_PREFIXES):
            raise _format_error(field, kind, _("应以 810000（香港）、820000（澳门）或 830000（台湾）开头"))
        _check_gb11643(number, label=label, field=field, today=_today(today))
    elif kind == DocumentType.FOREIGN_PERMANENT:
        if len(number) == 15:
            if not _FOREIGN_PERMANENT_OLD.fullmatch(number):
                raise _format_error(field, kind, _("15 位旧证号码应为 3 位字母加 12 位数字"))
        elif len(number) == 18:
            if not number.startswith("9"):
                raise _format_error(field, kind, _("18 位新证号码应以 9 开头"))
            _check_gb11643(number, label=label, field=field, today=_today(today))
        else:
            raise _format_error(
                field, kind, _("应为 15 位（旧证）或 18 位（新证），实际为 %(n)d 位") % {"n": len(number)}
            )
    elif len(number) > _OTHER_MAX_LENGTH or not number.isprintable():
        raise _format_error(field, kind, _("应为 1–30 个可打印字符"))
    return number


_SEX_WORDS: dict[str, Sex] = {"M": "M", "F": "F", "男": "M", "女": "F"}


def agreement_problems(
    resident_id: ResidentId | str, *, birth_date: date | None = None, sex: str | None = None
) -> list[str]:
    """Messages for a stated birth date or sex ("M"/"F", or 男/女) that disagrees with the resident ID.
    An empty list means they agree (or were not stated). A string is parsed first (and may raise
    `IdNumberError`)."""
    parsed = resident_id if isinstance(resident_id, ResidentId) else parse_resident_id(resident_id)
    problems = []
    if birth_date is not None and birth_date != parsed.birth_date:
        problems.append(
            _("出生日期 %(stated)s 与身份证号码中的出生日期 %(id)s 不一致")
            % {"stated": birth_date.isoformat(), "id": parsed.birth_date.isoformat()}
        )
    if sex is not None and sex.strip():
        stated = _SEX_WORDS.get(sex.strip().upper())
        names = {"M": _("男"), "F": _("女")}
        if stated is None:
            problems.append(_("无法识别的性别“%(sex)s”（应为男或女）") % {"sex": sex})
        elif stated != parsed.sex:
            problems.append(
                _("性别“%(stated)s”与身份证号码中的性别“%(id)s”不一致")
                % {"stated": names[stated], "id": names[parsed.sex]}
            )
    return problems
