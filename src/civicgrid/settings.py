"""The one settings module. Every value comes from the environment; `.env.example` documents each.

Nothing exists only in production: the production profile is the same module with DEBUG off, which
turns on the hardening at the bottom of this file.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value is None or value == "" else int(value)


def env_str(name: str, default: str = "") -> str:
    """The variable's value, or the default when it is unset or empty (as in a copied .env.example)."""
    value = os.environ.get(name, "").strip()
    return value or default


def env_float(name: str, default: float) -> float:
    value = env_str(name)
    return float(value) if value else default


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


PROJECT_DIR = Path(env_str("CIVICGRID_HOME", str(Path.cwd())))


def _load_env_file(path: Path) -> None:
    """Read KEY=VALUE lines from a `.env` file without overriding the real environment."""
    if not path.is_file():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _sep, value = line.partition("=")
        os.environ.setdefault(key.strip(), value.strip().strip('"').strip("'"))


_load_env_file(PROJECT_DIR / ".env")

DEBUG = env_bool("DEBUG", False)
_INSECURE_DEV_KEY = "civicgrid-insecure-development-key-do-not-use-in-production"
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG and not env_bool("CIVICGRID_ALLOW_DEV_KEY", False):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (see .env.example).")
    SECRET_KEY = _INSECURE_DEV_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "civicgrid.core",
    "civicgrid.audit",
    "civicgrid.orgunits",
    "civicgrid.accounts",
    "civicgrid.geo",
    "civicgrid.registry",
    "civicgrid.events",
    "civicgrid.web",
    "civicgrid.demo",
    "civicgrid.ops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "civicgrid.core.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "civicgrid.core.middleware.SessionRenewalMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "civicgrid.core.middleware.RequestContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "civicgrid.web.middleware.DomainErrorPageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "civicgrid.urls"
WSGI_APPLICATION = "civicgrid.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "civicgrid.web.context_processors.navigation",
            ],
        },
    },
]

# --- Database: SQLite file by default (WAL mode), PostgreSQL by DATABASE_URL -------------------------
DATA_DIR = Path(env_str("CIVICGRID_DATA_DIR", str(PROJECT_DIR / "var")))
DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'civicgrid.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=20000;"
        ),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env_str("REDIS_URL")}
        if env_str("REDIS_URL")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "civicgrid"}
    )
}

# --- Accounts, login and sessions --------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "civicgrid.core.passwords.MinimumLengthValidator",
        "OPTIONS": {"min_length": env_int("PASSWORD_MIN_LENGTH", 10)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {
        "NAME": "civicgrid.core.passwords.CharacterClassValidator",
        "OPTIONS": {"min_classes": env_int("PASSWORD_MIN_CHARACTER_CLASSES", 3)},
    },
]
# Lock an account after this many consecutive failed logins, for this many minutes.
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 5)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 30)
# Throttle: at most this many failed attempts from one source address per 15 minutes.
LOGIN_MAX_FAILURES_PER_ADDRESS = env_int("LOGIN_MAX_FAILURES_PER_ADDRESS", 20)
SESSION_IDLE_TIMEOUT_MINUTES = env_int("SESSION_IDLE_TIMEOUT_MINUTES", 30)
SESSION_COOKIE_AGE = SESSION_IDLE_TIMEOUT_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = False
# A request renews the idle timer when the last renewal is this old (core.middleware.SessionRenewalMiddleware).
SESSION_RENEW_SECONDS = env_int("SESSION_RENEW_SECONDS", 60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Number of proxies in front of the app whose X-Forwarded-For may be trusted (0 = use REMOTE_ADDR).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

# --- Internationalisation: Simplified Chinese first, English available -------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static files: served locally (whitenoise), front-end libraries from npm's node_modules ----------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(PROJECT_DIR / "var" / "static")))
NODE_MODULES_DIR = Path(env_str("NODE_MODULES_DIR", str(PROJECT_DIR / "node_modules")))
STATICFILES_DIRS = [
    (prefix, NODE_MODULES_DIR / path)
    for prefix, path in (("vendor/htmx", "htmx.org/dist"), ("vendor/leaflet", "leaflet/dist"))
    if (NODE_MODULES_DIR / path).is_dir()
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media")))
MEDIA_URL = "/media/"

# --- API -----------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an unauthenticated call then gets 401 with `WWW-Authenticate: Token`.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "civicgrid.core.api.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "civicgrid.core.api.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"anon": "60/min"},
    # `?format=` names an export's file format (geojson, shapefile, csv), not a DRF renderer.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CivicGrid API",
    "DESCRIPTION": "网格化服务管理信息系统 API. Errors share one shape: {code, message, fields?}.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "OrgUnitKindEnum": "civicgrid.orgunits.models.Kind",
        "DepartmentKindEnum": "civicgrid.orgunits.models.Department.Kind",
        "LandlordKindEnum": "civicgrid.registry.models.Landlord.Kind",
    },
}

