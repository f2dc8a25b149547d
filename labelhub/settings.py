"""Settings for labelhub, read from the environment in this one module.

The defaults run on a laptop (SQLite + in-memory channel layer); ``DATABASE_URL`` and
``REDIS_URL`` switch to PostgreSQL and Redis.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("LABELHUB_VAR_DIR", BASE_DIR / "var"))
# The embedded SQLite file and worker artefacts live here; create it so a fresh clone just runs.
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


SECRET_KEY = os.environ.get("SECRET_KEY", "labelhub-dev-only-insecure-key-change-me")
DEBUG = env_bool("DEBUG", True)
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_tasks",
    "django_tasks_db",
    "labelhub.projects",
    "labelhub.guidelines",
    "labelhub.queues",
    "labelhub.snapshots",
    "labelhub.weak",
    "annotators.qa",
    "annotators.labeling",
    "active",
    "labelhub.production",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "labelhub.urls"
ASGI_APPLICATION = "labelhub.asgi.application"
WSGI_APPLICATION = "labelhub.wsgi.application"

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
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'labelhub.sqlite3'}",
        # 0 by default: under ASGI each request runs in its own thread, and persistent connections
        # would pile up to PostgreSQL's client limit. Set it for WSGI/gunicorn processes.
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "0")),
        # A persistent connection the database dropped (restart, failover, idle kill) is noticed
        # and replaced before the next request uses it, instead of failing that request with a 500.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the web process and the worker share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
# DB_POOL=MIN,MAX: a psycopg connection pool in each process (PostgreSQL). The setting for ASGI
# servers, where every request runs in a thread of its own: connections are borrowed per request
# instead of opened per request (and DB_CONN_MAX_AGE must stay 0).
DB_POOL = os.environ.get("DB_POOL", "").strip()
if DB_POOL and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    try:
        low, _, high = DB_POOL.partition(",")
        pool = {"min_size": int(low), "max_size": int(high or low), "timeout": 10}
    except ValueError:
        raise ImproperlyConfigured(
            f"DB_POOL must be MIN,MAX connections (e.g. 2,16), not {DB_POOL!r}"
        ) from None
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = pool
    DATABASES["default"]["CONN_MAX_AGE"] = 0

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # socket_timeout=None: redis-py 8 otherwise drops idle consumers after 5 s.
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                "prefix": os.environ.get("CHANNEL_PREFIX", "labelhub"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

TASKS = {
    "default": {
        "BACKEND": os.environ.get("TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "static_collected"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "labelhub.tokens.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "labelhub.openapi.AutoSchema",
    # Every 4xx of the API in one shape (labelhub.errors): views raise, they never translate.
    "EXCEPTION_HANDLER": "labelhub.errors.api_exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "labelhub API",
    "DESCRIPTION": "Projects, items, imports, queues, guidelines, QA, snapshots and active learning.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request and response bodies as separate components: read-only fields (ids, timestamps) are
    # not required in requests and a file upload is typed as binary, so generated clients work.
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and ReDoc from the installed drf-spectacular-sidecar, not a CDN: the docs pages
    # work offline and on air-gapped installs.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Where per-project embedding caches and other worker artefacts live.
LABELHUB_DATA_DIR = Path(os.environ.get("LABELHUB_DATA_DIR", VAR_DIR / "data"))
# Rows per INSERT/COPY batch during import.
IMPORT_BATCH_SIZE = int(os.environ.get("IMPORT_BATCH_SIZE", "5000"))
# Bounds on one imported record (a JSONL line, a CSV record, a Label Studio task), enforced while
# the file streams so a hostile file cannot exhaust memory: nesting depth, and size in bytes
# (big enough for an image as a data: URL).
LABELHUB_IMPORT_MAX_DEPTH = int(os.environ.get("LABELHUB_IMPORT_MAX_DEPTH", "64"))
LABELHUB_IMPORT_MAX_ITEM_BYTES = int(os.environ.get("LABELHUB_IMPORT_MAX_ITEM_BYTES", str(8 * 1024 * 1024)))
# Torch device of active-learning workers: auto (CUDA when present), cpu or cuda.
LABELHUB_AL_DEVICE = os.environ.get("LABELHUB_AL_DEVICE", "auto")
#: A finished project's "nothing left" is repeated from memory to the same annotator for this
#: long (0: never), see labelhub.queues.services.filling.nothing_left_recently.
LABELHUB_EXHAUSTED_ANSWER_SECONDS = float(os.environ.get("LABELHUB_EXHAUSTED_ANSWER_SECONDS", "1"))
#: The QA dashboard shows label figures up to this old while newer ones are recomputed in the
#: background (0: always compute them in the request). See annotators.qa.selectors._label_figures.
LABELHUB_QA_STALE_SECONDS = float(os.environ.get("LABELHUB_QA_STALE_SECONDS", "60"))
# Label-noise review (active.noise_jobs): folds of the out-of-sample probabilities, suspects sent
# to adjudication per check, the cosine (of centred vectors) from which two items are
# near-duplicates, and whether a check runs after every active-learning round.
LABELHUB_NOISE_FOLDS = int(os.environ.get("LABELHUB_NOISE_FOLDS", "5"))
LABELHUB_NOISE_REVIEW_BUDGET = int(os.environ.get("LABELHUB_NOISE_REVIEW_BUDGET", "20"))
LABELHUB_NOISE_DUPLICATE_SIMILARITY = float(os.environ.get("LABELHUB_NOISE_DUPLICATE_SIMILARITY", "0.95"))
LABELHUB_NOISE_AFTER_ROUND = os.environ.get("LABELHUB_NOISE_AFTER_ROUND", "1") == "1"
# Reactions to a submit (gold scoring, consensus, QA policy, active-learning trigger):
# "inline" runs them right after the submit commits, in the request; "deferred" leaves them to
# `manage.py keep_queues`, which delivers them in batches (the web tier's setting under load).
LABELHUB_REACTIONS = os.environ.get("LABELHUB_REACTIONS", "inline")
if LABELHUB_REACTIONS not in ("inline", "deferred"):
    raise ImproperlyConfigured(f"LABELHUB_REACTIONS must be inline or deferred, not {LABELHUB_REACTIONS!r}")
# Queues are topped up by `keep_queues` when fewer entries than this have a free slot.
LABELHUB_QUEUE_LOW_WATER = int(os.environ.get("LABELHUB_QUEUE_LOW_WATER", "300"))
# Production inbox: captures nobody selected for labelling are kept this many days (for the
# statistics), then purged by `keep_queues`; drift is checked per window of this many minutes.
LABELHUB_PRODUCTION_RETENTION_DAYS = float(os.environ.get("LABELHUB_PRODUCTION_RETENTION_DAYS", "30"))
LABELHUB_DRIFT_WINDOW_MINUTES = int(os.environ.get("LABELHUB_DRIFT_WINDOW_MINUTES", "60"))
# 1: a capture batch's commit waits for the WAL flush (slower; nothing acknowledged is ever lost).
LABELHUB_CAPTURE_DURABLE = os.environ.get("LABELHUB_CAPTURE_DURABLE", "0") == "1"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
