"""Personal information at rest and on screen (PIPL; DOMAIN §8): field encryption, blind indexes for exact
lookup, and display masks.

**Encryption.** AES-256-GCM with the field name (e.g. "id_number") as associated data, so a ciphertext
copied into another column does not decrypt. A blob is

    version (1 byte, 0x01) | key id length (1 byte) | key id (ASCII) | nonce (12 random bytes) | ciphertext+tag

Keys come from `settings.PII_KEYS`, "k2:<base64>,k1:<base64>" (32-byte keys, standard or URL-safe base64):
the first key encrypts, every listed key decrypts. To rotate, put a new key first, keep the old ones, run
the re-encryption (`needs_reencryption` / `reencrypt`) over the stored blobs, then drop the old key. Keys
never live in the database. Nonces are random: rotate a key before it has encrypted 2^32 values (the GCM
limit for random 96-bit nonces).

**Blind index.** `blind_index(value, kind=...)` is HMAC-SHA-256 under `settings.PII_INDEX_KEY` (a separate
32-byte key, base64) over "kind:normalised value", hex, truncated to 32 characters (128 bits). It supports
exact search without decrypting; `kind` keeps equal values of different kinds ("id_number", "phone")
apart. The index key cannot be rotated in place: a new index key changes every index value, so changing it
means recomputing the index of every row from the decrypted values — `blind_index_with(key, ...)` and
`blind_index_many(..., key=...)` let a re-index command compute old and new side by side.
`normalise` removes whitespace, folds full-width characters (NFKC) and upper-cases; callers should pass
canonical values (e.g. from `idnumbers.parse_document`) so that one person's number always indexes alike.

**Development keys.** When PII_KEYS or PII_INDEX_KEY is empty and DEBUG is on or the environment
variable CIVICGRID_ALLOW_DEV_KEY is true, keys are derived from SECRET_KEY with HKDF-SHA-256 (distinct
`info` strings; encryption key id "dev"). Otherwise the missing key raises `ImproperlyConfigured`. Data
encrypted under a development key cannot be moved to production keys except by decrypting it with the
same SECRET_KEY.

**Masks.** Resident IDs keep the address code and the last 4 characters (440113********001X: the birth
date is hidden); other documents reveal at most 40% (at most 2 characters at each end); mobile numbers
keep 3 + 4 digits (138****8000), landlines the area code and the last 2 digits (020-******01); names keep
the first character (the surname, or the first character of a compound surname) followed by "*" for
two-character names and "**" for longer ones, so the length of a longer name is not revealed.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hmac import HMAC
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

BLOB_VERSION = 1
NONCE_BYTES = 12
KEY_BYTES = 32
INDEX_HEX_CHARS = 32  # 128 bits
DEV_KEY_ID = "dev"
_HKDF_INFO_ENCRYPTION = b"civicgrid pii encryption key v1"
_HKDF_INFO_INDEX = b"civicgrid pii blind index key v1"
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_KIND = re.compile(r"[a-z0-9_]{1,64}")
_NONCE_BLOCK = 65_536  # nonces drawn from os.urandom at once by encrypt_many
_TRUE = {"1", "true", "yes", "on"}

Blob = bytes | bytearray | memoryview  # database drivers return bytes or memoryview for binary columns

_GENERATE = "python -c \"import os,base64;print('k1:'+base64.b64encode(os.urandom(32)).decode())\""
_GENERATE_INDEX = 'python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"'
_MISSING_KEYS = (
    "未配置个人信息加密密钥：生产环境必须在环境变量中设置 PII_KEYS（加密密钥，格式 “k1:<base64>”，可用逗号分隔多个，"
    "第一个用于加密）和 PII_INDEX_KEY（盲索引密钥，<base64>），两者为不同的 32 字节随机密钥。"
    ' / Personal-information keys are not configured: set PII_KEYS (encryption keys, "k1:<base64>", comma-'
    "separated, the first encrypts) and PII_INDEX_KEY (blind-index key, <base64>), two different random 32-byte "
    f"keys, in the environment. Generate PII_KEYS with: {_GENERATE} and PII_INDEX_KEY with: {_GENERATE_INDEX}"
)


class PiiError(ValueError):
    """A blob that cannot be decrypted: malformed, unknown key, tampered, or of another field."""


# --- Keys ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Keyring:
    current_id: str
    keys: dict[str, bytes]
    ciphers: dict[str, AESGCM]
    header: bytes  # version, key id length, key id of the current key: the prefix of every new blob


def _dev_keys_allowed() -> bool:
    return bool(getattr(settings, "DEBUG", False)) or (
        os.environ.get("CIVICGRID_ALLOW_DEV_KEY", "").strip().lower() in _TRUE
    )


@lru_cache(maxsize=8)
def _hkdf(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(secret)


def _derive(info: bytes) -> bytes:
    """A development key derived from SECRET_KEY; `info` separates the encryption and index keys."""
    secret = str(getattr(settings, "SECRET_KEY", "")).encode("utf-8")
    if not secret:
        raise ImproperlyConfigured(_MISSING_KEYS)
    return _hkdf(secret, info)


def decode_key(text: str, *, what: str) -> bytes:
    """A 32-byte key from standard or URL-safe base64 (padding optional)."""
    compact = "".join(text.split()).replace("-", "+").replace("_", "/")
    compact += "=" * (-len(compact) % 4)
    try:
        key = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured(f"{what}：密钥不是有效的 base64 / the key is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise ImproperlyConfigured(
            f"{what}：密钥应为 32 字节，实际为 {len(key)} 字节 / the key must be 32 bytes, not {len(key)}"
        )
    return key


def parse_keys(spec: str | Sequence[str]) -> list[tuple[str, bytes]]:
    """Parse PII_KEYS ("id1:base64,id2:base64", or a list of "id:base64") into (key id, key), in order."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    keys: list[tuple[str, bytes]] = []
    for position, item in enumerate((item.strip() for item in items), start=1):
        if not item:
            continue
        key_id, sep, encoded = item.partition(":")
        key_id = key_id.strip()
        if not sep or not _KEY_ID.fullmatch(key_id):  # the item itself is not echoed: it may be a key
            raise ImproperlyConfigured(
                f"PII_KEYS 第 {position} 项应为 “密钥编号:base64密钥”，编号由字母、数字、_.- 组成 / PII_KEYS item "
                f"{position} must be '<key id>:<base64 key>', the id made of letters, digits, _ . -"
            )
        if any(existing == key_id for existing, _key in keys):
            raise ImproperlyConfigured(f"PII_KEYS 中密钥编号 {key_id} 重复 / duplicate key id {key_id} in PII_KEYS")
        keys.append((key_id, decode_key(encoded, what=f"PII_KEYS[{key_id}]")))
    return keys


