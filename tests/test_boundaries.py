"""Character-level answer boundaries learned from training answers."""

from korqa.boundaries import AlignedAnswer, BoundaryRules, apply, learn
from korqa.spans import decode
from tests.test_spans import logits_for, make_window


def aligned(context, gold, token_text):
    t = context.index(token_text)
    g = context.index(gold, t)
    return AlignedAnswer(context, g, g + len(gold), t, t + len(token_text))


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
    rules = BoundaryRules({"을": 0.96}, {})
    assert BoundaryRules.from_json(rules.to_json()) == rules
    assert BoundaryRules.from_json(None) is None


def test_the_decoder_applies_rules_inside_the_last_token():
    context = "그는 1990년에 태어났다"
    w = make_window(context, [(0, 2), (3, 7), (7, 9), (10, 14)])
    s, e = logits_for(w, starts=[(w.passage_start + 1, 9)], ends=[(w.passage_start + 2, 9)])
    assert decode([w], [s], [e], [context]).answers[0].text == "1990년에"
    cut = decode([w], [s], [e], [context], boundaries=BoundaryRules({"에": 0.97}, {})).answers[0]
    assert (cut.text, cut.start, cut.end) == ("1990년", 3, 8) and context[cut.start : cut.end] == cut.text


def test_rules_are_learned_from_real_token_offsets(tmp_path):
    from korqa.evaluate import QAItem
    from korqa.tokenizer import load_tokenizer
    from korqa.train import learn_boundaries

    # A vocabulary where the particle is glued to the syllable before it: "사아에" = 사 + ##아에.
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n가\n사\n##아에\n0\n1\n2\n3\n4\n5\n")
    tokenizer = load_tokenizer(tmp_path)
    assert tokenizer.tokens("사아에") == ["사", "##아에"]
    items = [QAItem(str(i), "q", f"가 사아에 {i}", ("사아",), (2,)) for i in range(6)]
    rules = learn_boundaries(tokenizer, items)
    assert rules.suffixes == {"에": 1.0}
