"""Identity numbers: DOMAIN §3 vectors, every error message, the other document types, agreement with
stated facts, and hypothesis properties of the GB 11643 and GB 32100 check characters."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import translation
from hypothesis import assume, given
from hypothesis import strategies as st

from civicgrid.core.idnumbers import (
    RESIDENT_ID_CHECK_CHARS,
    RESIDENT_ID_WEIGHTS,
    USCC_CHARSET,
    DocumentType,
    IdNumberError,
    ResidentId,
    agreement_problems,
    normalise,
    parse_document,
    parse_resident_id,
    parse_uscc,
    resident_id_check_char,
    to_legacy_15,
    uscc_check_char,
)

TODAY = date(2026, 6, 1)


@pytest.fixture(autouse=True)
def _chinese() -> object:
    with translation.override("zh-hans"):
        yield


def error_of(text: str, **kwargs: object) -> IdNumberError:
    with pytest.raises(IdNumberError) as caught:
        parse_resident_id(text, today=TODAY, **kwargs)  # type: ignore[arg-type]
    return caught.value


# --- Resident ID: DOMAIN §3 vectors ----------------------------------------------------------------------


def test_weights_are_the_published_ones() -> None:
    assert RESIDENT_ID_WEIGHTS == (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@pytest.mark.parametrize(
    ("text", "born", "sex", "region"),
    [
        ("44011320141005001X", date(2014, 10, 5), "M", "440113"),
        ("360426199101010071", date(1991, 1, 1), "M", "360426"),
        ("110102199101010078", date(1991, 1, 1), "M", "110102"),
    ],
)
def test_valid_vectors(text: str, born: date, sex: str, region: str) -> None:
    parsed = parse_resident_id(text, today=TODAY)
    assert parsed == ResidentId(number=text, birth_date=born, sex=sex, region_code=region)  # type: ignore[arg-type]


def test_invalid_check_digit_names_the_expected_one() -> None:
    error = error_of("36042619910102009X")
    assert error.code == "check_digit"
    assert error.field == "id_number"
    assert str(error) == f"校验位错误，应为 {resident_id_check_char('36042619910102009')}"
    assert isinstance(error, ValueError)


def test_month_13_is_an_invalid_birth_date() -> None:
    error = error_of("360426199113010079")
    assert error.code == "birth_date"
    assert "出生日期" in error.message and "13 月" in error.message


def test_female_from_an_even_17th_digit() -> None:
    first17 = "44011319900307002"
    parsed = parse_resident_id(first17 + resident_id_check_char(first17), today=TODAY)
    assert parsed.sex == "F"


# --- Resident ID: normalisation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "44011320141005001x",
        " 440113 20141005 001X ",
        "４４０１１３２０１４１００５００１Ｘ",  # full width
        "４４０１１３ ２０１４１００５ ００１ｘ",
        "440113\u300020141005001X",  # ideographic space
        "440113\t20141005\n001X",
    ],
)
def test_normalisation(text: str) -> None:
    assert parse_resident_id(text, today=TODAY).number == "44011320141005001X"


def test_normalise_helper() -> None:
    assert normalise(" ａｂ１ x ") == "AB1X"


# --- Resident ID: each problem has its own message -------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\u3000"])
def test_empty(text: str) -> None:
    error = error_of(text)
    assert error.code == "required"
    assert error.message == "请填写身份证号码"


@pytest.mark.parametrize("text", ["4401132014100500", "44011320141005001X1", "1"])
def test_wrong_length(text: str) -> None:
    error = error_of(text)
    assert error.code == "length"
    assert error.message == f"身份证号码应为 18 位（或 15 位旧号码），实际为 {len(text)} 位"


@pytest.mark.parametrize(
    ("text", "position", "char"),
    [
        ("4401132014100500XX", 17, "X"),
        ("A4011320141005001X", 1, "A"),
        ("440113-2014100500X", 7, "-"),
        ("44011320141005001Y", 18, "Y"),
        ("٤4011320141005001X", 1, "٤"),  # an Arabic-Indic digit is not a digit here
    ],
)
def test_non_digit_characters(text: str, position: int, char: str) -> None:
    error = error_of(text)
    assert error.code == "characters"
    assert error.message == f"身份证号码第 {position} 位“{char}”不是数字（只有第 18 位可以是 X）"


@pytest.mark.parametrize(
    ("birth", "fragment"),
    [
        ("19911301", "没有 13 月"),
        ("19910001", "没有 00 月"),
        ("19910230", "1991 年 2 月没有 30 日"),
        ("19000229", "1900 年 2 月没有 29 日"),  # 1900 is not a leap year
        ("19910100", "1991 年 1 月没有 00 日"),
        ("18991231", "早于 1900 年"),
        ("00000101", "早于 1900 年"),
        ("20260602", "2026-06-02 晚于今天"),
    ],
)
def test_invalid_birth_dates(birth: str, fragment: str) -> None:
    first17 = "440113" + birth + "001"
    error = error_of(first17 + resident_id_check_char(first17))
    assert error.code == "birth_date"
    assert error.message.startswith("身份证号码中的出生日期")
    assert fragment in error.message


def test_boundary_dates_are_accepted() -> None:
    for born in (date(1900, 1, 1), TODAY, date(2000, 2, 29)):
        first17 = "440113" + born.strftime("%Y%m%d") + "002"
        assert parse_resident_id(first17 + resident_id_check_char(first17), today=TODAY).birth_date == born


def test_today_defaults_to_the_local_date() -> None:
    tomorrow = date.today() + timedelta(days=2)  # noqa: DTZ011 - a day past any time zone's today
    first17 = "440113" + tomorrow.strftime("%Y%m%d") + "001"
    with pytest.raises(IdNumberError, match="晚于今天"):
        parse_resident_id(first17 + resident_id_check_char(first17))


def test_field_name_is_carried() -> None:
    assert error_of("1", field="guardian_id_number").field == "guardian_id_number"


def test_check_digit_error_is_distinct_from_the_others() -> None:
    messages = {
        error_of("36042619910102009X").message,
        error_of("360426199113010079").message,
        error_of("3604261991010200").message,
        error_of("3604261991010200A1").message,
    }
    assert len(messages) == 4


# --- Resident ID: 15-digit legacy numbers ---------------------------------------------------------------


def test_legacy_15_digits_upgraded() -> None:
    parsed = parse_resident_id("360426910101007", today=TODAY)
    assert parsed.number == "360426199101010071"  # the DOMAIN vector
    assert parsed.birth_date == date(1991, 1, 1)
    assert parsed.sex == "M"
    assert to_legacy_15(parsed.number) == "360426910101007"


def test_legacy_15_digit_errors() -> None:
    assert error_of("36042691010100X").code == "characters"
    error = error_of("360426911301007")
    assert error.code == "birth_date"
    assert "19911301" in error.message


def test_to_legacy_15_outside_the_1900s() -> None:
    assert to_legacy_15("44011320141005001X") is None
    assert to_legacy_15("123") is None


def test_check_char_helpers_reject_bad_input() -> None:
    with pytest.raises(ValueError):
        resident_id_check_char("123")
    with pytest.raises(ValueError):
        resident_id_check_char("4401132014100500A")
    with pytest.raises(ValueError):
        uscc_check_char("9111000060003734I")


# --- Resident ID: properties ------------------------------------------------------------------------------

regions = st.text(alphabet="0123456789", min_size=6, max_size=6)
sequences = st.text(alphabet="0123456789", min_size=3, max_size=3)
birth_dates = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)


@given(region=regions, born=birth_dates, sequence=sequences)
def test_any_17_digits_with_a_real_date_and_computed_check_parse(region: str, born: date, sequence: str) -> None:
    first17 = region + born.strftime("%Y%m%d") + sequence
    number = first17 + resident_id_check_char(first17)
    parsed = parse_resident_id(number, today=TODAY)
    assert parsed.number == number
    assert parsed.birth_date == born
    assert parsed.region_code == region
    assert parsed.sex == ("M" if int(sequence[-1]) % 2 else "F")
    assert parse_resident_id(number.lower(), today=TODAY) == parsed


def test_check_matches_the_weighted_sum_definition() -> None:
    first17 = "11010219910101007"
    total = sum(int(d) * (2 ** (17 - i) % 11) for i, d in enumerate(first17))
    assert resident_id_check_char(first17) == RESIDENT_ID_CHECK_CHARS[total % 11] == "8"


@given(
    region=regions,
    born=birth_dates,
    sequence=sequences,
    position=st.integers(min_value=0, max_value=17),
    replacement=st.sampled_from("0123456789X"),
)
def test_changing_one_character_is_rejected(
    region: str, born: date, sequence: str, position: int, replacement: str
) -> None:
    first17 = region + born.strftime("%Y%m%d") + sequence
    number = first17 + resident_id_check_char(first17)
    assume(position == 17 or replacement != "X")
    assume(number[position] != replacement)
    changed = number[:position] + replacement + number[position + 1 :]
    with pytest.raises(IdNumberError) as caught:
        parse_resident_id(changed, today=TODAY)
    assert caught.value.code in {"check_digit", "birth_date"}


@given(region=regions, born=st.dates(min_value=date(1900, 1, 1), max_value=date(1999, 12, 31)), sequence=sequences)
def test_round_trip_15_to_18(region: str, born: date, sequence: str) -> None:
    legacy = region + born.strftime("%y%m%d") + sequence
    parsed = parse_resident_id(legacy, today=TODAY)
    assert len(parsed.number) == 18
    assert parsed.number[:6] == region
    assert parsed.birth_date == born
    assert parsed.number[-1] == resident_id_check_char(parsed.number[:17])
    assert to_legacy_15(parsed.number) == legacy
    assert parse_resident_id(parsed.number, today=TODAY) == parsed


# --- Unified social credit code -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["91110000600037341L", "91440300568520498A"])
def test_uscc_valid(text: str) -> None:
    assert parse_uscc(text) == text
    assert parse_uscc(" " + text.lower()[:9] + " " + text.lower()[9:]) == text


def test_uscc_full_width() -> None:
    assert parse_uscc("９１１１００００６０００３７３４１Ｌ") == "91110000600037341L"


def test_uscc_wrong_check() -> None:
    with pytest.raises(IdNumberError) as caught:
        parse_uscc("91110000600037341N")
    assert caught.value.code == "check_digit"
    assert caught.value.message == "校验位错误，应为 L"
    assert caught.value.field == "uscc"


@pytest.mark.parametrize(
    ("text", "code", "fragment"),
    [
        ("", "required", "请填写统一社会信用代码"),
        ("9111000060003734", "length", "应为 18 位，实际为 16 位"),
        ("9111000060003734IL", "characters", "第 17 位“I”不是允许的字符"),
        ("O1110000600037341L", "characters", "第 1 位“O”"),
        ("91110000-00037341L", "characters", "第 9 位“-”"),
    ],
)
def test_uscc_errors(text: str, code: str, fragment: str) -> None:
    with pytest.raises(IdNumberError) as caught:
        parse_uscc(text)
    assert caught.value.code == code
    assert fragment in caught.value.message


def test_uscc_weights() -> None:
    first17 = "91110000600037341"
    values = [USCC_CHARSET.index(c) for c in first17]
    total = sum(v * (3**i % 31) for i, v in enumerate(values))
    assert USCC_CHARSET[(31 - total % 31) % 31] == uscc_check_char(first17) == "L"


uscc_bodies = st.text(alphabet=USCC_CHARSET, min_size=17, max_size=17)


@given(body=uscc_bodies, position=st.integers(min_value=0, max_value=17), replacement=st.sampled_from(USCC_CHARSET))
def test_uscc_single_character_errors_are_caught(body: str, position: int, replacement: str) -> None:
    code = body + uscc_check_char(body)
    assert parse_uscc(code) == code
    assume(code[position] != replacement)
    with pytest.raises(IdNumberError) as caught:
        parse_uscc(code[:position] + replacement + code[position + 1 :])
    assert caught.value.code == "check_digit"


# --- Other documents --------------------------------------------------------------------------------------------


def residence_permit(prefix: str = "810000", born: str = "19910101", sequence: str = "002") -> str:
    first17 = prefix + born + sequence
    return first17 + resident_id_check_char(first17)


def foreign_permanent_new(born: str = "19850612") -> str:
    first17 = "931840" + born + "005"
    return first17 + resident_id_check_char(first17)


@pytest.mark.parametrize(
    ("doc_type", "text", "expected"),
    [
        (DocumentType.RESIDENT_ID, "44011320141005001x", "44011320141005001X"),
        (DocumentType.RESIDENT_ID, "360426910101007", "360426199101010071"),
        (DocumentType.PASSPORT, "e12345678", "E12345678"),
        (DocumentType.PASSPORT, "G 1234 5678", "G12345678"),
        (DocumentType.PASSPORT, "AB123", "AB123"),
        (DocumentType.PASSPORT, "A" * 17, "A" * 17),
        (DocumentType.HK_MACAU_PERMIT, "H12345678", "H12345678"),
        (DocumentType.HK_MACAU_PERMIT, "m1234567890", "M1234567890"),
        (DocumentType.TAIWAN_PERMIT, "12345678", "12345678"),
        (DocumentType.TAIWAN_PERMIT, "1234567890", "1234567890"),
        (DocumentType.RESIDENCE_PERMIT, residence_permit("810000"), residence_permit("810000")),
        (DocumentType.RESIDENCE_PERMIT, residence_permit("820000"), residence_permit("820000")),
        (DocumentType.RESIDENCE_PERMIT, residence_permit("830000").lower(), residence_permit("830000")),
        (DocumentType.FOREIGN_PERMANENT, "usa441231850012", "USA441231850012"),
        (DocumentType.FOREIGN_PERMANENT, foreign_permanent_new(), foreign_permanent_new()),
        (DocumentType.OTHER, " 军官证 第123号 ", "军官证第123号"),
        (DocumentType.OTHER, "x", "X"),
        ("passport", "E12345678", "E12345678"),
    ],
)
def test_parse_document_valid(doc_type: DocumentType | str, text: str, expected: str) -> None:
    assert parse_document(doc_type, text, today=TODAY) == expected


@pytest.mark.parametrize(
    ("doc_type", "text", "fragment"),
    [
        (DocumentType.PASSPORT, "E123", "护照号码格式不正确：应为 5–17 位字母或数字"),
        (DocumentType.PASSPORT, "E" * 18, "5–17 位"),
        (DocumentType.PASSPORT, "E1234-5678", "5–17 位"),
        (DocumentType.PASSPORT, "护照12345", "5–17 位"),
        (DocumentType.HK_MACAU_PERMIT, "C12345678", "港澳居民来往内地通行证号码格式不正确：应为字母 H 或 M"),
        (DocumentType.HK_MACAU_PERMIT, "H123456789", "H 或 M 加 8 位或 10 位数字"),
        (DocumentType.HK_MACAU_PERMIT, "H1234567", "H 或 M"),
        (DocumentType.HK_MACAU_PERMIT, "H١٢٣٤٥٦٧٨", "H 或 M"),
        (DocumentType.TAIWAN_PERMIT, "1234567", "台湾居民来往大陆通行证号码格式不正确：应为 8 位或 10 位数字"),
        (DocumentType.TAIWAN_PERMIT, "123456789", "8 位或 10 位"),
        (DocumentType.TAIWAN_PERMIT, "T1234567", "8 位或 10 位"),
        (DocumentType.TAIWAN_PERMIT, "١٢٣٤٥٦٧٨", "8 位或 10 位"),
        (
            DocumentType.RESIDENCE_PERMIT,
            "44011320141005001X",
            "应以 810000（香港）、820000（澳门）或 830000（台湾）开头",
        ),
        (DocumentType.RESIDENCE_PERMIT, residence_permit()[:17] + "Y", "港澳台居民居住证号码第 18 位"),
        (DocumentType.RESIDENCE_PERMIT, "81000019910101002", "港澳台居民居住证号码应为 18 位，实际为 17 位"),
        (DocumentType.RESIDENCE_PERMIT, residence_permit(born="19911301"), "没有 13 月"),
        (DocumentType.FOREIGN_PERMANENT, "US4441231850012", "3 位字母加 12 位数字"),
        (DocumentType.FOREIGN_PERMANENT, "1" + foreign_permanent_new()[1:], "应以 9 开头"),
        (DocumentType.FOREIGN_PERMANENT, "USA4412318500", "应为 15 位（旧证）或 18 位（新证），实际为 13 位"),
        (DocumentType.FOREIGN_PERMANENT, foreign_permanent_new(born="20270101"), "晚于今天"),
        (DocumentType.OTHER, "X" * 31, "其他号码格式不正确：应为 1–30 个可打印字符"),
        (DocumentType.OTHER, "AB\x00C", "可打印字符"),
        (DocumentType.PASSPORT, "  ", "请填写护照号码"),
        (DocumentType.OTHER, "", "请填写其他号码"),
    ],
)
def test_parse_document_invalid(doc_type: DocumentType, text: str, fragment: str) -> None:
    with pytest.raises(IdNumberError) as caught:
        parse_document(doc_type, text, today=TODAY)
    assert fragment in caught.value.message
    assert caught.value.field == "document_number"


def test_parse_document_check_digits() -> None:
    wrong_permit = residence_permit()[:17] + ("0" if residence_permit()[17] != "0" else "1")
    with pytest.raises(IdNumberError, match="校验位错误，应为"):
        parse_document(DocumentType.RESIDENCE_PERMIT, wrong_permit, today=TODAY)
    new = foreign_permanent_new()
    wrong_new = new[:17] + ("0" if new[17] != "0" else "1")
    with pytest.raises(IdNumberError, match="校验位错误，应为"):
        parse_document(DocumentType.FOREIGN_PERMANENT, wrong_new, today=TODAY)


def test_parse_document_resident_id_errors_and_field() -> None:
    with pytest.raises(IdNumberError) as caught:
        parse_document(DocumentType.RESIDENT_ID, "36042619910102009X", field="number", today=TODAY)
    assert caught.value.code == "check_digit"
    assert caught.value.field == "number"


def test_parse_document_unknown_type() -> None:
    with pytest.raises(IdNumberError) as caught:
        parse_document("driving_licence", "123456")
    assert caught.value.field == "document_type"
    assert "未知的证件类型" in caught.value.message


def test_document_type_labels() -> None:
    assert [str(label) for _value, label in DocumentType.choices] == [
        "居民身份证",
        "护照",
        "港澳居民来往内地通行证",
        "台湾居民来往大陆通行证",
        "港澳台居民居住证",
        "外国人永久居留身份证",
        "其他",
    ]


# --- Agreement with stated facts ---------------------------------------------------------------------------------


def test_agreement_when_consistent() -> None:
    parsed = parse_resident_id("44011320141005001X", today=TODAY)
    assert agreement_problems(parsed, birth_date=date(2014, 10, 5), sex="M") == []
    assert agreement_problems(parsed, sex="男") == []
    assert agreement_problems(parsed, sex="m") == []
    assert agreement_problems(parsed) == []
    assert agreement_problems(parsed, sex="  ") == []


def test_agreement_problems() -> None:
    problems = agreement_problems("44011320141005001X", birth_date=date(2014, 10, 6), sex="F")
    assert problems == [
        "出生日期 2014-10-06 与身份证号码中的出生日期 2014-10-05 不一致",
        "性别“女”与身份证号码中的性别“男”不一致",
    ]
    assert agreement_problems("44011320141005001X", sex="女") == ["性别“女”与身份证号码中的性别“男”不一致"]


def test_agreement_unknown_sex() -> None:
    assert agreement_problems("44011320141005001X", sex="未知") == ["无法识别的性别“未知”（应为男或女）"]


def test_agreement_parses_strings_and_raises_on_invalid_ids() -> None:
    with pytest.raises(IdNumberError):
        agreement_problems("36042619910102009X", sex="M")
