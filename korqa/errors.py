"""Error types with messages a user can act on. The HTTP edge maps them to 4xx responses."""


class KorqaError(Exception):
    """Base class of every error korqa raises on purpose."""


class ConfigError(KorqaError):
    """A setting is out of range or inconsistent."""


class ModelLoadError(KorqaError):
    """A model, tokenizer or checkpoint could not be loaded."""


class UnsafeCheckpointError(ModelLoadError):
    """The checkpoint needs full unpickling, which can run arbitrary code."""


class InputError(KorqaError):
    """A question, passage or option is invalid (HTTP 422)."""


class LimitError(InputError):
    """The input is over a configured limit (HTTP 413)."""

    def __init__(self, message: str, limit: str):
        super().__init__(message)
        self.limit = limit


class DataError(KorqaError):
    """A data file (SQuAD/KorQuAD JSON, a passage file, a predictions file) cannot be read as what it should be."""
