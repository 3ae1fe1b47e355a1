"""The exception tree: every error the suite raises on purpose."""


class WarmingError(Exception):
    """Base of every error raised by warming-tasks."""


class SettingsError(WarmingError):
    """A setting has a value the suite cannot use."""


class SourceError(WarmingError):
    """The data source cannot be found, built or used."""


class EncodeError(WarmingError):
    """A value the configured format cannot write; its key fails alone."""


class SourceUnavailable(WarmingError):
    """The system behind the data source cannot be reached just now (its database is
    down, say): the batch is retried later, as for a cache outage, instead of its
    keys failing. Raise it from a source of your own for the same treatment."""


class SourceRefused(WarmingError):
    """The system behind the data source refused the whole batch (a query it
    rejects, a password it does not accept): every key of the batch fails with
    this reason at once, without trying each key alone."""


class CopyError(WarmingError):
    """A copy from another Redis cannot run as asked: the other server is the cache
    itself, cannot be reached or refused us, or has no ranking for ``--top``."""


class CopyArgumentError(CopyError):
    """A copy asked for something its arguments or the other server rule out: change
    the arguments (the command line exits 2)."""
