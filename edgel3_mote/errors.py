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


def read_text(path, what: str, fix: str) -> str:
    """The text of a user's input file, or one ``InvalidInputError`` line naming it (missing, unreadable,
    binary / not UTF-8, NUL bytes). ``what`` names the file's role ("corpus manifest"), ``fix`` says what to do."""
    from pathlib import Path

    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInputError(f"{what} {path} does not exist: {fix}") from None
    except OSError as exc:
        raise InvalidInputError(f"{what} {path} cannot be read ({exc.strerror or exc}): {fix}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"{what} {path} is not a text file (byte 0x{data[exc.start]:02x} at offset {exc.start} is not UTF-8): {fix}"
        ) from None
    if "\0" in text:
        raise InvalidInputError(f"{what} {path} is not a text file (it holds NUL bytes): {fix}")
    return text


def read_json(path, what: str, fix: str):
    """A user's JSON file parsed, or one ``InvalidInputError`` line naming it and where it is broken."""
    import json

    text = read_text(path, what, fix)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidInputError(f"{what} {path} is not valid JSON ({exc}): {fix}") from None
