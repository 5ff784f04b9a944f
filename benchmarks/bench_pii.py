"""Personal-information benchmark (docs/benchmarks.md): encrypting and blind-indexing 1,000,000 values.

    .venv/bin/python benchmarks/bench_pii.py [--values 1000000] [--repeat 3]

Values are seeded synthetic resident ID numbers (valid check characters) and mobile numbers. Measured with
random production-format keys (PII_KEYS with two keys, PII_INDEX_KEY), not the development fallback:

- `pii.encrypt_many` and `pii.blind_index_many` on the ID numbers, best of `--repeat` runs, against the
  naive baseline in the same run on the same values: per value a fresh `AESGCM` object and
  `os.urandom(12)`, and a fresh standard-library `hmac.new(key, ...)`, both writing the same formats (the
  baseline's blind indexes must equal the batch helper's; samples of both sets of blobs are decrypted with
  `pii.decrypt`, and every nonce of the batch must be distinct);
- for information, the single-value `pii.encrypt` / `pii.blind_index` in a loop (key lookup per call);
- one import of `--values` register rows (a single run): each row's ID number and phone encrypted and
  blind-indexed with the batch helpers.

Targets: ≥300,000 values/s for each batch helper and ≥50,000 rows/s for the import row. Exits 1 if a
target is missed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import platform
import random
import resource
import sys
import time
import unicodedata
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

BATCH_TARGET = 300_000  # values per second
ROW_TARGET = 50_000  # register rows per second
SEED = 20261125
REGIONS = ["440113", "440103", "440106", "360426", "110102", "510104", "430102", "450103"]


def setup_django() -> None:
    os.environ.setdefault("CIVICGRID_ALLOW_DEV_KEY", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civicgrid.settings")
    import django
    from django.conf import settings

    django.setup()

    def key() -> str:
        return base64.b64encode(os.urandom(32)).decode()

    settings.PII_KEYS = f"bench2:{key()},bench1:{key()}"
    settings.PII_INDEX_KEY = key()


def synthetic_values(count: int) -> tuple[list[str], list[str]]:
    """Resident ID numbers (seeded regions, birth dates 1930–2020, sequences; check characters computed
    with numpy, and spot-checked against `parse_resident_id`) and 11-digit mobile numbers."""
    import numpy as np

    from civicgrid.core.idnumbers import RESIDENT_ID_CHECK_CHARS, RESIDENT_ID_WEIGHTS, parse_resident_id

    rng = random.Random(SEED)
    start, days = date(1930, 1, 1), (date(2020, 12, 31) - date(1930, 1, 1)).days
    first17 = [
        f"{rng.choice(REGIONS)}{start + timedelta(days=rng.randrange(days)):%Y%m%d}{rng.randrange(1000):03d}"
        for _ in range(count)
    ]
    digits = np.frombuffer("".join(first17).encode("ascii"), dtype=np.uint8).reshape(count, 17) - ord("0")
    checks = (digits.astype(np.int64) @ np.array(RESIDENT_ID_WEIGHTS, dtype=np.int64)) % 11
    ids = [body + RESIDENT_ID_CHECK_CHARS[check] for body, check in zip(first17, checks.tolist(), strict=True)]
    for number in ids[:: max(1, count // 1000)]:
        assert parse_resident_id(number).number == number
    phones = [f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}" for _ in range(count)]
    return ids, phones


def best_of(repeat: int, run: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def naive_encrypt(values: list[str], *, key_id: str, key: bytes, field: str) -> list[bytes]:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header = bytes([1, len(key_id)]) + key_id.encode("ascii")
    out = []
    for value in values:
        nonce = os.urandom(12)
        out.append(header + nonce + AESGCM(key).encrypt(nonce, value.encode("utf-8"), field.encode("utf-8")))
    return out


def naive_blind_index(values: list[str], *, key: bytes, kind: str) -> list[str]:
    out = []
    for value in values:
        normalised = "".join(unicodedata.normalize("NFKC", value).split()).upper()
        message = f"{kind}:{normalised}".encode()
        out.append(hmac.new(key, message, hashlib.sha256).hexdigest()[:32])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--values", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--single-sample", type=int, default=200_000)
    args = parser.parse_args()

    setup_django()
    import cryptography
    from django.conf import settings

    from civicgrid.core import pii

    ring, index_key = pii.keyring(), pii.index_key()
    n = args.values
    start = time.perf_counter()
    ids, phones = synthetic_values(n)
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}, "
        f"cryptography {cryptography.__version__}, {__import__('ssl').OPENSSL_VERSION}"
    )
    print(f"{n:,} synthetic ID numbers and phones generated in {time.perf_counter() - start:.1f} s")
    print(
        f"keys: PII_KEYS with 2 keys (current {ring.current_id!r}), PII_INDEX_KEY set: {bool(settings.PII_INDEX_KEY)}"
    )
    print()

    failures: list[str] = []
    rows: list[tuple[str, int, float, str]] = []

    def record(label: str, count: int, seconds: float, target: int | None = None) -> float:
        rate = count / seconds
        verdict = "—"
        if target is not None:
            verdict = f"≥{target:,}: " + ("met" if rate >= target else "MISSED")
            if rate < target:
                failures.append(f"{label}: {rate:,.0f}/s below {target:,}/s")
        rows.append((label, count, seconds, verdict))
        return rate

    # Batch helpers.
    pii.encrypt_many(ids[:1000], field="id_number")  # warm up
    enc_time, blobs = best_of(args.repeat, lambda: pii.encrypt_many(ids, field="id_number"))
    enc_rate = record(f"`encrypt_many` (best of {args.repeat})", n, enc_time, BATCH_TARGET)
    idx_time, indexes = best_of(args.repeat, lambda: pii.blind_index_many(ids, kind="id_number"))
    idx_rate = record(f"`blind_index_many` (best of {args.repeat})", n, idx_time, BATCH_TARGET)

    # Naive baselines, same values, same formats.
    start = time.perf_counter()
    naive_blobs = naive_encrypt(ids, key_id=ring.current_id, key=ring.keys[ring.current_id], field="id_number")
    naive_enc_rate = record(
        "naive encrypt: fresh `AESGCM` + `os.urandom(12)` per value", n, time.perf_counter() - start
    )
    start = time.perf_counter()
    naive_indexes = naive_blind_index(ids, key=index_key, kind="id_number")
    naive_idx_rate = record("naive blind index: fresh `hmac.new` per value", n, time.perf_counter() - start)

    # Single-value API, for information.
    sample = ids[: min(args.single_sample, n)]
    start = time.perf_counter()
    for value in sample:
        pii.encrypt(value, field="id_number")
    record("`pii.encrypt` per value (settings lookup per call)", len(sample), time.perf_counter() - start)
    start = time.perf_counter()
    for value in sample:
        pii.blind_index(value, kind="id_number")
    record("`pii.blind_index` per value (settings lookup per call)", len(sample), time.perf_counter() - start)

    # One register import: each row's ID number and phone encrypted and indexed.
    def import_rows() -> None:
        pii.encrypt_many(ids, field="id_number")
        pii.blind_index_many(ids, kind="id_number")
        pii.encrypt_many(phones, field="phone")
        pii.blind_index_many(phones, kind="phone")

    row_time, _ = best_of(1, import_rows)
    row_rate = record("register rows: ID number + phone, each encrypted and indexed", n, row_time, ROW_TARGET)

    # Correctness.
    if indexes != naive_indexes:
        failures.append("blind_index_many differs from the naive HMAC")
    step = max(1, n // 10_000)
    if any(pii.decrypt(blobs[i], field="id_number") != ids[i] for i in range(0, n, step)):
        failures.append("encrypt_many blobs do not decrypt to the values")
    if any(pii.decrypt(naive_blobs[i], field="id_number") != ids[i] for i in range(0, n, step)):
        failures.append("naive blobs do not decrypt (format mismatch)")
    if len({blob[2 + len(ring.current_id) : 14 + len(ring.current_id)] for blob in blobs}) != n:
        failures.append("repeated nonce in encrypt_many")

    print("| path | values | seconds | values/s | target |")
    print("|---|---:|---:|---:|---|")
    for label, count, seconds, verdict in rows:
        print(f"| {label} | {count:,} | {seconds:.3f} | {count / seconds:,.0f} | {verdict} |")
    print()
    speed_up = f"encrypt {enc_rate / naive_enc_rate:.1f}×, index {idx_rate / naive_idx_rate:.1f}×"
    print(f"speed-up over the naive baseline: {speed_up}")
    print(f"register rows/s: {row_rate:,.0f} (4 operations per row)")
    print(f"blob size for an 18-character ID number: {len(blobs[0])} bytes; index: {len(indexes[0])} hex characters")
    print(f"peak RSS of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
