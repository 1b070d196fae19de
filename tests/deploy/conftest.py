"""The application harness, for running the image's HEALTHCHECK against a real /healthz."""

from tests.bot.conftest import harness  # noqa: F401 (a fixture)
