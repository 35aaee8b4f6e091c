"""Character-level answer boundaries learned from training answers."""

from korqa.boundaries import AlignedAnswer, BoundaryRules, apply, learn
from korqa.spans import decode
from tests.test_spans import logits_for, make_window


def aligned(context, gold, token_text, last_token=None):
    """`token_text`: the token-aligned span around `gold`; `last_token`: its last token (None: one token)."""
    t = context.index(token_text)
    g = context.index(gold, t)
    last = None if last_token is None else t + token_text.rindex(last_token)
    return AlignedAnswer(context, g, g + len(gold), t, t + len(token_text), last)


def test_a_particle_that_gold_answers_usually_exclude_becomes_a_rule():
    answers = [aligned(f"그는 {y}년에 태어났다", f"{y}년", f"{y}년에") for y in range(1900, 1910)]
    answers += [aligned("그는 서울에 있다", "서울에", "서울에")]  # one counter-example
    rules = learn(answers, min_count=5)
    assert rules.suffixes["에"] == round(10 / 11, 3)
    assert "년에" not in rules.suffixes  # the gold never stops before "년에"


def test_rare_or_unreliable_cuts_are_not_rules():
    few = [aligned("상을 받았다", "상", "상을")] * 3
    assert learn(few, min_count=5).suffixes == {}
    mixed = [aligned("상을 받았다", "상", "상을")] * 5 + [aligned("상을 받았다", "상을", "상을")] * 6
    assert learn(mixed, min_count=5).suffixes == {}


def test_apply_cuts_one_longest_rule_and_never_empties_the_answer():
    rules = BoundaryRules(suffixes={"에": 0.9, "에서": 0.9}, prefixes={"《": 0.8})
    context = "《토지》에서 나온 서울에"
    assert apply(rules, context, 0, 6) == (1, 4)  # 《토지》에서 -> 토지》
    assert apply(rules, context, 12, 13) == (12, 13)  # "에" alone stays
    assert apply(BoundaryRules(), context, 0, 6) == (0, 6)


def test_rules_round_trip_through_json():
    rules = BoundaryRules({"을": 0.96}, {}, {"주의": 0})
    assert BoundaryRules.from_json(rules.to_json()) == rules
    assert BoundaryRules.from_json(None) is None
    assert BoundaryRules.from_json({"suffixes": {"을": 0.96}, "prefixes": {}}).tokens == {}  # older models


def test_a_token_whose_own_answers_disagree_with_its_suffix_rule_becomes_an_exception():
    # "의" is a particle after "년" (1990년의 -> 1990년) but part of the piece "주의" (-ism: 민주주의 stays whole).
    answers = [aligned(f"그는 {y}년의 일이다", f"{y}년", f"{y}년의", "년의") for y in range(1900, 1910)]
    answers += [
        aligned(f"{w}주의 사상", f"{w}주의", f"{w}주의", "주의") for w in ["민주", "자본", "사회", "공산", "제국"]
    ]
    rules = learn(answers, min_count=5)
    assert rules.suffixes["의"] == round(10 / 15, 3)
    assert rules.tokens == {"주의": 0}  # "년의" agrees with the suffix rule, so it needs no entry
    context = "민주주의 1990년의"
    assert apply(rules, context, 0, 4, last_token_start=2) == (0, 4)
    assert apply(rules, context, 5, 11, last_token_start=9) == (5, 10)


def test_only_cuts_inside_a_token_never_a_whole_one():
    rules = BoundaryRules({"에": 0.97}, {})
    context = "김영삼 대통령에 1990년에"
    # "대통령" + a standalone "에" token: including it was the model's choice.
    assert apply(rules, context, 0, 8, last_token_start=7) == (0, 8)
    assert apply(rules, context, 9, 15, last_token_start=13) == (9, 14)  # "년에" is one token: cut inside it


def test_the_decoder_applies_rules_inside_the_last_token():
    context = "그는 1990년에 태어났다"
    w = make_window(context, [(0, 2), (3, 7), (7, 9), (10, 14)])
    s, e = logits_for(w, starts=[(w.passage_start + 1, 9)], ends=[(w.passage_start + 2, 9)])
    assert decode([w], [s], [e], [context]).answers[0].text == "1990년에"
    cut = decode([w], [s], [e], [context], boundaries=BoundaryRules({"에": 0.97}, {})).answers[0]
    assert (cut.text, cut.start, cut.end) == ("1990년", 3, 8) and context[cut.start : cut.end] == cut.text
    # The same passage tokenised "1990" "년" "에": the last token is the particle alone, and it stays.
    w = make_window(context, [(0, 2), (3, 7), (7, 8), (8, 9), (10, 14)])
    s, e = logits_for(w, starts=[(w.passage_start + 1, 9)], ends=[(w.passage_start + 3, 9)])
    kept = decode([w], [s], [e], [context], boundaries=BoundaryRules({"에": 0.97}, {})).answers[0]
    assert kept.text == "1990년에"


def test_rules_are_learned_from_real_token_offsets(tmp_path):
    from korqa.data import QAItem
    from korqa.tokenizer import load_tokenizer
    from korqa.train import learn_boundaries

    # A vocabulary where the particle is glued to the syllable before it: "사아에" = 사 + ##아에.
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n가\n사\n##아에\n0\n1\n2\n3\n4\n5\n")
    tokenizer = load_tokenizer(tmp_path)
    assert tokenizer.tokens("사아에") == ["사", "##아에"]
    items = [QAItem(str(i), "q", f"가 사아에 {i}", ("사아",), (2,)) for i in range(6)]
    rules = learn_boundaries(tokenizer, items)
    assert rules.suffixes == {"에": 1.0}