@lru_cache(maxsize=8)
def _keyring_for(spec: str | tuple[str, ...], dev_key: bytes | None) -> Keyring:
    pairs = parse_keys(spec) if spec else []
    if not pairs:
        if dev_key is None:
            raise ImproperlyConfigured(_MISSING_KEYS)
        pairs = [(DEV_KEY_ID, dev_key)]
    current_id = pairs[0][0]
    keys = dict(pairs)
    return Keyring(
        current_id=current_id,
        keys=keys,
        ciphers={key_id: AESGCM(key) for key_id, key in keys.items()},
        header=bytes([BLOB_VERSION, len(current_id)]) + current_id.encode("ascii"),
    )


def keyring() -> Keyring:
    """The encryption keys in force (cached per settings value, so settings overrides take effect)."""
    spec = getattr(settings, "PII_KEYS", "") or ""
    if not isinstance(spec, str):
        spec = tuple(spec)
    dev_key = None if spec or not _dev_keys_allowed() else _derive(_HKDF_INFO_ENCRYPTION)
    return _keyring_for(spec, dev_key)


@lru_cache(maxsize=8)
def _index_key_for(text: str) -> bytes:
    return decode_key(text, what="PII_INDEX_KEY")


def index_key() -> bytes:
    """The blind-index key in force."""
    text = str(getattr(settings, "PII_INDEX_KEY", "") or "")
    if text:
        return _index_key_for(text)
    if not _dev_keys_allowed():
        raise ImproperlyConfigured(_MISSING_KEYS)
    return _derive(_HKDF_INFO_INDEX)


def check_configuration() -> None:
    """Raise ImproperlyConfigured now if the keys are missing, malformed, or if the index key is also an
    encryption key (for a deployment check or startup)."""
    if index_key() in keyring().keys.values():
        raise ImproperlyConfigured(
            "PII_INDEX_KEY 不能与 PII_KEYS 中的加密密钥相同 / PII_INDEX_KEY must differ from every key in PII_KEYS"
        )


