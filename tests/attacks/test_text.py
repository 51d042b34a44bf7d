from robustness.attacks.text import PromptText
from robustness.attacks.transformations import StressSuffixes
from tests.attacks.fakes import SST2_PROMPT


def test_words_follow_textattack_segmentation() -> None:
    p = PromptText(SST2_PROMPT)
    assert p.words == [
        "Analyze", "the", "tone", "of", "this", "statement", "and", "respond", "with", "either",
        "positive'", "or", "negative'", "Question", "content", "Answer",
    ]  # fmt: skip
    assert PromptText("it's a -well-known _x").words == ["it's", "a", "well-known", "x"]


def test_replace_word_keeps_the_rest_of_the_text() -> None:
    p = PromptText(SST2_PROMPT)
    q = p.replace_word(2, "mood")
    assert q.text == SST2_PROMPT.replace("tone", "mood")
    assert q.modified == {2}
    r = q.replace_word(0, "[UNK]")
    assert r.text.startswith("[UNK] the mood") and r.words[0] == "UNK" and r.modified == {0, 2}


def test_replacement_with_several_words_shifts_later_indices() -> None:
    p = PromptText("alpha beta gamma").replace_word(2, "G")
    q = p.replace_word(0, "a1 a2")
    assert q.words == ["a1", "a2", "beta", "G"]
    assert q.modified == {0, 1, 3}
    assert PromptText("x yy z").replace_word(1, "").words == ["x", "z"]


def test_stresstest_placement() -> None:
    p = PromptText(SST2_PROMPT)
    pb = StressSuffixes("promptbench").all(p)
    # TextAttack joins the word and the suffix with a space, and the suffix starts with one: two spaces
    # (checked against PromptBench 0.0.4 / TextAttack 0.3.11 by bench/eval_vs_promptbench/bench_attacks.py).
    assert pb[0].text.endswith("{content}\nAnswer  and true is true :")
    assert pb[2].text.endswith("Answer " + " and true is true " * 5 + ":")
    assert pb[1].text.endswith("\nAnswer  and false is not true :")
    end = StressSuffixes("end").all(p)
    assert end[0].text == SST2_PROMPT + " and true is true "
    assert all(c.text.count("{content}") == 1 for c in pb + end)
