"""korqa: extractive question answering over Korean passages.

from korqa import QAConfig, QAEngine
engine = QAEngine.from_config()                    # the embedded default model
engine.answer("질문", "지문").answers[0]            # Answer(text, start, end, score, context_index)
"""

from korqa.config import QAConfig, ServeConfig
from korqa.engine import QAEngine, QAResult, Question
from korqa.errors import KorqaError
from korqa.spans import Answer

__all__ = ["Answer", "KorqaError", "QAConfig", "QAEngine", "QAResult", "Question", "ServeConfig", "__version__"]
__version__ = "0.2.0"
