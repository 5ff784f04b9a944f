"""Personal information: AES-GCM field encryption with rotation, the blind index, development keys and
their refusal in production, the display masks, and the batch helpers against the single-value ones."""

from __future__ import annotations

import base64
import hashlib
import hmac
import unicodedata

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.exceptions import ImproperlyConfigured
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st
from pytest_django.fixtures import Settings as SettingsWrapper

from civicgrid.core import pii

K1 = bytes(range(32))
K2 = bytes(range(100, 132))
INDEX_KEY = bytes(range(200, 232))
OTHER_INDEX_KEY = bytes(range(50, 82))


def b64(key: bytes, *, urlsafe: bool = False) -> str:
    return (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(key).decode()


@pytest.fixture(autouse=True)
def _chinese() -> object:
    with translation.override("zh-hans"):
        yield


@pytest.fixture
def keys(settings: SettingsWrapper) -> SettingsWrapper:
    settings.PII_KEYS = f"k1:{b64(K1)}"
    settings.PII_INDEX_KEY = b64(INDEX_KEY)
    return settings


@pytest.fixture
def production(settings: SettingsWrapper, monkeypatch: pytest.MonkeyPatch) -> SettingsWrapper:
    settings.DEBUG = False
    settings.PII_KEYS = ""
    settings.PII_INDEX_KEY = ""
    monkeypatch.delenv("CIVICGRID_ALLOW_DEV_KEY", raising=False)
    return settings


# --- Encryption --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["44011320141005001X", "13800138000", "广州市番禺区市桥街道德兴路 1 号 3 栋 201", "", "😀 ẞ ﬁ", "x" * 5000]
)
def test_round_trip(keys: SettingsWrapper, value: str) -> None:
    blob = pii.encrypt(value, field="address")
    assert isinstance(blob, bytes)
    assert pii.decrypt(blob, field="address") == value


def test_blob_format(keys: SettingsWrapper) -> None:
    value = "张三丰"
    blob = pii.encrypt(value, field="name")
    assert blob[0] == 1
    assert blob[1] == 2
    assert blob[2:4] == b"k1"
    nonce, sealed = blob[4:16], blob[16:]
    assert len(sealed) == len(value.encode()) + 16
    # Anyone holding the key can decrypt by the documented format: field name as associated data.
    assert AESGCM(K1).decrypt(nonce, sealed, b"name").decode() == value


def test_same_value_encrypts_differently(keys: SettingsWrapper) -> None:
    first, second = pii.encrypt("13800138000", field="phone"), pii.encrypt("13800138000", field="phone")
    assert first != second
    assert first[4:16] != second[4:16]


def test_wrong_field_fails_with_a_clear_error(keys: SettingsWrapper) -> None:
    blob = pii.encrypt("44011320141005001X", field="id_number")
    with pytest.raises(pii.PiiError) as caught:
        pii.decrypt(blob, field="phone")
    assert "无法解密字段“phone”" in str(caught.value)
    assert "不属于该字段" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_tampered_blob_fails(keys: SettingsWrapper) -> None:
    blob = bytearray(pii.encrypt("44011320141005001X", field="id_number"))
    for position in (4, 15, 16, len(blob) - 1):  # nonce, ciphertext, tag
        tampered = bytearray(blob)
        tampered[position] ^= 0x01
        with pytest.raises(pii.PiiError, match="密文已被篡改"):
            pii.decrypt(bytes(tampered), field="id_number")


def test_truncated_and_malformed_blobs(keys: SettingsWrapper) -> None:
    blob = pii.encrypt("13800138000", field="phone")
    with pytest.raises(pii.PiiError, match="密文已被篡改"):
        pii.decrypt(blob[:-1], field="phone")
    for malformed, message in [
        (b"", "版本不受支持或数据为空"),
        (b"\x02" + blob[1:], "版本不受支持"),
        (blob[:20], "长度不足"),
        (b"\x01\x00" + blob[2:], "长度不足"),
        (b"\x01\x02\xff\xfe" + blob[4:], "不是 ASCII"),
    ]:
        with pytest.raises(pii.PiiError, match=message):
            pii.decrypt(malformed, field="phone")


