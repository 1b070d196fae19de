"""The Telegram adapter of Jianfu: everything that imports `telegram` lives here."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("jianfu")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
