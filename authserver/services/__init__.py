class ServiceError(ValueError):
    """A rule was broken by the caller's input; the message is safe to show to the user."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
