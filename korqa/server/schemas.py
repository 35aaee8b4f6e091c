"""Request and response bodies of the HTTP API (the limits they are checked against are korqa.config.ServeConfig)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator


class SeedRequest(BaseModel):
    """POST /api, exactly as the nlpbook web service: {question, context}. Other fields are allowed."""

    model_config = ConfigDict(extra="allow")
    question: StrictStr
    context: StrictStr


class SeedResponse(BaseModel):
    question: str
    context: str
    answer: str
    start: int | None = None
    end: int | None = None
    score: float | None = None


class AnswerOptions(BaseModel):
    # Strict: "3" and true are not numbers (pydantic would otherwise coerce them).
    top_k: StrictInt | None = Field(default=None, ge=1)
    max_answer_length: StrictInt | None = Field(default=None, ge=1, le=512)


class QuestionIn(BaseModel):
    """One question over one passage (`context`) or several (`contexts`)."""

    model_config = ConfigDict(extra="forbid")
    question: StrictStr
    context: StrictStr | None = None
    contexts: list[StrictStr] | None = None

    @model_validator(mode="after")
    def one_kind_of_passage(self) -> QuestionIn:
        if (self.context is None) == (self.contexts is None):
            raise ValueError("give exactly one of 'context' (a string) or 'contexts' (a list of strings)")
        return self

    @property
    def passages(self) -> list[str]:
        return [self.context] if self.context is not None else list(self.contexts or [])


class AnswerRequest(QuestionIn, AnswerOptions):
    pass


class BatchRequest(AnswerOptions):
    model_config = ConfigDict(extra="forbid")
    items: list[QuestionIn]


class AnswerOut(BaseModel):
    text: str
    start: int
    end: int
    score: float
    context_index: int


class AnswerResponse(BaseModel):
    answers: list[AnswerOut]
    no_answer_score: float
    model: str
    timings: dict[str, float]


class BatchResult(BaseModel):
    answers: list[AnswerOut]
    no_answer_score: float


class BatchResponse(BaseModel):
    results: list[BatchResult]
    model: str
    timings: dict[str, float]
