"""korqa: extractive question answering over Korean passages.

from korqa import QAConfig, QAEngine
engine = QAEngine.from_config(QAConfig())          # the embedded default model
engine.answer("질문", "지문").answers[0]            # Answer(text, start, end, score, context_index)
"""

from korqa.config import QAConfig
from korqa.engine import QAEngine
from korqa.spans import Answer

__all__ = ["Answer", "QAConfig", "QAEngine"]
__version__ = "0.1.0"