def test_memoryview_and_bytearray_blobs(keys: SettingsWrapper) -> None:
    blob = pii.encrypt("13800138000", field="phone")
    assert pii.decrypt(memoryview(blob), field="phone") == "13800138000"
    assert pii.decrypt(bytearray(blob), field="phone") == "13800138000"


def test_unknown_key_id(keys: SettingsWrapper) -> None:
    blob = pii.encrypt("13800138000", field="phone")
    keys.PII_KEYS = f"k2:{b64(K2)}"
    with pytest.raises(pii.PiiError, match="密钥“k1”未在 PII_KEYS 中配置"):
        pii.decrypt(blob, field="phone")


def test_same_key_id_with_another_key_fails(keys: SettingsWrapper) -> None:
    blob = pii.encrypt("13800138000", field="phone")
    keys.PII_KEYS = f"k1:{b64(K2)}"
    with pytest.raises(pii.PiiError, match="密钥“k1”不是加密时的密钥"):
        pii.decrypt(blob, field="phone")


def test_empty_field_is_refused(keys: SettingsWrapper) -> None:
    with pytest.raises(ValueError, match="field"):
        pii.encrypt("x", field="")


# --- Rotation --------------------------------------------------------------------------------------------------


def test_rotation(keys: SettingsWrapper) -> None:
    old = pii.encrypt("44011320141005001X", field="id_number")
    assert not pii.needs_reencryption(old)

    keys.PII_KEYS = f"k2:{b64(K2)}, k1:{b64(K1)}"
    assert pii.decrypt(old, field="id_number") == "44011320141005001X"
    assert pii.needs_reencryption(old)
    assert pii.key_id_of(old) == "k1"

    new = pii.reencrypt(old, field="id_number")
    assert pii.key_id_of(new) == "k2"
    assert not pii.needs_reencryption(new)
    assert pii.decrypt(new, field="id_number") == "44011320141005001X"
    assert pii.key_id_of(pii.encrypt("x", field="id_number")) == "k2"

    # Once every blob is re-encrypted the old key can go.
    keys.PII_KEYS = f"k2:{b64(K2)}"
    assert pii.decrypt(new, field="id_number") == "44011320141005001X"
    with pytest.raises(pii.PiiError):
        pii.decrypt(old, field="id_number")


def test_reencrypt_keeps_the_field_binding(keys: SettingsWrapper) -> None:
    old = pii.encrypt("13800138000", field="phone")
    keys.PII_KEYS = f"k2:{b64(K2)},k1:{b64(K1)}"
    with pytest.raises(pii.PiiError):
        pii.reencrypt(old, field="id_number")


def test_needs_reencryption_of_a_malformed_blob(keys: SettingsWrapper) -> None:
    with pytest.raises(pii.PiiError):
        pii.needs_reencryption(b"\x01")


# --- Key configuration ------------------------------------------------------------------------------------------


def test_urlsafe_and_unpadded_keys(settings: SettingsWrapper) -> None:
    key = bytes([0xFB, 0xFF] * 16)  # encodes with + and / (or - and _)
    assert "+" in b64(key) or "/" in b64(key)
    settings.PII_INDEX_KEY = b64(INDEX_KEY, urlsafe=True).rstrip("=")
    for spec in (f"k1:{b64(key)}", f"k1:{b64(key, urlsafe=True)}", f" k1 : {b64(key, urlsafe=True).rstrip('=')} ,"):
        settings.PII_KEYS = spec
        assert pii.keyring().keys == {"k1": key}
    assert pii.index_key() == INDEX_KEY


