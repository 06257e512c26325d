"""The one settings module. Everything that differs between machines comes from the
environment (documented in .env.example) through the typed helpers in config.env."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab  # noqa: F401  (handy for operators editing beat)
from csp.constants import NONCE, NONE, SELF

from config.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
# Outside DEBUG a missing SECRET_KEY stops the process instead of falling back to a known key.
SECRET_KEY = env_str("SECRET_KEY", "dev-only-insecure-key-change-me") if DEBUG else env_str("SECRET_KEY")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://localhost:8000")

INSTALLED_APPS = [
    # The admin site lets company admins in, scoped to their company (accounts/admin_site.py).
    "accounts.admin_apps.SalesInboxAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "django_htmx",
    "django_celery_beat",
    "csp",
    "accounts",
    "crm",
    "inbox",
    "sync",
    "api",
    "web",
]

MIDDLEWARE = [
    # First: container health checks are answered whatever their Host (config/health.py).
    "config.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves /static/ from STATIC_ROOT in production (hashed names, long cache); with DEBUG
    # on it serves straight from static/ (the demo needs no collectstatic).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Dates in the signed-in user's time zone (accounts/time_zones.py).
    "accounts.time_zones.UserTimeZoneMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # The app's 404/403/500 pages in DEBUG too (the demo); see config/error_pages.py.
    "config.error_pages.AppErrorPagesMiddleware",
    "web.middleware.InboxErrorMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            # {% icon %} and {% path %} on every page, made once per process.
            "builtins": ["web.templatetags.page_parts"],
        },
    }
]

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo runs web, worker and beat against one file: wait on locks instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# New passwords: Argon2id (accounts/hashers.py says why these parameters). The others still
# verify older hashes, which Django re-hashes with the first one at the next sign-in.
STRONG_PASSWORD_HASHERS = [
    "accounts.hashers.Argon2idHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
PASSWORD_HASHERS = STRONG_PASSWORD_HASHERS
if env_bool("FAST_PASSWORD_HASHING", False):
    # Test suites only: creating users with the real hasher dominates their set-up time.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "inbox:folder"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

# allauth: e-mail is the login; accounts are created by company admins, not by open sign-up.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_ADAPTER = "accounts.adapters.NoOpenSignupAdapter"
# Sign-in limits (README, "Sign-in limits"). Failed attempts are limited per client address
# (10 a minute) and per account (5 in 5 minutes, after which even the right password waits):
# that is what stops guessing. allauth's default also limits every sign-in POST to 30 a
# minute per address, correct ones included, which locks an office behind one NAT address
# out at the start of a shift; a correct password is not a guess, so that limit is off.
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/5m/key", "login": ""}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# `manage.py collectstatic` writes here (the image does it at build time).
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
# Kept attachment bytes (inbox/attachments.py): files under MEDIA_ROOT by default, or an
# S3-compatible bucket through django-storages when ATTACHMENTS_S3_BUCKET is set. Nothing is
# served from MEDIA_URL: every download goes through a permission-checked view.
MEDIA_ROOT = Path(env_str("ATTACHMENTS_DIR", str(VAR_DIR / "attachments")))
ATTACHMENTS_S3_BUCKET = env_str("ATTACHMENTS_S3_BUCKET", "")
_default_storage: dict[str, object] = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
if ATTACHMENTS_S3_BUCKET:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": ATTACHMENTS_S3_BUCKET,
            "endpoint_url": env_str("ATTACHMENTS_S3_ENDPOINT_URL", "") or None,
            "region_name": env_str("ATTACHMENTS_S3_REGION", "") or None,
            "access_key": env_str("ATTACHMENTS_S3_ACCESS_KEY_ID", "") or None,
            "secret_key": env_str("ATTACHMENTS_S3_SECRET_ACCESS_KEY", "") or None,
            "location": env_str("ATTACHMENTS_S3_PREFIX", ""),
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
STORAGES = {
    "default": _default_storage,
    # Production: content-hashed, pre-compressed files named in a manifest, so browsers may
    # cache them for a year. DEBUG serves the source files as they are.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Content-Security-Policy on every response (django-csp). Scripts: our own files, plus
# inline ones only with this request's nonce (there are none today but the OAuth relay);
# no inline event handlers. Styles and images are as wide as the mail frames need: an
# ``<iframe srcdoc>`` inherits this policy on top of its own stricter one
# (web/rendering.py), so its inline styles and the remote images a reader chose to
# show must pass here too.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:", "https:", "http:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
    },
}

REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")

# Secrets at rest: MultiFernet keys, newest first. `manage.py rotate_encryption_keys`
# re-encrypts every row with the first key after a new one is put in front.
_keys = env_list("FIELD_ENCRYPTION_KEYS", [])
if not _keys:
    if not DEBUG:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "Environment variable FIELD_ENCRYPTION_KEYS is required when DEBUG is off "
            "(generate one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')."
        )
    _keys = [base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()]
FIELD_ENCRYPTION_KEYS = _keys

# --- Celery -------------------------------------------------------------------------
# Without a broker URL the app runs on kombu's filesystem transport under var/: a real
# broker shared by web, worker and beat processes on one machine, with nothing to install.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "filesystem://")
_broker_dir = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Broadcasts (worker control) too, or kombu writes them to ./control in the cwd.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # Must stay above the longest task's run time, or Redis redelivers a running task.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 7200)}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 1500)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 1800)
# The base queue name: pushes go to "<name>.push" and pulls to "<name>.pull" (config/celery.py);
# the push workers also consume "<name>" itself, where nothing is routed today.
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "salesinbox")
CELERY_TASK_ROUTES = ("config.celery.route_task",)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Beat writes each run to its table as it sends it (by default only every 3 minutes), so
# beat's health check (`manage.py beat_health`, docker-compose.yml) reads a current time.
CELERY_BEAT_SYNC_EVERY = 1
CELERY_BEAT_SCHEDULE = {
    "sweep-outbox": {"task": "sync.sweep_outbox", "schedule": 30.0},
    "schedule-due-syncs": {"task": "sync.schedule_due_syncs", "schedule": 60.0},
}

# --- Sales Inbox ----------------------------------------------------------------------
# Provider adapters by provider name (dotted paths); tests add a recording adapter.
SYNC_ADAPTERS: dict[str, str] = {
    "imap": "sync.providers.imap.ImapAdapter",
    "gmail": "sync.providers.gmail.GmailAdapter",
    "outlook": "sync.providers.outlook.OutlookAdapter",
    # Demo mailboxes: a simulated external mailbox shown on the status page.
    "demo": "sync.providers.demo.DemoAdapter",
}
# Attachments: fetched from the provider on first open (sync/attachments.py), kept in the
# default storage. Caps: one file, and all of one message's files (Download all).
ATTACHMENT_FETCHER = "sync.attachments.fetch_attachment"
ATTACHMENT_MAX_BYTES = env_int("ATTACHMENT_MAX_BYTES", 50 * 1024 * 1024)
ATTACHMENT_MESSAGE_MAX_BYTES = env_int("ATTACHMENT_MESSAGE_MAX_BYTES", 100 * 1024 * 1024)
# Where a download is spooled on its way into the storage (None: the system's temp dir).
ATTACHMENT_TEMP_DIR = env_str("ATTACHMENT_TEMP_DIR", "") or None
SYNC_INTERVAL = timedelta(seconds=env_int("SYNC_INTERVAL_SECONDS", 120))
SYNC_PAST_DAYS = env_int("SYNC_PAST_DAYS", 90)
OUTBOX_MAX_ATTEMPTS = env_int("OUTBOX_MAX_ATTEMPTS", 8)
OUTBOX_BACKOFF_BASE_SECONDS = env_int("OUTBOX_BACKOFF_BASE_SECONDS", 30)
OUTBOX_BACKOFF_MAX_SECONDS = env_int("OUTBOX_BACKOFF_MAX_SECONDS", 3600)
# A claimed change whose worker vanished is handed out again after this long.
OUTBOX_LEASE_SECONDS = env_int("OUTBOX_LEASE_SECONDS", 600)
# A pull that would delete more than this share of an account's messages pauses it.
MASS_DELETE_MAX_SHARE = float(env_str("MASS_DELETE_MAX_SHARE", "0.2"))
MASS_DELETE_MIN_COUNT = env_int("MASS_DELETE_MIN_COUNT", 25)
# A message the provider refuses to return is asked for again on later pulls, backing off
# from FETCH_RETRY_BASE_SECONDS (doubling, capped at 6 hours), and quarantined with the reason
# after FETCH_RETRY_MAX_ATTEMPTS refusals. The rest of the mailbox syncs on meanwhile.
FETCH_RETRY_MAX_ATTEMPTS = env_int("FETCH_RETRY_MAX_ATTEMPTS", 5)
FETCH_RETRY_BASE_SECONDS = env_int("FETCH_RETRY_BASE_SECONDS", 60)
# IMAP: a message expunged from its folder and found in no other folder is deleted in the app
# only after complete checks of every folder found no live copy on two pulls in a row, the
# second at least this many seconds after the first (0: simply the next scheduled pull).
IMAP_DELETE_CONFIRM_DELAY_SECONDS = env_int("IMAP_DELETE_CONFIRM_DELAY_SECONDS", 0)
# Gmail through the Gmail API: the OAuth client the app was registered with at Google, and
# the endpoints (tests point them at a local fake server).
GOOGLE_CLIENT_ID = env_str("GOOGLE_CLIENT_ID", "")
GOOGLE_CLIENT_SECRET = env_str("GOOGLE_CLIENT_SECRET", "")
GMAIL_API_ENDPOINT = env_str("GMAIL_API_ENDPOINT", "https://gmail.googleapis.com/")
GOOGLE_TOKEN_URI = env_str("GOOGLE_TOKEN_URI", "https://oauth2.googleapis.com/token")
# Where "Connect Google" sends the browser to sign in and consent (change only for tests).
GOOGLE_AUTH_URI = env_str("GOOGLE_AUTH_URI", "https://accounts.google.com/o/oauth2/v2/auth")
# Outlook / Microsoft 365 through Microsoft Graph: the app registration (Entra ID), the
# identity authority msal signs in against, the Graph root (version included) and, only for
# tests or a TLS-inspecting proxy, a CA bundle that then replaces the environment's trust.
MS_CLIENT_ID = env_str("MS_CLIENT_ID", "")
MS_CLIENT_SECRET = env_str("MS_CLIENT_SECRET", "")
MS_AUTHORITY = env_str("MS_AUTHORITY", "https://login.microsoftonline.com/common")
GRAPH_API_ENDPOINT = env_str("GRAPH_API_ENDPOINT", "https://graph.microsoft.com/v1.0")
MS_CA_BUNDLE = env_str("MS_CA_BUNDLE", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# --- Production hardening (manage.py check --deploy passes with the defaults) -----------
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    if env_bool("BEHIND_TLS_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
        # The per-address sign-in limits count the client's address, which the one proxy in
        # front (Caddy) appends to X-Forwarded-For; without this every user is the proxy.
        ALLAUTH_TRUSTED_PROXY_COUNT = 1
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Error reports (ADMINS mail, error trackers) hide passwords and tokens in every frame.
DEFAULT_EXCEPTION_REPORTER_FILTER = "config.error_reports.SecretsHidingFilter"