# --- Encryption ----------------------------------------------------------------------------------------


def _aad(field: str) -> bytes:
    if not field:
        raise ValueError("field (the associated data) must not be empty")
    return field.encode("utf-8")


def encrypt(value: str, *, field: str) -> bytes:
    """Encrypt `value` for column `field` under the current key."""
    ring = keyring()
    nonce = os.urandom(NONCE_BYTES)
    return ring.header + nonce + ring.ciphers[ring.current_id].encrypt(nonce, value.encode("utf-8"), _aad(field))


def encrypt_many(values: Iterable[str], *, field: str) -> list[bytes]:
    """`encrypt` for many values: one key lookup, one cipher object, nonces drawn in blocks."""
    if isinstance(values, str):
        raise TypeError("encrypt_many takes an iterable of strings, not one string")
    ring = keyring()
    seal = ring.ciphers[ring.current_id].encrypt
    header = ring.header
    aad = _aad(field)
    out: list[bytes] = []
    append = out.append
    items = values if isinstance(values, Sequence) else list(values)
    for start in range(0, len(items), _NONCE_BLOCK):
        chunk = items[start : start + _NONCE_BLOCK]
        pool = os.urandom(NONCE_BYTES * len(chunk))
        for offset, value in zip(range(0, len(pool), NONCE_BYTES), chunk, strict=True):
            nonce = pool[offset : offset + NONCE_BYTES]
            append(header + nonce + seal(nonce, value.encode("utf-8"), aad))
    return out


def _split(blob: bytes) -> tuple[str, bytes, bytes]:
    """(key id, nonce, ciphertext+tag) of a blob, or PiiError."""
    if len(blob) < 2 or blob[0] != BLOB_VERSION:
        raise PiiError(_("密文格式无效（版本不受支持或数据为空）"))
    id_end = 2 + blob[1]
    if blob[1] == 0 or len(blob) < id_end + NONCE_BYTES + 16:
        raise PiiError(_("密文格式无效（长度不足）"))
    try:
        key_id = blob[2:id_end].decode("ascii")
    except UnicodeDecodeError:
        raise PiiError(_("密文格式无效（密钥编号不是 ASCII）")) from None
    return key_id, blob[id_end : id_end + NONCE_BYTES], blob[id_end + NONCE_BYTES :]


def key_id_of(blob: Blob) -> str:
    """The id of the key a blob was encrypted with."""
    return _split(bytes(blob))[0]


def decrypt(blob: Blob, *, field: str) -> str:
    """Decrypt a blob of column `field`. Raises PiiError when the blob is malformed, its key is not
    configured, or authentication fails (tampered, another field's value, or a different key)."""
    key_id, nonce, sealed = _split(bytes(blob))
    cipher = keyring().ciphers.get(key_id)
    if cipher is None:
        raise PiiError(_("无法解密：密钥“%(key)s”未在 PII_KEYS 中配置") % {"key": key_id})
    try:
        plain = cipher.decrypt(nonce, sealed, _aad(field))
    except InvalidTag:
        raise PiiError(
            _("无法解密字段“%(field)s”：密文已被篡改、不属于该字段，或密钥“%(key)s”不是加密时的密钥")
            % {"field": field, "key": key_id}
        ) from None
    return plain.decode("utf-8")


def needs_reencryption(blob: Blob) -> bool:
    """True when the blob was encrypted with a key other than the current one (PiiError if malformed)."""
    return key_id_of(blob) != keyring().current_id


def reencrypt(blob: Blob, *, field: str) -> bytes:
    """Decrypt with whichever configured key sealed the blob and encrypt again under the current key."""
    return encrypt(decrypt(blob, field=field), field=field)


# --- Blind index ---------------------------------------------------------------------------------------


def normalise(value: str) -> str:
    """The form that is indexed: NFKC (full-width → ASCII), whitespace removed, upper case."""
    return "".join(unicodedata.normalize("NFKC", value).split()).upper()


def _keyed(key: bytes, kind: str) -> HMAC:
    """HMAC-SHA-256 keyed with `key` that has already absorbed "kind:" (copied per value)."""
    if not _KIND.fullmatch(kind):
        raise ValueError(f"blind index kind must match [a-z0-9_]+, not {kind!r}")
    mac = HMAC(key, hashes.SHA256())
    mac.update(kind.encode("ascii") + b":")
    return mac


