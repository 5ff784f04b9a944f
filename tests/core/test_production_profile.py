"""The production profile: the one settings module with DEBUG off, and the app under gunicorn with
the shipped `deploy/gunicorn.conf.py`.

Everything runs in subprocesses with an environment built from scratch, so neither the developer's
environment, a `.env` in the working directory, nor the current directory changes the outcome."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GUNICORN_CONF = REPO / "deploy" / "gunicorn.conf.py"
SECRET = "production-profile-test-key-0123456789-abcdefghijklmnopqrstuvwxyz"
HARDENED = """
import json
import django
from django.conf import settings as s
django.setup()
print(json.dumps({
    "DEBUG": s.DEBUG,
    "SECRET_KEY": s.SECRET_KEY,
    "SESSION_COOKIE_SECURE": s.SESSION_COOKIE_SECURE,
    "CSRF_COOKIE_SECURE": s.CSRF_COOKIE_SECURE,
    "SESSION_COOKIE_HTTPONLY": s.SESSION_COOKIE_HTTPONLY,
    "SECURE_HSTS_SECONDS": s.SECURE_HSTS_SECONDS,
    "SECURE_SSL_REDIRECT": s.SECURE_SSL_REDIRECT,
    "SECURE_PROXY_SSL_HEADER": list(s.SECURE_PROXY_SSL_HEADER),
    "SECURE_CONTENT_TYPE_NOSNIFF": s.SECURE_CONTENT_TYPE_NOSNIFF,
    "X_FRAME_OPTIONS": s.X_FRAME_OPTIONS,
    "staticfiles": s.STORAGES["staticfiles"]["BACKEND"],
}))
"""


def base_env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment: only what a process needs to run, plus `extra`. CIVICGRID_HOME points at
    an empty directory so no `.env` file is picked up unless a test writes one there."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(home)),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(REPO / "src"),
        "DJANGO_SETTINGS_MODULE": "civicgrid.settings",
        "CIVICGRID_HOME": str(home),
        # Production refuses to start without the personal-information keys (civicgrid.E001).
        "PII_KEYS": "k1:" + base64.b64encode(b"p" * 32).decode(),
        "PII_INDEX_KEY": base64.b64encode(b"q" * 32).decode(),
    }
    if "TMPDIR" in os.environ:
        env["TMPDIR"] = os.environ["TMPDIR"]
    env.update(extra)
    return env


def run_python(code: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def run_civicgrid(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "civicgrid", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_debug_off_turns_on_the_hardening(tmp_path: Path) -> None:
    done = run_python(HARDENED, base_env(tmp_path, DEBUG="false", SECRET_KEY=SECRET), tmp_path)
    assert done.returncode == 0, done.stderr
    settings = json.loads(done.stdout)
    assert settings["DEBUG"] is False
    assert settings["SECRET_KEY"] == SECRET
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["CSRF_COOKIE_SECURE"] is True
    assert settings["SESSION_COOKIE_HTTPONLY"] is True
    assert settings["SECURE_HSTS_SECONDS"] > 0
    assert settings["SECURE_SSL_REDIRECT"] is True
    assert settings["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert settings["SECURE_CONTENT_TYPE_NOSNIFF"] is True
    assert settings["X_FRAME_OPTIONS"] == "DENY"
    assert settings["staticfiles"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"


def test_deploy_check_finds_nothing_but_the_preload_opt_out(tmp_path: Path) -> None:
    """`check --deploy` passes; its only warning is that the site is not on the HSTS preload list
    (a deliberate choice: preloading cannot be undone quickly)."""
    env = base_env(tmp_path, DEBUG="false", SECRET_KEY=SECRET, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    done = run_civicgrid("check", "--deploy", "--fail-level", "ERROR", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert set(re.findall(r"security\.[WE]\d+", done.stdout + done.stderr)) <= {"security.W021"}


@pytest.mark.parametrize(
    "variables",
    [{"DEBUG": "false"}, {}, {"DEBUG": "false", "SECRET_KEY": ""}],
    ids=["debug-false", "debug-unset", "secret-key-empty"],
)
def test_debug_off_without_secret_key_refuses_to_start(tmp_path: Path, variables: dict[str, str]) -> None:
    env = base_env(tmp_path, **variables)
    assert "CIVICGRID_ALLOW_DEV_KEY" not in env and not env.get("SECRET_KEY")
    done = run_python(HARDENED, env, tmp_path)
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert "SECRET_KEY must be set" in done.stderr


def test_secret_key_from_the_env_file_in_civicgrid_home(tmp_path: Path) -> None:
    """The systemd unit and cron jobs find configuration through CIVICGRID_HOME/.env."""
    (tmp_path / ".env").write_text(f"# production\nDEBUG=false\nSECRET_KEY='{SECRET}'\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = run_python(HARDENED, base_env(tmp_path), elsewhere)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["SECRET_KEY"] == SECRET


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Message, bytes]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - http on loopback
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def wait_for_gunicorn(process: subprocess.Popen[bytes], error_log: Path, deadline: float) -> str:
    """The base URL once gunicorn listens (it binds port 0 and logs the port the kernel chose) and a
    worker answers /healthz."""
    base = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{error_log.read_text(errors='replace')}")
        if not base:
            found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", error_log.read_text(errors="replace"))
            base = found.group(1) if found else ""
        if base:
            status = 0
            with contextlib.suppress(OSError):  # not accepting yet, or reset while a worker boots
                status = http_get(f"{base}/healthz")[0]
            if status == 200:
                return base
        time.sleep(0.2)
    pytest.fail(f"gunicorn did not become ready:\n{error_log.read_text(errors='replace')}")


def test_gunicorn_serves_the_production_profile(tmp_path: Path) -> None:
    static_root = tmp_path / "static"
    env = base_env(
        tmp_path,
        DEBUG="false",
        SECRET_KEY=SECRET,
        SECURE_SSL_REDIRECT="false",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db' / 'civicgrid.sqlite3'}",
        STATIC_ROOT=str(static_root),
        NODE_MODULES_DIR=str(REPO / "node_modules"),
        GUNICORN_BIND="127.0.0.1:0",
        GUNICORN_WORKERS="1",
    )
    for command in (("migrate", "--noinput", "-v0"), ("collectstatic", "--noinput", "-v0")):
        done = run_civicgrid(*command, env=env, cwd=tmp_path)
        assert done.returncode == 0, f"{command}: {done.stderr}"
    paths = json.loads((static_root / "staticfiles.json").read_text(encoding="utf-8"))["paths"]
    app_css = paths["civicgrid/app.css"]
    assert app_css != "civicgrid/app.css"  # hashed name
    assert "vendor/htmx/htmx.min.js" in paths  # front-end libraries came from node_modules

    access_log, error_log = tmp_path / "access.log", tmp_path / "error.log"
    with access_log.open("wb") as stdout, error_log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONF)],
            env=env,
            cwd=tmp_path,
            stdout=stdout,
            stderr=stderr,
        )
    try:
        base = wait_for_gunicorn(process, error_log, time.monotonic() + 60)

        status, headers, body = http_get(f"{base}/healthz", {"X-Forwarded-Proto": "https"})
        assert status == 200
        assert headers["Content-Type"] == "application/json"
        assert json.loads(body) == {"status": "ok", "database": "sqlite"}
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert re.fullmatch(r"[0-9a-f]{16}", headers["X-Request-ID"])

        # Plain HTTP (SECURE_SSL_REDIRECT=false here): served, but HSTS only ever goes out over HTTPS.
        status, headers, _body = http_get(f"{base}/healthz")
        assert status == 200
        assert "Strict-Transport-Security" not in headers

        status, headers, body = http_get(f"{base}/static/{app_css}")
        assert status == 200
        assert headers["Content-Type"].startswith("text/css")
        assert "immutable" in headers["Cache-Control"]
        assert body == (static_root / app_css).read_bytes()

        status, _headers, _body = http_get(f"{base}/static/{paths['vendor/htmx/htmx.min.js']}")
        assert status == 200
        status, _headers, _body = http_get(f"{base}/static/civicgrid/no-such-file.css")
        assert status == 404
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    assert 'GET /healthz HTTP/1.1" 200' in access_log.read_text(errors="replace")


def test_production_refuses_to_start_without_personal_information_keys(tmp_path: Path) -> None:
    env = base_env(tmp_path, DEBUG="false", SECRET_KEY=SECRET, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    del env["PII_KEYS"], env["PII_INDEX_KEY"]
    done = subprocess.run(
        [sys.executable, "-c", "import civicgrid.wsgi"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0 and "PII_KEYS" in done.stderr
