"""ragsite settings: every value comes from the environment (see .env.example).

A bad value stops start-up with ImproperlyConfigured naming the variable.
With DATABASE_URL / REDIS_URL unset, the embedded servers under ./var are used;
importing this module never starts them (ragsite.devservices does).
"""

import os
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("RAGSITE_VAR_DIR", BASE_DIR / "var"))

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def envbool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def envint(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    return value


def envfloat(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ImproperlyConfigured(f"{name} must be positive, got {value}")
    return value


def envchoice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def envurl(name: str, schemes: tuple[str, ...]) -> str | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    if raw.split("://", 1)[0] not in schemes or "://" not in raw:
        raise ImproperlyConfigured(f"{name} must be a URL starting with {' or '.join(s + '://' for s in schemes)}, got {raw!r}")
    return raw


def envhostports(name: str) -> list[tuple[str, int]]:
    raw = os.environ.get(name, "").strip()
    pairs = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ImproperlyConfigured(f"{name} must be host:port pairs separated by commas, got {raw!r}")
        pairs.append((host, int(port)))
    return pairs


DEBUG = envbool("DEBUG", False)
TESTING = envbool("RAGSITE_TESTING", False)


def _secret_key() -> str:
    if key := os.environ.get("SECRET_KEY"):
        return key
    # Dev convenience: a random key kept under ./var, so `make run` needs no configuration.
    # Production sets SECRET_KEY; the deploy check in the README says so.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        from django.core.management.utils import get_random_secret_key

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(get_random_secret_key())
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "axes",
    "django_tasks",
    "django_tasks_db",
    "ragsite.jobs",
    "qa",
    "cache_policies",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "ragsite.limits.RequestLimitsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as axes asks: it turns a lockout raised during authentication into its 429 page.
    "axes.middleware.AxesMiddleware",
    "ragsite.middleware.OutagePageMiddleware",
]

ROOT_URLCONF = "ragsite.urls"
WSGI_APPLICATION = "ragsite.wsgi.application"

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

# --- PostgreSQL (pgvector) -------------------------------------------------
DATABASE_URL = envurl("DATABASE_URL", ("postgres", "postgresql", "pgsql"))
EMBEDDED_POSTGRES = DATABASE_URL is None
PGDATA_DIR = VAR_DIR / "pgdata"
# The embedded server's buffer cache. PostgreSQL's default, 128 MB, is smaller than the semantic index's HNSW
# graph at 100k cached questions (205 MB, and as much again for the rows): every lookup into a part of the graph
# not read lately copies pages from the OS cache (4 ms p50 instead of 2.5 at 100k). pgvector advises a
# shared_buffers that holds the index; memory is taken only as pages are read.
EMBEDDED_POSTGRES_SHARED_BUFFERS = os.environ.get("EMBEDDED_POSTGRES_SHARED_BUFFERS", "1GB")
if EMBEDDED_POSTGRES:
    # pgserver listens on a unix socket inside its data directory (no TCP port to collide on).
    DATABASE_URL = f"postgresql://postgres:@/ragsite?host={PGDATA_DIR}"
DB_CONNECT_TIMEOUT = envint("DB_CONNECT_TIMEOUT", 3, minimum=1)
DB_STATEMENT_TIMEOUT_MS = envint("DB_STATEMENT_TIMEOUT_MS", 15000, minimum=100)
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
DATABASES["default"]["ENGINE"] = "django.db.backends.postgresql"
if socket_dir := DATABASES["default"].get("OPTIONS", {}).pop("host", None):
    DATABASES["default"]["HOST"] = socket_dir  # "?host=/dir" (a unix socket) is Django's HOST
DATABASES["default"]["CONN_MAX_AGE"] = envint("DB_CONN_MAX_AGE", 60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {}).update(
    {
        "connect_timeout": DB_CONNECT_TIMEOUT,
        "options": f"-c statement_timeout={DB_STATEMENT_TIMEOUT_MS}",
    }
)
DATABASES["default"]["TEST"] = {"NAME": "test_ragsite" + os.environ.get("RAGSITE_TEST_DB_SUFFIX", "")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis (Valkey) ----------------------------------------------------------
REDIS_URL = envurl("REDIS_URL", ("redis", "rediss", "unix"))
REDIS_SENTINELS = envhostports("REDIS_SENTINELS")
REDIS_SENTINEL_MASTER = os.environ.get("REDIS_SENTINEL_MASTER", "mymaster")
REDIS_CLUSTER_NODES = envhostports("REDIS_CLUSTER_NODES")
if sum(map(bool, (REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES))) > 1:
    raise ImproperlyConfigured("Set one of REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES, not several")
if REDIS_CLUSTER_NODES:
    # Display only: the nodes come from CLUSTER_NODES (a cluster has no databases but db 0).
    host, port = REDIS_CLUSTER_NODES[0]
    REDIS_URL = f"redis://{host}:{port}/0"
if REDIS_SENTINELS:
    # The sentinels name the master; LOCATION carries the service name and the db, not a host.
    REDIS_URL = f"redis://{REDIS_SENTINEL_MASTER}/{envint('REDIS_SENTINEL_DB', 0)}"
EMBEDDED_REDIS = REDIS_URL is None
# A unix socket inside ./var, like PostgreSQL's: two checkouts on one machine never collide on a port.
EMBEDDED_REDIS_SOCKET = VAR_DIR / "valkey" / "valkey.sock"
EMBEDDED_REDIS_MAXMEMORY = os.environ.get("EMBEDDED_REDIS_MAXMEMORY", "512mb")
if EMBEDDED_REDIS:
    # Tests get their own logical db so a developer's cache is never flushed by a test run.
    REDIS_URL = f"unix://{EMBEDDED_REDIS_SOCKET}?db={envint('RAGSITE_TEST_REDIS_DB', 1) if TESTING else 0}"
REDIS_SOCKET_TIMEOUT = envfloat("REDIS_SOCKET_TIMEOUT", 0.25)
REDIS_KEY_PREFIX = os.environ.get("REDIS_KEY_PREFIX", "rag-test" if TESTING else "rag")
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": REDIS_KEY_PREFIX,
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            # JSON, never pickle: nothing in Redis can execute code when read back.
            "SERIALIZER": "django_redis.serializers.json.JSONSerializer",
            "SOCKET_CONNECT_TIMEOUT": REDIS_SOCKET_TIMEOUT,
            "SOCKET_TIMEOUT": REDIS_SOCKET_TIMEOUT,
            "CONNECTION_POOL_KWARGS": {"max_connections": 64, "health_check_interval": 30},
            # Django's cache API (DRF throttles, sessions if moved there) must not turn a Redis
            # outage into a 500; the speed layer has its own handling in cache_policies.redis_client.
            "IGNORE_EXCEPTIONS": True,
        },
    }
}
if REDIS_SENTINELS:
    CACHES["default"]["OPTIONS"].update(
        {
            "CLIENT_CLASS": "django_redis.client.SentinelClient",
            "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
            "SENTINELS": REDIS_SENTINELS,
            "SENTINEL_KWARGS": {"socket_timeout": REDIS_SOCKET_TIMEOUT, "socket_connect_timeout": REDIS_SOCKET_TIMEOUT},
        }
    )
