"""One error tree. Every error carries a one-line message and a hint for the user."""


class DigestError(Exception):
    """A problem the user can fix. `cli` prints `message` and `hint`, then exits 1."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(DigestError):
    pass


class StoreError(DigestError):
    pass


class DatabaseBusyError(StoreError):
    """Another process held the database's write lock for longer than the busy timeout."""


class NotFoundError(DigestError):
    pass


class InputError(DigestError):
    """Bad data from a file, a feed or an option: names the record and the field."""


class TemplateError(DigestError):
    pass


class SmtpError(DigestError):
    """Any failure talking to the SMTP server."""


class SmtpConnectionError(SmtpError):
    pass


class SmtpAuthError(SmtpError):
    pass


class SmtpTemporaryError(SmtpError):
    """4xx: try again later."""


class SmtpBounceError(SmtpError):
    """5.1.x / 5.2.1: the address is dead."""


class SmtpPolicyError(SmtpError):
    """5.7.x: the server refuses us; stop and look."""


class ImapError(DigestError):
    """The bounce mailbox cannot be reached, logged in to or opened."""


class BusyError(DigestError):
    """Another sender holds the database's send lock."""


class ApprovalError(DigestError):
    """The list requires approval and this edition has none (yet)."""
