"""Fixtures that point the openai providers at bench/openai_wire_server.py.

Import them into a test module: `from tests.openai_fixtures import openai_wire, openai_wire_server  # noqa: F401`.
"""

import pytest

from qa import providers
from bench.openai_wire_server import OpenAIWireServer


@pytest.fixture(scope="session")
def openai_wire_server():
    with OpenAIWireServer() as server:
        yield server


@pytest.fixture
def openai_wire(openai_wire_server, settings):
    """The wire server, reset, with both providers switched to openai and pointed at it."""
    openai_wire_server.reset()
    settings.OPENAI_API_KEY = "test-key"
    settings.OPENAI_BASE_URL = openai_wire_server.base_url
    settings.OPENAI_TIMEOUT = 2.0
    settings.OPENAI_MAX_RETRIES = 2
    settings.EMBEDDING_PROVIDER = settings.LLM_PROVIDER = "openai"
    settings.EMBEDDING_MODEL = "text-embedding-3-small"
    settings.LLM_MODEL = "gpt-4o-mini"
    providers.reset()
    yield openai_wire_server
    providers.reset()