if REDIS_CLUSTER_NODES:
    CACHES["default"]["OPTIONS"].update(
        {
            "CLIENT_CLASS": "cache_policies.redis_cluster.ClusterClient",
            "CONNECTION_FACTORY": "cache_policies.redis_cluster.ClusterConnectionFactory",
            "CLUSTER_NODES": REDIS_CLUSTER_NODES,
            # RedisCluster keeps a pool per node and has no health_check_interval.
            "CONNECTION_POOL_KWARGS": {"max_connections": 64},
        }
    )
SESSION_ENGINE = "django.contrib.sessions.backends.db"
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True

# --- Providers ---------------------------------------------------------------
OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY", "")
OPENAI_BASE_URL = envurl("OPENAI_BASE_URL", ("http", "https"))
_default_provider = "openai" if OPENAI_API_KEY else None
EMBEDDING_PROVIDER = envchoice("EMBEDDING_PROVIDER", _default_provider or "local", ("local", "openai"))
EMBEDDING_MODEL = os.environ.get(
    "EMBEDDING_MODEL", "text-embedding-3-small" if EMBEDDING_PROVIDER == "openai" else "all-MiniLM-L6-v2"
)
EMBEDDING_DIMENSIONS = envint("EMBEDDING_DIMENSIONS", 384, minimum=1)
LLM_PROVIDER = envchoice("LLM_PROVIDER", _default_provider or "extractive", ("extractive", "openai"))
LLM_MODEL = os.environ.get("LLM_MODEL", "gpt-4o-mini" if LLM_PROVIDER == "openai" else "extractive-v1")
# Off for tools that switch models on purpose (the bench): the model_changed rules would drop your cache.
MODEL_CHANGED_FIRES = envbool("MODEL_CHANGED_FIRES", True)
OPENAI_TIMEOUT = envfloat("OPENAI_TIMEOUT", 30.0)
OPENAI_MAX_RETRIES = envint("OPENAI_MAX_RETRIES", 2)
if "openai" in (EMBEDDING_PROVIDER, LLM_PROVIDER) and not OPENAI_API_KEY:
    raise ImproperlyConfigured("OPENAI_API_KEY must be set when EMBEDDING_PROVIDER or LLM_PROVIDER is openai")