def test_keys_as_a_list(settings: SettingsWrapper) -> None:
    settings.PII_KEYS = [f"k2:{b64(K2)}", f"k1:{b64(K1)}"]
    ring = pii.keyring()
    assert ring.current_id == "k2"
    assert ring.keys == {"k2": K2, "k1": K1}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (f"{b64(K1)}", "PII_KEYS"),
        (f"k1:{b64(K1)},k1:{b64(K2)}", "重复"),
        ("k1:not-base64!", "base64"),
        (f"k1:{b64(K1[:16])}", "32 字节"),
        (f"k 1:{b64(K1)}", "PII_KEYS"),
        (f":{b64(K1)}", "PII_KEYS"),
    ],
)
def test_malformed_keys(settings: SettingsWrapper, spec: str, message: str) -> None:
    settings.PII_KEYS = spec
    with pytest.raises(ImproperlyConfigured, match=message):
        pii.encrypt("x", field="phone")


def test_a_malformed_item_is_not_echoed(settings: SettingsWrapper) -> None:
    settings.PII_KEYS = f"k2:{b64(K2)},{b64(K1)}"  # the id of the second key forgotten
    with pytest.raises(ImproperlyConfigured) as caught:
        pii.keyring()
    assert "第 2 项" in str(caught.value)
    assert b64(K1)[:4] not in str(caught.value)


def test_index_key_must_differ_from_the_encryption_keys(keys: SettingsWrapper) -> None:
    pii.check_configuration()
    keys.PII_INDEX_KEY = b64(K1)
    with pytest.raises(ImproperlyConfigured, match="PII_INDEX_KEY"):
        pii.check_configuration()


def test_malformed_index_key(settings: SettingsWrapper) -> None:
    settings.PII_INDEX_KEY = b64(INDEX_KEY[:20])
    with pytest.raises(ImproperlyConfigured, match="PII_INDEX_KEY"):
        pii.blind_index("x", kind="phone")


def test_development_keys_come_from_the_secret_key(settings: SettingsWrapper) -> None:
    settings.PII_KEYS = ""
    settings.PII_INDEX_KEY = ""
    blob = pii.encrypt("13800138000", field="phone")
    assert pii.key_id_of(blob) == "dev"
    index = pii.blind_index("13800138000", kind="phone")
    dev_encryption_key = pii.keyring().keys["dev"]
    assert dev_encryption_key != pii.index_key()  # distinct HKDF info strings
    assert pii.decrypt(blob, field="phone") == "13800138000"
    assert pii.blind_index("13800138000", kind="phone") == index  # deterministic

    settings.SECRET_KEY = "another-secret-key-for-this-test-0123456789"
    assert pii.keyring().keys["dev"] != dev_encryption_key
    assert pii.blind_index("13800138000", kind="phone") != index
    with pytest.raises(pii.PiiError):
        pii.decrypt(blob, field="phone")


def test_development_keys_with_debug_on(production: SettingsWrapper) -> None:
    production.DEBUG = True
    assert pii.key_id_of(pii.encrypt("x", field="phone")) == "dev"
    assert len(pii.blind_index("x", kind="phone")) == 32


@pytest.mark.parametrize("flag", ["0", "false", "no", ""])
def test_missing_keys_in_production(production: SettingsWrapper, monkeypatch: pytest.MonkeyPatch, flag: str) -> None:
    monkeypatch.setenv("CIVICGRID_ALLOW_DEV_KEY", flag)
    for call in (
        lambda: pii.encrypt("13800138000", field="phone"),
        lambda: pii.decrypt(b"\x01\x02k1" + bytes(40), field="phone"),
        lambda: pii.encrypt_many(["13800138000"], field="phone"),
        lambda: pii.blind_index("13800138000", kind="phone"),
        lambda: pii.blind_index_many(["13800138000"], kind="phone"),
        pii.check_configuration,
    ):
        with pytest.raises(ImproperlyConfigured) as caught:
            call()
        message = str(caught.value)
        assert "PII_KEYS" in message and "PII_INDEX_KEY" in message
        assert "未配置个人信息加密密钥" in message and "not configured" in message
        assert "base64.b64encode(os.urandom(32))" in message


