"""The exceptions of the live-data side, in one hierarchy."""


class StreamingError(Exception):
    """Base of every error raised by `streaming`."""


class BadTick(StreamingError):
    """A tick message that cannot be parsed or fails validation; counted and skipped."""


class BackendUnavailable(StreamingError):
    """A cache, pub/sub or log backend cannot be reached right now."""