# Key of the audit HMAC chain: outside the database, never rotated (defaults to SECRET_KEY).
AUDIT_CHAIN_KEY = env_str("AUDIT_CHAIN_KEY")

# --- Personal information (DOMAIN §8) ----------------------------------------------------------------
# Encryption keys for identity numbers and phones: "k2:<base64>,k1:<base64>" (32-byte keys; the first
# encrypts, all decrypt, so rotation is: prepend a new key, run `civicgrid rotate-pii-keys`, drop the old).
PII_KEYS = env_str("PII_KEYS")
# Key of the keyed blind index used for exact search (separate from the encryption keys).
PII_INDEX_KEY = env_str("PII_INDEX_KEY")

# --- The register (DOMAIN §4) ------------------------------------------------------------------------
# A residence not updated for this many months is listed for verification.
REGISTER_STALE_MONTHS = env_int("REGISTER_STALE_MONTHS", 6)

# --- Grid events (DOMAIN §5) ------------------------------------------------------------------------
# Working hours the collecting side has to verify a department's feedback.
EVENTS_VERIFY_HOURS = env_int("EVENTS_VERIFY_HOURS", 7)
# Days after closing within which a negative evaluation may ask for the case to be reopened.
EVENTS_REOPEN_WINDOW_DAYS = env_int("EVENTS_REOPEN_WINDOW_DAYS", 15)
# Attachments: largest file and largest photo (pixels) accepted.
EVENTS_ATTACHMENT_MAX_BYTES = env_int("EVENTS_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
EVENTS_ATTACHMENT_MAX_PIXELS = env_int("EVENTS_ATTACHMENT_MAX_PIXELS", 50_000_000)
# Duplicate suggestions: open cases of the same category within this distance and age.
EVENTS_DUPLICATE_RADIUS_M = env_int("EVENTS_DUPLICATE_RADIUS_M", 100)
EVENTS_DUPLICATE_DAYS = env_int("EVENTS_DUPLICATE_DAYS", 7)
# Citizen reports accepted per source address per hour (shared across workers only with REDIS_URL).
EVENTS_PUBLIC_REPORTS_PER_HOUR = env_int("EVENTS_PUBLIC_REPORTS_PER_HOUR", 10)
# Open311 GeoReport v2 jurisdiction id.
OPEN311_JURISDICTION = env_str("OPEN311_JURISDICTION", "panyu.gz.gov.cn")

# --- Working-day calendar ----------------------------------------------------------------------------
# Office hours on working days, in which time limits run (Guangzhou government offices).
WORKING_HOURS = [tuple(period.split("-", 1)) for period in env_list("WORKING_HOURS", "08:30-12:00,14:00-17:30")]
# How often (seconds) a process checks whether an administrator loaded a calendar year.
WORKCALENDAR_CACHE_SECONDS = env_int("WORKCALENDAR_CACHE_SECONDS", 5)

# --- Grid layers (DOMAIN §1) ------------------------------------------------------------------------
# Grid code = community code + this many digits (DB11-style layouts: change the layout in geo.codes).
GRID_CODE_SEQUENCE_DIGITS = env_int("GRID_CODE_SEQUENCE_DIGITS", 3)
# A redrawn grid keeps its code when old and new each cover at least this share of the other.
GRID_SURVIVAL_SHARE = env_float("GRID_SURVIVAL_SHARE", 0.8)
# Topology tolerances in square metres (CGCS2000 Gauss-Kruger), and the sliver thresholds.
GRID_OVERLAP_TOLERANCE_M2 = env_float("GRID_OVERLAP_TOLERANCE_M2", 1)
GRID_GAP_TOLERANCE_M2 = env_float("GRID_GAP_TOLERANCE_M2", 1)
GRID_SLIVER_MIN_AREA_M2 = env_float("GRID_SLIVER_MIN_AREA_M2", 200)
# Overlaps, gaps and overhangs no wider than this (metres) are digitising noise along shared edges.
GRID_WIDTH_TOLERANCE_M = env_float("GRID_WIDTH_TOLERANCE_M", 0.1)
# Households per grid above which the map warns (a grid is usually 300–500 households).
GRID_HOUSEHOLDS_WARNING = env_int("GRID_HOUSEHOLDS_WARNING", 500)

# --- Org hierarchy -------------------------------------------------------------------------------------
# Levels are data; this is the chain the district uses (district → town/street → community → grid).
ORG_LEVELS = ["district", "town", "community", "grid"]

# --- Logging -------------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}

# --- Hardening when DEBUG is off ----------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy: everything is served from this origin; no inline script.
CONTENT_SECURITY_POLICY = env_str(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; img-src 'self' data: blob: {tiles}; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
)
MAP_TILE_URL = env_str("MAP_TILE_URL")
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = False