def test_missing_index_key_alone_in_production(production: SettingsWrapper) -> None:
    production.PII_KEYS = f"k1:{b64(K1)}"
    assert pii.decrypt(pii.encrypt("x", field="phone"), field="phone") == "x"
    with pytest.raises(ImproperlyConfigured, match="PII_INDEX_KEY"):
        pii.blind_index("x", kind="phone")
    production.PII_INDEX_KEY = b64(INDEX_KEY)
    pii.check_configuration()


def test_missing_secret_key_gives_no_development_key(settings: SettingsWrapper) -> None:
    settings.PII_KEYS = ""
    settings.SECRET_KEY = ""
    with pytest.raises(ImproperlyConfigured):
        pii.encrypt("x", field="phone")


# --- Blind index -----------------------------------------------------------------------------------------------------


def reference_index(key: bytes, kind: str, value: str) -> str:
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]


def test_blind_index_definition(keys: SettingsWrapper) -> None:
    index = pii.blind_index("44011320141005001X", kind="id_number")
    assert index == reference_index(INDEX_KEY, "id_number", "44011320141005001X")
    assert len(index) == 32
    assert int(index, 16) >= 0


def test_blind_index_deterministic(keys: SettingsWrapper) -> None:
    assert pii.blind_index("13800138000", kind="phone") == pii.blind_index("13800138000", kind="phone")


def test_blind_index_kind_separated(keys: SettingsWrapper) -> None:
    assert pii.blind_index("13800138000", kind="phone") != pii.blind_index("13800138000", kind="id_number")
    with pytest.raises(ValueError, match="kind"):
        pii.blind_index("x", kind="phone:id")
    with pytest.raises(ValueError, match="kind"):
        pii.blind_index("x", kind="")


def test_blind_index_key_dependent(keys: SettingsWrapper) -> None:
    before = pii.blind_index("13800138000", kind="phone")
    keys.PII_INDEX_KEY = b64(OTHER_INDEX_KEY)
    after = pii.blind_index("13800138000", kind="phone")
    assert before != after
    # A re-index computes both with explicit keys.
    assert pii.blind_index_with(INDEX_KEY, "13800138000", kind="phone") == before
    assert pii.blind_index_with(OTHER_INDEX_KEY, "13800138000", kind="phone") == after
    assert pii.blind_index_many(["13800138000"], kind="phone", key=INDEX_KEY) == [before]


def test_blind_index_independent_of_encryption_keys(keys: SettingsWrapper) -> None:
    before = pii.blind_index("13800138000", kind="phone")
    keys.PII_KEYS = f"k2:{b64(K2)},k1:{b64(K1)}"
    assert pii.blind_index("13800138000", kind="phone") == before


@pytest.mark.parametrize(
    "variant",
    [
        "44011320141005001x",
        " 44011320141005001X ",
        "440113 20141005 001X",
        "４４０１１３２０１４１００５００１ｘ",
        "440113\u300020141005001X",
    ],
)
def test_blind_index_normalisation(keys: SettingsWrapper, variant: str) -> None:
    assert pii.blind_index(variant, kind="id_number") == pii.blind_index("44011320141005001X", kind="id_number")


def test_normalise() -> None:
    assert pii.normalise(" ｅ１２３ ４５６７８\n") == "E12345678"
    assert pii.normalise("张 三") == "张三"


# --- Batch helpers agree with the single-value functions ------------------------------------------------------------


values = st.lists(st.text(max_size=40), max_size=30)


@given(values=values)
def test_blind_index_many_equals_blind_index(values: list[str]) -> None:
    assert pii.blind_index_many(values, kind="phone") == [pii.blind_index(v, kind="phone") for v in values]
    assert pii.blind_index_many(iter(values), kind="phone") == pii.blind_index_many(values, kind="phone")


@given(values=values)
def test_encrypt_many_round_trips(values: list[str]) -> None:
    blobs = pii.encrypt_many(values, field="address")
    assert [pii.decrypt(blob, field="address") for blob in blobs] == values
    assert all(not pii.needs_reencryption(blob) for blob in blobs)


