"""The official KorQuAD 1.0 metric on hand-made cases, and `korqa eval` on a small file it writes itself."""

import json

import pytest

from korqa.cli import main
from korqa.data import read_squad
from korqa.metric import exact_match_score, f1_score, normalize_answer, score


@pytest.mark.parametrize(
    "raw,normalized",
    [
        ("《토지》", "토지"),
        ("'세종' (1397)", "세종 1397"),
        ("〈어린 왕자〉", "어린 왕자"),
        ("‘한글’", "한글"),
        ("Seoul, KOREA!", "seoul korea"),
        ("  여러   칸  ", "여러 칸"),
        ("1,000원", "1000원"),
        ("「낫표」", "「낫표」"),  # not in the official list: kept
    ],
)
def test_normalization_follows_the_official_script(raw, normalized):
    assert normalize_answer(raw) == normalized


def test_exact_match_ignores_spacing_punctuation_and_case():
    assert exact_match_score("《토지》 ", "토지")
    assert exact_match_score("Seoul.", "seoul")
    assert not exact_match_score("토지에", "토지")


def test_f1_is_character_level_without_spaces():
    assert f1_score("대한 민국", "대한민국") == 1.0
    assert f1_score("1990년에", "1990년") == pytest.approx(2 * (5 / 6) * 1.0 / (5 / 6 + 1.0))
    assert f1_score("국민대한", "대한민국") == 1.0  # multiset of characters: order does not matter
    assert f1_score("", "서울") == 0.0
    assert f1_score("부산", "서울") == 0.0


def test_score_takes_the_best_gold_answer_and_counts_unanswered_as_zero(tmp_path):
    path = tmp_path / "data.json"
    path.write_text(
        json.dumps(
            {
                "data": [
                    {
                        "paragraphs": [
                            {
                                "context": "세종은 1397년에 태어났다. 한글을 만들었다.",
                                "qas": [
                                    {
                                        "id": "a",
                                        "question": "언제?",
                                        "answers": [{"text": "1397년", "answer_start": 4}],
                                    },
                                    {
                                        "id": "b",
                                        "question": "무엇을?",
                                        "answers": [
                                            {"text": "한글", "answer_start": 16},
                                            {"text": "한글을", "answer_start": 16},
                                        ],
                                    },
                                    {"id": "c", "question": "누가?", "answers": [{"text": "세종", "answer_start": 0}]},
                                ],
                            }
                        ]
                    }
                ]
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    items = read_squad(path)
    result = score(items, {"a": "1397년에", "b": "한글을"})
    assert result["count"] == 3 and result["answered"] == 2
    assert result["exact_match"] == pytest.approx(100 / 3)
    em_a = 2 * (5 / 6) / (5 / 6 + 1)
    assert result["f1"] == pytest.approx(100 * (em_a + 1.0 + 0.0) / 3)

    preds = tmp_path / "preds.json"
    preds.write_text(json.dumps({"a": "1397년", "b": "한글", "c": "세종"}, ensure_ascii=False), encoding="utf-8")
    assert main(["eval", "--data", str(path), "--predictions", str(preds), "--json"]) == 0
