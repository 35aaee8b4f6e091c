"""Request and response bodies of the HTTP API (the limits they are checked against are korqa.config.ServeConfig)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, model_validator

KOREAN_EXAMPLE = {
    "question": "훈민정음을 반포한 해는 언제인가?",
    "context": "세종은 1443년에 훈민정음을 창제하였고, 3년 뒤인 1446년에 이를 반포하였다.",
}


class ErrorBody(BaseModel):
    """Every error response: what kind of error, and what is wrong, in words a client can show."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": "limit",
                    "detail": "passage 0 has 25000 characters, over max_context_chars (20000)",
                    "limit": "max_context_chars",
                },
                {"error": "invalid_input", "detail": "question is empty"},
            ]
        }
    )
    error: str  # limit | invalid_input | invalid_request | unauthorized | unsupported_media_type | busy | ...
    detail: str
    limit: str | None = None  # with 413: the limit's name (a korqa serve option)
    request_id: str | None = None  # with 500: the id the server logged


class SeedRequest(BaseModel):
    """POST /api, exactly as the nlpbook web service: {question, context}. Other fields are allowed."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [KOREAN_EXAMPLE]})
    question: StrictStr
    context: StrictStr


class SeedResponse(BaseModel):
    question: str
    context: str
    answer: str  # "" when the passage does not hold the answer (withheld) -- what nlpbook clients already show
    start: int | None = None
    end: int | None = None
    score: float | None = None
    no_answer: bool = False  # the answer was withheld: the passage does not seem to hold it


class AnswerOptions(BaseModel):
    # Strict: "3" and true are not numbers (pydantic would otherwise coerce them).
    top_k: StrictInt | None = Field(default=None, ge=1)
    max_answer_length: StrictInt | None = Field(default=None, ge=1, le=512)
    # Withhold the answer when p(no answer) >= this, for this request ("off": never); default: the server's.
    no_answer_threshold: Annotated[StrictFloat, Field(ge=0, le=1)] | Literal["off"] | None = None


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
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [KOREAN_EXAMPLE | {"top_k": 3}]})


class BatchRequest(AnswerOptions):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"items": [KOREAN_EXAMPLE], "top_k": 1}]})
    items: list[QuestionIn]


class AnswerOut(BaseModel):
    text: str
    start: int
    end: int
    score: float
    context_index: int


class AnswerResponse(BaseModel):
    answers: list[AnswerOut]  # empty when withheld
    no_answer: bool  # true: the passage does not seem to hold the answer (no_answer_score >= the threshold)
    no_answer_score: float
    best_guess: AnswerOut | None = None  # the best span even when withheld: a guess, not an answer
    model: str
    timings: dict[str, float]


class BatchResult(BaseModel):
    answers: list[AnswerOut]
    no_answer: bool
    no_answer_score: float
    best_guess: AnswerOut | None = None


class BatchResponse(BaseModel):
    results: list[BatchResult]
    model: str
    timings: dict[str, float]


# -- the Hugging Face Inference API's question-answering payload (POST /) -----------------------------------------


class HFQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: StrictStr
    context: StrictStr


class HFParameters(BaseModel):
    """The question-answering pipeline's parameters. Window settings are the server's (korqa serve --doc-stride
    ...): asking for others per request is a 422, not silently ignored."""

    model_config = ConfigDict(extra="forbid")
    top_k: StrictInt | None = Field(default=None, ge=1)
    max_answer_len: StrictInt | None = Field(default=None, ge=1, le=512)
    handle_impossible_answer: StrictBool = False
    align_to_words: StrictBool = True
    doc_stride: StrictInt | None = None
    max_seq_len: StrictInt | None = None
    max_question_len: StrictInt | None = None


class HFRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "inputs": {
                        "question": "훈민정음을 반포한 해는 언제인가?",
                        "context": "세종은 1443년에 훈민정음을 창제하였고, 3년 뒤인 1446년에 이를 반포하였다.",
                    },
                    "parameters": {"top_k": 1},
                }
            ]
        },
    )
    inputs: HFQuestion | list[HFQuestion]
    parameters: HFParameters = Field(default_factory=HFParameters)


class HFAnswer(BaseModel):
    answer: str
    score: float
    start: int
    end: int