RETRIEVAL_TOP_K = envint("RETRIEVAL_TOP_K", 5, minimum=1)
# The nearest chunks reranked for the top k (qa/retrieval.py); 20 was best on answer_facts' tuning half.
RETRIEVAL_POOL = envint("RETRIEVAL_POOL", 20, minimum=1)
# For a question that names code ("What does str.join do?"): MiniLM reads "str.join" much as "str", so the
# entry the question names can sit below 20 chunks on neighbouring names, where its rank bonus never applies.
RETRIEVAL_POOL_NAMED = envint("RETRIEVAL_POOL_NAMED", 40, minimum=1)
HNSW_EF_SEARCH = envint("HNSW_EF_SEARCH", 64, minimum=1)
QUESTION_MAX_CHARS = 2000

# --- Serving and single-flight (ragsite/gunicorn.conf.py reads WEB_THREADS too) ----------
WEB_THREADS = envint("WEB_THREADS", 16, minimum=2)
# Followers waiting for an identical question's answer, and streamed answers, each hold a thread: keep a quarter for hits.
SINGLEFLIGHT_MAX_WAITERS = envint("SINGLEFLIGHT_MAX_WAITERS", max(1, WEB_THREADS * 3 // 4), minimum=1)
if SINGLEFLIGHT_MAX_WAITERS >= WEB_THREADS:
    raise ImproperlyConfigured("SINGLEFLIGHT_MAX_WAITERS must be below WEB_THREADS, or waiting requests can starve hits")
# A leader renews its lock every third of this; a SIGKILLed leader's lock is gone this long after.
SINGLEFLIGHT_LEASE_SECONDS = envfloat("SINGLEFLIGHT_LEASE_SECONDS", 3.0)
# While PostgreSQL is unreachable, policies and template are served last known and re-read this often.
DB_RETRY_AFTER = envfloat("DB_RETRY_AFTER", 1.0)

# --- Web ----------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").exists() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG or TESTING
LOGIN_URL = "/admin/login/"
# Set to require "Authorization: Bearer <token>" on /metrics.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440, minimum=1024)

# Behind a TLS-terminating proxy set these to 1; they default off so `make run` works over plain HTTP.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if envbool("SECURE_PROXY_SSL_HEADER", False) else None
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = envbool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    # DRF's JSON parser answers a deeply nested body with a RecursionError (a 500); ours with a 400.
    "DEFAULT_PARSER_CLASSES": [
        "ragsite.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # How many proxies stand in front: 0 means X-Forwarded-For is never trusted for rate limits.
    "NUM_PROXIES": envint("NUM_PROXIES", 0),
    "DEFAULT_THROTTLE_RATES": {
        "ask_anon": os.environ.get("THROTTLE_ASK_ANON", "10000/hour" if TESTING else "60/minute"),
        "ask_user": os.environ.get("THROTTLE_ASK_USER", "100000/hour" if TESTING else "600/minute"),
        "document_write": os.environ.get("THROTTLE_DOCUMENT_WRITE", "100000/hour" if TESTING else "60/minute"),
    },
    "EXCEPTION_HANDLER": "ragsite.errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ragsite API",
    "DESCRIPTION": "Question answering over a knowledge base, with a Redis speed layer.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"LayerStatusEnum": "qa.apis.LAYER_STATUS"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# No inline script or style without the per-request nonce; Swagger UI is served from the sidecar
# package with its init script as a separate file (SpectacularSwaggerSplitView).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Admin login lockout: django-axes keeps failed attempts in PostgreSQL (its default handler), so
# every gunicorn worker and server sees the same count. Its backend must come first.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = envint("AXES_COOLOFF_MINUTES", 15, minimum=1) / 60
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True

# Whether anonymous users see X-Cache, Server-Timing and the cache report (staff always do).
EXPOSE_CACHE_STATUS = envbool("EXPOSE_CACHE_STATUS", True)

# One document's bounds, checked before embedding (a 100 KB document is about 170 chunks).
DOCUMENT_MAX_CHARS = envint("DOCUMENT_MAX_CHARS", 200_000, minimum=1)
DOCUMENT_MAX_CHUNKS = envint("DOCUMENT_MAX_CHUNKS", 400, minimum=1)

# Background jobs (document ingest): django-tasks with its PostgreSQL backend; payloads are JSON.
# Queues: "default" (what `make run`'s worker reads) and the bench's own (bench/ingest_memory.py).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default", "bench-ingest"]}}
# gunicorn's master starts one `manage.py jobs_worker` and restarts it if it dies (off: run workers yourself).
JOBS_WORKER = envbool("JOBS_WORKER", True)
# How often a worker looks for jobs left RUNNING by a dead worker (each worker also does at its start).
JOBS_REAP_SECONDS = envint("JOBS_REAP_SECONDS", 30, minimum=1)
# A job whose worker died this many times is marked failed rather than run again.
JOBS_MAX_ATTEMPTS = envint("JOBS_MAX_ATTEMPTS", 3, minimum=1)
# Finished job results (an ingest's keeps the text it embedded) are deleted by the workers after this many days.
JOBS_KEEP_DAYS = envint("JOBS_KEEP_DAYS", 14, minimum=1)
