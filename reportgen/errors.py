"""The one exception type the CLI turns into a single clear line and a non-zero exit."""


class ReportgenError(Exception):
    """A problem the user can fix; `hint` says how.

    Args:
        message: what went wrong, in one line.
        hint: what to do about it.
        exit_code: the process exit status (2 for bad input, 1 otherwise).
    """

    def __init__(self, message: str, hint: str = "", exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message