def blind_index_with(key: bytes, value: str, *, kind: str) -> str:
    """The blind index of `value` under an explicit key (for re-indexing after the index key changes)."""
    mac = _keyed(key, kind)
    mac.update(normalise(value).encode("utf-8"))
    return mac.finalize()[: INDEX_HEX_CHARS // 2].hex()


def blind_index(value: str, *, kind: str) -> str:
    """Hex HMAC-SHA-256 (first 128 bits) of "kind:normalised value" under PII_INDEX_KEY."""
    return blind_index_with(index_key(), value, kind=kind)


def blind_index_many(values: Iterable[str], *, kind: str, key: bytes | None = None) -> list[str]:
    """`blind_index` for many values (under `key` if given, else PII_INDEX_KEY): the HMAC is keyed and
    fed "kind:" once, then copied per value (cryptography's HMAC copies about 1.7× as fast as the
    standard library's `hmac.HMAC.copy`, and both beat keying a fresh HMAC per value)."""
    if isinstance(values, str):
        raise TypeError("blind_index_many takes an iterable of strings, not one string")
    copy = _keyed(index_key() if key is None else key, kind).copy
    nfkc = unicodedata.normalize
    size = INDEX_HEX_CHARS // 2
    out: list[str] = []
    append = out.append
    for value in values:
        mac = copy()
        mac.update("".join(nfkc("NFKC", value).split()).upper().encode("utf-8"))
        append(mac.finalize()[:size].hex())
    return out


# --- Masks ---------------------------------------------------------------------------------------------

_RESIDENT_18 = re.compile(r"\d{17}[\dX]", re.ASCII)
_RESIDENT_15 = re.compile(r"\d{15}", re.ASCII)
_MOBILE = re.compile(r"(?:\+?86)?(1\d{10})", re.ASCII)


def _mask_general(text: str, *, max_end: int = 2) -> str:
    """Reveal at most 40% of the characters, at most `max_end` at each end, the head first."""
    shown = len(text) * 2 // 5
    head = min(max_end, (shown + 1) // 2)
    tail = min(max_end, shown - head)
    return text[:head] + "*" * (len(text) - head - tail) + (text[len(text) - tail :] if tail else "")


def mask_id_number(value: str) -> str:
    """440113********001X for resident IDs (and other 18-character GB 11643 numbers: residence permits,
    new foreign permanent residence IDs); 440113******001 for 15-digit legacy IDs; other documents keep
    at most 2 characters at each end and never more than 40% (E1******8)."""
    text = normalise(value)
    if _RESIDENT_18.fullmatch(text):
        return text[:6] + "*" * 8 + text[14:]
    if _RESIDENT_15.fullmatch(text):
        return text[:6] + "*" * 6 + text[12:]
    return _mask_general(text)


def mask_phone(value: str) -> str:
    """138****8000 for mobile numbers (a +86 prefix is kept); 020-******01 for landlines (area code and
    the last 2 digits; 3-digit area codes are 010 and 02x, the others have 4 digits); anything else keeps
    at most 2 trailing digits and 40%."""
    text = normalise(value)
    compact = re.sub(r"[\s\-()（）]", "", text)
    mobile = _MOBILE.fullmatch(compact)
    if mobile:
        number = mobile.group(1)
        prefix = "+86 " if compact.startswith(("+86", "86")) else ""
        return f"{prefix}{number[:3]}****{number[7:]}"
    if compact.isascii() and compact.isdigit() and compact.startswith("0") and len(compact) >= 9:
        area = 3 if compact[1] in "12" else 4
        local = compact[area:]
        return f"{compact[:area]}-{'*' * (len(local) - 2)}{local[-2:]}"
    if not compact:
        return ""
    shown = min(2, len(compact) * 2 // 5)
    return "*" * (len(compact) - shown) + (compact[len(compact) - shown :] if shown else "")


def mask_name(value: str) -> str:
    """张三丰 → 张**, 张三 → 张*, a one-character name → *. Longer names also get exactly two stars."""
    text = value.strip()
    if len(text) <= 1:
        return "*" * len(text)
    return text[0] + ("*" if len(text) == 2 else "**")
