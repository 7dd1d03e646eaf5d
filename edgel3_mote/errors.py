"""User-facing errors: one line that names the problem and the fix.

Library code raises these; the CLI prints ``edgel3-mote: error: <message>`` and exits 2
without a traceback. Anything else that escapes is a bug and keeps its traceback.
"""


class EdgeL3MoteError(Exception):
    """Base class of every error a user can cause and fix."""


class InvalidInputError(EdgeL3MoteError, ValueError):
    """Bad argument, file or data given by the user."""


class WeightsError(EdgeL3MoteError):
    """A weight file that is corrupt or does not match the architecture."""


class ExportError(EdgeL3MoteError):
    """The model cannot be exported (unsupported op, float op left, does not fit)."""


class ToolchainError(EdgeL3MoteError):
    """A required external tool (arm-none-eabi-gcc, qemu-system-arm) is missing or failed."""


class DeviceError(EdgeL3MoteError):
    """The board (or QEMU) did not answer as the protocol requires."""


class EdgeL3MoteWarning(UserWarning):
    """Something the user should know that does not stop the run (silence, short audio, random weights)."""
