"""The root of every failure the dock reports to a person.

Each subclass lives beside the code that raises it. Its message is one line: what went
wrong and what to do. The CLI and the service print it without a traceback; a traceback
means a bug.
"""


class DockError(Exception):
    """An expected failure with a message a person can act on."""


class ConfigError(DockError):
    """A configuration value that the dock refuses at start."""
