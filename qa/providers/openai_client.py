"""The OpenAI client both openai providers use, and the one place its failures become ours."""

from collections.abc import Iterator
from contextlib import contextmanager

import openai
from django.conf import settings

from ragsite.errors import ProviderError, ProviderTimeout

PROVIDER = "openai"


def openai_client() -> openai.OpenAI:
    """A client from settings; it retries 429/5xx/connection errors itself, with backoff."""
    return openai.OpenAI(
        api_key=settings.OPENAI_API_KEY,
        base_url=settings.OPENAI_BASE_URL,
        timeout=settings.OPENAI_TIMEOUT,
        max_retries=settings.OPENAI_MAX_RETRIES,
    )


def _status_detail(exc: "openai.APIStatusError") -> str:
    """The server's own error message when it sent one ("Error code: 500 - ..." otherwise)."""
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body)
    return (error.get("message") if isinstance(error, dict) else None) or exc.message


@contextmanager
def provider_errors() -> Iterator[None]:
    """Turn the client's exceptions into ProviderTimeout / ProviderError."""
    try:
        yield
    except openai.APITimeoutError as exc:
        raise ProviderTimeout(f"no answer within {settings.OPENAI_TIMEOUT}s", provider=PROVIDER) from exc
    except openai.APIStatusError as exc:
        raise ProviderError(f"HTTP {exc.status_code}: {_status_detail(exc)}", provider=PROVIDER) from exc
    except openai.OpenAIError as exc:
        raise ProviderError(str(exc) or type(exc).__name__, provider=PROVIDER) from exc
    except (ValueError, TypeError, AttributeError) as exc:
        # A body that is not the JSON the client expects: not JSON at all, or fields missing or mistyped.
        raise ProviderError(f"malformed response: {exc}", provider=PROVIDER) from exc
