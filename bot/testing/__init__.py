"""Test helpers that ship with the package: the in-memory Bot API double and update factories
(used by tests and `jianfu demo`)."""
