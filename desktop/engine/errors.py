"""Errors the engine raises, each with a message a user can read."""


class EngineError(Exception):
    """Base class: the message is meant for the user, one line, no traceback."""


class ModelError(EngineError):
    """The model file cannot be loaded or run."""


class ProfileError(EngineError):
    """The preprocessing profile is malformed or does not fit the model."""


class InputError(EngineError):
    """One input (an image, a CSV file or one of its rows) cannot be scored."""


class Cancelled(EngineError):
    """The run was cancelled by the user."""


class CheckError(EngineError):
    """A reference tensor cannot be compared with InferDesk's (unreadable, or of another shape)."""
