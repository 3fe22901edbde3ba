"""The one error hierarchy of raybench.

    RaybenchError                 every error raybench raises on purpose
    ├── UserError                 bad input: the CLI prints one line and exits 2
    │   ├── ConfigError           an experiment or suite file that does not validate
    │   ├── RunDirError           a run directory that is missing, unreadable or would be overwritten
    │   ├── ResourceError         resources that the cluster can never provide
    │   └── DatasetUnavailable    a data set that is neither on disk nor downloadable
    ├── EventLogError             an event log that cannot be read at all
    └── HardwareError             an energy backend that was asked for explicitly and cannot be read

Each message says what is wrong and what to do about it, in one line.
"""

from __future__ import annotations


class RaybenchError(Exception):
    """Base class of every error raybench raises on purpose."""

    exit_code = 1

    def __str__(self) -> str:
        # One line always: user input echoed in a message may hold line breaks.
        return super().__str__().replace("\r", "\\r").replace("\n", "\\n")


class UserError(RaybenchError):
    """Bad input from the user. The CLI prints the message alone and exits with 2."""

    exit_code = 2


class ConfigError(UserError):
    """An experiment or suite file that does not validate."""


class RunDirError(UserError):
    """A run directory that is missing, unreadable, or would be overwritten."""


class ResourceError(UserError):
    """A resource request that the cluster can never satisfy."""


class DatasetUnavailable(UserError):
    """A data set that is neither on disk nor downloadable from here."""


class EventLogError(RaybenchError):
    """An event log that cannot be read at all (not a torn tail, which is recovered)."""

    exit_code = 2


class HardwareError(RaybenchError):
    """An energy backend that was requested explicitly but cannot be read."""

    exit_code = 2