def test_encrypt_many_across_nonce_blocks(keys: SettingsWrapper, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pii, "_NONCE_BLOCK", 7)
    values = [f"1380013{i:04d}" for i in range(30)]
    blobs = pii.encrypt_many((v for v in values), field="phone")
    assert len({blob[4:16] for blob in blobs}) == 30  # every nonce different
    assert [pii.decrypt(blob, field="phone") for blob in blobs] == values


def test_encrypt_many_is_bound_to_the_field(keys: SettingsWrapper) -> None:
    (blob,) = pii.encrypt_many(["13800138000"], field="phone")
    with pytest.raises(pii.PiiError):
        pii.decrypt(blob, field="id_number")


def test_batch_helpers_refuse_a_single_string(keys: SettingsWrapper) -> None:
    with pytest.raises(TypeError):
        pii.encrypt_many("13800138000", field="phone")
    with pytest.raises(TypeError):
        pii.blind_index_many("13800138000", kind="phone")


def test_empty_batches(keys: SettingsWrapper) -> None:
    assert pii.encrypt_many([], field="phone") == []
    assert pii.blind_index_many([], kind="phone") == []


# --- Masks ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("44011320141005001X", "440113********001X"),
        ("44011320141005001x", "440113********001X"),
        ("440113 20141005 001X", "440113********001X"),
        ("360426910101007", "360426******007"),  # 15-digit legacy: the birth date is hidden
        ("E12345678", "E1******8"),  # passport, 9 characters: 3 shown
        ("H1234567890", "H1*******90"),  # 11 characters: 4 shown
        ("12345678", "12*****8"),
        ("AB123", "A***3"),
        ("ABCD", "A***"),
        ("AB", "**"),
        ("A", "*"),
        ("", ""),
        ("USA441231850012", "US***********12"),  # old foreign permanent residence ID
        ("91110000600037341L", "91**************1L"),  # a USCC is not a resident ID
    ],
)
def test_mask_id_number(value: str, masked: str) -> None:
    assert pii.mask_id_number(value) == masked


@given(st.text(alphabet="ABCDEFGH0123456789", max_size=40))
def test_mask_id_number_reveals_at_most_40_percent_of_other_documents(value: str) -> None:
    masked = pii.mask_id_number(value)
    assert len(masked) == len(value)
    if len(value) not in (15, 18) or not value[:15].isdigit():
        assert sum(c != "*" for c in masked) <= 0.4 * len(value)


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("13800138000", "138****8000"),
        ("138 0013 8000", "138****8000"),
        ("138-0013-8000", "138****8000"),
        ("+86 13800138000", "+86 138****8000"),
        ("8613800138000", "+86 138****8000"),
        ("１３８００１３８０００", "138****8000"),
        ("020-84600001", "020-******01"),
        ("(020)84600001", "020-******01"),
        ("02084600001", "020-******01"),
        ("010-12345678", "010-******78"),
        ("0755-1234567", "0755-*****67"),
        ("075512345678", "0755-******78"),
        ("84600001", "******01"),
        ("12345", "***45"),
        ("110", "**0"),
        ("", ""),
        ("١٣٨٠٠١٣٨٠٠٠", "*********٠٠"),  # Arabic-Indic digits are not taken for a mobile number
    ],
)
def test_mask_phone(value: str, masked: str) -> None:
    assert pii.mask_phone(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("张三丰", "张**"),
        ("张三", "张*"),
        (" 李四 ", "李*"),
        ("欧阳娜娜", "欧**"),  # compound surname: only the first character is kept
        ("阿卜杜热合曼·买买提", "阿**"),
        ("张", "*"),
        ("", ""),
    ],
)
def test_mask_name(value: str, masked: str) -> None:
    assert pii.mask_name(value) == masked


def test_masks_never_show_the_birth_date() -> None:
    number = "44011320141005001X"
    assert "20141005" not in pii.mask_id_number(number)
    assert unicodedata.normalize("NFKC", pii.mask_id_number(number)).count("*") == 8
