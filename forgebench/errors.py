"""Exceptions raised by forgebench; each message names the file and the problem."""


class ForgebenchError(Exception):
    """Base class of the errors forgebench raises on bad input."""


class ConfigError(ForgebenchError):
    """A config file is missing, unreadable, has an unknown key or a value of the wrong type."""


class MediaError(ForgebenchError):
    """A media file cannot be opened or decoded (not a video, corrupt, no video stream)."""


class NoFaceError(ForgebenchError):
    """No face was found where one is needed (e.g. in every sampled frame of a video)."""


class DataError(ForgebenchError):
    """Input data is unusable (wrong hash, too few identities for the splits, ...)."""
