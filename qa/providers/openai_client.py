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


@contextmanager
def provider_errors() -> Iterator[None]:
    """Turn the client's exceptions into ProviderTimeout / ProviderError."""
    try:
        yield
    except openai.APITimeoutError as exc:
        raise ProviderTimeout(f"no answer within {settings.OPENAI_TIMEOUT}s", provider=PROVIDER) from exc
    except openai.APIStatusError as exc:
        raise ProviderError(f"HTTP {exc.status_code}: {exc.message}", provider=PROVIDER) from exc
    except openai.OpenAIError as exc:
        raise ProviderError(str(exc) or type(exc).__name__, provider=PROVIDER) from exc
    except (ValueError, TypeError, AttributeError) as exc:
        # A body that is not the JSON the client expects: not JSON at all, or fields missing or mistyped.
        raise ProviderError(f"malformed response: {exc}", provider=PROVIDER) from exc
