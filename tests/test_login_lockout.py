"""Admin login lockout (django-axes, state in PostgreSQL): wrong passwords, then a 429 even for the right one."""

import pytest
from axes.models import AccessAttempt
from django.conf import settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_superuser("ops", "ops@example.com", "correct horse")


def _log_in(client, password: str):
    return client.post("/admin/login/?next=/admin/", {"username": "ops", "password": password})


def test_it_locks_the_admin_login_after_the_failure_limit(client, staff_user):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _log_in(client, "wrong").status_code == 200
    assert _log_in(client, "wrong").status_code == 429
    assert AccessAttempt.objects.get(username="ops").failures_since_start == settings.AXES_FAILURE_LIMIT
    assert _log_in(client, "correct horse").status_code == 429


def test_it_lets_the_right_password_in_below_the_limit(client, staff_user):
    assert _log_in(client, "wrong").status_code == 200
    assert _log_in(client, "correct horse").status_code == 302
