"""PromptBench's output reading on its tricky cases."""

import pytest

from robustness.parsing import last_word, parse_label


@pytest.mark.parametrize(
    ("raw", "dataset", "label"),
    [
        ("positive", "sst2", 1),
        ("Negative.", "sst2", 0),
        ("<pad> positive</s>", "sst2", 1),
        ("The tone of this statement is positive.", "sst2", 1),  # the last word counts
        ("The tone of this statement is positive,", "sst2", 1),
        ("positive. It describes a film that", "sst2", -1),  # a truncated answer ends elsewhere
        ("'negative'", "sst2", 0),
        ("Answer: negative!!", "sst2", 0),
        ("neutral", "sst2", -1),
        ("", "sst2", -1),
        ("Acceptable", "cola", 1),  # PromptBench's CoLA prompts ask for it capitalised
        ("Unacceptable", "cola", 0),
        ("unacceptable\n", "cola", 0),
        ("The sentence is grammatically acceptable.", "cola", 1),
        ("not acceptable", "cola", 1),  # PromptBench reads only the last word, so this is 'acceptable'
        ("positive", "cola", -1),
    ],
)
def test_parse_label(raw: str, dataset: str, label: int) -> None:
    assert parse_label(raw, dataset) == label


def test_last_word_strips_pad_and_punctuation() -> None:
    assert last_word("  <pad>Positive!</s>\n") == "positive"
    assert last_word("(negative)") == "negative"


@pytest.mark.parametrize(
    ("raw", "dataset", "label"),
    [
        ("The tone of this statement is positive, as it", "sst2", 1),  # chat-style: last_word reads -1
        ("The tone of this statement is predominantly negative, as", "sst2", 0),
        ("Positive: nolan is poised to embark on a", "sst2", 1),
        ("positive or negative? Negative.", "sst2", -1),  # both labels named: never guessed
        ("Unflinchingly bleak and desperate.", "sst2", -1),  # no label named
        ("positively", "sst2", -1),  # a whole word only
        ("This sentence is unacceptable.", "cola", 0),  # 'unacceptable' does not name 'acceptable'
        ("Acceptable, because the verb agrees", "cola", 1),
        ("acceptable? No: unacceptable", "cola", -1),
        ("<pad>negative</s>", "sst2", 0),
        ("", "sst2", -1),
    ],
)
def test_sole_label_reads_the_one_label_an_answer_names(raw: str, dataset: str, label: int) -> None:
    assert parse_label(raw, dataset, "sole_label") == label


def test_the_default_reading_is_promptbench_last_word() -> None:
    chat = "The tone of this statement is positive, as it"
    assert parse_label(chat, "sst2") == parse_label(chat, "sst2", "last_word") == -1
