"""The errors a user can fix, each stated in one line.

The command line prints a :class:`UserError` as ``error: <message>`` and exits with status 2;
any other exception is a bug and keeps its traceback. :class:`Interrupted` (Ctrl-C) exits
with 130 after saying where the work stopped and how to resume it.

Every class also derives from the built-in exception a Python caller would expect
(``ValueError`` for bad values, ``LookupError`` for unknown names, ``RuntimeError`` for
files and data), so ``except ValueError`` keeps working for library users.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with what the user gave (a setting, a file, a folder, data), in one line."""


class ConfigError(UserError, ValueError):
    """A setting is unknown, of the wrong type or out of range; the message names its dotted key."""


class InputError(UserError, ValueError):
    """Tensors handed to the public API have the wrong shape, dtype, range or non-finite values."""


class UnknownNameError(UserError, LookupError):
    """An unknown registry name; the message lists the known ones."""


class DataError(UserError, RuntimeError):
    """A dataset could not be obtained, or a source delivered something wrong."""


class RunDirError(UserError, RuntimeError):
    """A run folder (or another output path) is missing, incomplete, corrupt, locked or not writable."""


class FolderBusy(RunDirError):
    """A folder is locked by another live process (it is being written there now)."""


class TrainingDiverged(UserError, ArithmeticError):
    """A loss or a weight became NaN or infinite; nothing non-finite was saved as finished."""


class NothingToMeasure(UserError):
    """A measurement cannot give a finite result (an attack that produced NaN, metric sample sizes too
    small for the metric); nothing was saved as its result."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) stopped a command; the message says where it stopped and how to resume.

    A KeyboardInterrupt, so code that catches Ctrl-C keeps catching it."""


__all__ = ["ConfigError", "DataError", "FolderBusy", "InputError", "Interrupted", "NothingToMeasure", "RunDirError",
           "TrainingDiverged", "UnknownNameError", "UserError"]
