"""The tool's refusals and exit codes (README.md: the contract)."""

EXIT_FAILED, EXIT_INPUT, EXIT_NOT_READY = 1, 2, 3


class Refusal(Exception):
    """A one-line reason to stop; args: message, exit code. Never holds the password."""
