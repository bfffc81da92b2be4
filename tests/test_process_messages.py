"""Tests of air.Process_Utils.process_messages: analysis-output parsing, prompts, question extraction."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from air.Process_Utils.process_messages import (
    MAX_REASON_CHARS,
    FrameScore,
    build_analysis_prompt,
    format_query,
    parse_analysis_output,
)

# (output text as a backbone might produce it, expected score, expected reason)
PARSE_TABLE = [
    # the format we ask for
    ("Score: 4\nReasoning: The man is holding the red cup the question asks about.", 4,
     "The man is holding the red cup the question asks about."),
    ("score: 2\nreasoning: only the kitchen is visible, no person.", 2, "only the kitchen is visible, no person."),
    ("SCORE: 5\nREASONING: The scoreboard shows the final result 3-1.", 5,
     "The scoreboard shows the final result 3-1."),
    # markdown (Qwen / InternVL like to bold the labels)
    ("**Score**: 4\n**Reasoning**: The dog is clearly jumping over the fence.", 4,
     "The dog is clearly jumping over the fence."),
    ("**Score:** 3\n**Reasoning:** The frame shows the room just before the woman enters.", 3,
     "The frame shows the room just before the woman enters."),
    ("### Score: 1\n### Reasoning: A black title card with no content.", 1, "A black title card with no content."),
    ("`Score: 5`\n`Reasoning: The answer text is written on the board.`", 5,
     "The answer text is written on the board."),
    # fractions, brackets, equals, number words, integral decimals
    ("Score: 4/5\nReasoning: The car is red, but partly hidden.", 4, "The car is red, but partly hidden."),
    ("Score: 4 out of 5\nReason: The car is visible.", 4, "The car is visible."),
    ("score = 4\nexplanation = the bird lands on the branch.", 4, "the bird lands on the branch."),
    ("Score: [4]\nReasoning: [The chef adds salt.]", 4, "[The chef adds salt.]"),
    ("Score: (2)\nReasoning: Mostly background.", 2, "Mostly background."),
    ("Relevance score: 4\nExplanation: The player scores a goal.", 4, "The player scores a goal."),
    ("Score (1-5): 5\nJustification: The clock reads 10:15.", 5, "The clock reads 10:15."),
    ("Score: four\nReasoning: The cat sits on the mat.", 4, "The cat sits on the mat."),
    ("Score: 4.0\nReasoning: Clear view of the sign.", 4, "Clear view of the sign."),
    ('{"score": 3, "reasoning": "The hallway appears before the fight."}', 3,
     "The hallway appears before the fight."),
    # bare digit lines and leading digits (LLaVA-style short answers)
    ("4", 4, ""),
    ("3\nThe frame shows the kitchen before the cooking starts.", 3,
     "The frame shows the kitchen before the cooking starts."),
    ("**5**", 5, ""),
    ("4 - the goalkeeper catches the ball. The crowd cheers.", 4, "the goalkeeper catches the ball."),
    # chatty outputs
    ("Sure! Let me look at the frame carefully.\n\nScore: 4\nReasoning: The person in the blue shirt "
     "is opening the door, which matches the question. Overall this is strong evidence.", 4,
     "The person in the blue shirt is opening the door, which matches the question."),
    ("The image shows a man cutting vegetables on a wooden board. Since the question asks what he "
     "cooks, this is related context.\n\nScore: 3", 3,
     "The image shows a man cutting vegetables on a wooden board."),
    ("I would give this frame a score of 4 because the trophy is visible on the table.", 4,
     "I would give this frame a score of 4 because the trophy is visible on the table."),
    ("Based on the visual content, the relevance score for this frame is 2. It only shows the sky.", 2,
     "Based on the visual content, the relevance score for this frame is 2."),
    ("Score: 4\n\nReasoning:\nThe whiteboard with the formula is readable.\nSecond line.", 4,
     "The whiteboard with the formula is readable."),
    ("Reasoning: The woman is holding the umbrella the question mentions. Score: 5", 5,
     "The woman is holding the umbrella the question mentions."),
    ("Score: 4, Reasoning: the bus number is legible.", 4, "the bus number is legible."),
    ("Score: 3\nReasoning: e.g. the scene before the race starts.", 3, "e.g. the scene before the race starts."),
    # several scores: the first labelled one wins; a labelled one beats prose
    ("Score: 2\nReasoning: At first I thought a score of 5, but the face is hidden.", 2,
     "At first I thought a score of 5, but the face is hidden."),
    ("One could argue for a score of 5 here.\nScore: 3\nReasoning: The face is hidden.", 3,
     "The face is hidden."),
    ("Score: 6\nScore: 4\nReasoning: Typo above.", None, "Typo above."),
    # unparseable: out of range, decimals, ranges, wrong denominators, nothing at all
    ("Score: 0\nReasoning: Nothing.", None, "Nothing."),
    ("Score: 6\nReasoning: Extremely relevant.", None, "Extremely relevant."),
    ("Score: 10\nReasoning: Perfect.", None, "Perfect."),
    ("Score: -1", None, ""),
    ("Score: 4.5\nReasoning: Between clear and sufficient.", None, "Between clear and sufficient."),
    ("Score: 8/10", None, ""),
    ("Score: 3-4\nReasoning: Hard to tell.", None, "Hard to tell."),
    ("Score: <an integer from 1 to 5>\nReasoning: <one sentence>", None, "<one sentence>"),
    ("I cannot determine the relevance of this frame.", None,
     "I cannot determine the relevance of this frame."),
    ("1. The frame shows a car.\n2. The car is blue.", None, "1. The frame shows a car."),
    ("", None, ""),
    ("   \n\t ", None, ""),
]


@pytest.mark.parametrize(("text", "score", "reason"), PARSE_TABLE)
def test_parse_table(text, score, reason):
    result = parse_analysis_output(text)
    assert isinstance(result, FrameScore)
    assert result.score == score, f"score of {text!r}"
    assert result.reason == reason, f"reason of {text!r}"
    assert result.raw == text


def test_parse_table_is_large_and_varied():
    assert len(PARSE_TABLE) >= 25
    assert {row[1] for row in PARSE_TABLE} == {1, 2, 3, 4, 5, None}


@pytest.mark.parametrize("value", [0, 6, 7, 10, 42, 100, -1, -5])
def test_out_of_range_is_never_clamped(value):
    assert parse_analysis_output(f"Score: {value}\nReasoning: x.").score is None
    assert parse_analysis_output(f"{value}").score is None


@pytest.mark.parametrize("value", [1, 2, 3, 4, 5])
def test_every_valid_digit_in_every_layout(value):
    for layout in ("Score: {}", "**Score**: {}", "**Score:** {}", "score={}", "Score: {}/5", "Score: [{}]",
                   "Relevance score: {}", "{}", "Rating: {}", "The score is {}."):
        text = layout.format(value)
        assert parse_analysis_output(text).score == value, text


def test_reason_is_trimmed_to_one_bounded_sentence():
    long_reason = "word " * 200
    result = parse_analysis_output(f"Score: 3\nReasoning: {long_reason}")
    assert result.score == 3
    assert len(result.reason) <= MAX_REASON_CHARS
    assert result.reason.endswith("...")


def test_non_string_input_never_raises():
    assert parse_analysis_output(None) == FrameScore(score=None, reason="", raw="")
    assert parse_analysis_output(4).score == 4  # str(4) is a bare digit
    assert parse_analysis_output(b"Score: 4\xff") == FrameScore(score=4, reason="\ufffd", raw="Score: 4\ufffd")

    class Hostile:
        def __str__(self):
            raise RuntimeError("no")

    assert parse_analysis_output(Hostile()) == FrameScore(score=None, reason="", raw="")


_SNIPPETS = st.sampled_from(
    ["Score", "score:", "**", "Reasoning:", "Reason", "/5", "/", "[", "]", "(", ")", "=", "-", "4", "5", "0",
     "4.5", "\n", " ", "out of", "four", "{", "\"score\":", "1.", "2.", "#", "`", "__", "é", "\u2014", "\x00"]
)
_TEXTS = st.one_of(
    st.text(max_size=400),
    st.lists(st.one_of(_SNIPPETS, st.text(max_size=8)), max_size=40).map("".join),
)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXTS)
def test_arbitrary_text_never_raises(text):
    result = parse_analysis_output(text)
    assert isinstance(result, FrameScore)
    assert result.raw == text
    assert result.score is None or (isinstance(result.score, int) and 1 <= result.score <= 5)
    assert isinstance(result.reason, str) and len(result.reason) <= MAX_REASON_CHARS
    assert "\n" not in result.reason


def test_long_adversarial_input_is_fast():
    import time

    text = ("Score" + " " * 50 + "(" * 30 + "score of " * 50) * 200
    start = time.perf_counter()
    parse_analysis_output(text)
    assert time.perf_counter() - start < 2.0


def test_prompt_holds_rubric_format_and_query():
    query = format_query("What does the man hold?", ["A cup", "A phone"])
    assert query == "What does the man hold?\nOptions:\nA. A cup\nB. A phone"
    prompt = build_analysis_prompt(query)
    assert prompt.startswith(prompt.split("\n")[0])
    assert "Score: <an integer from 1 to 5>" in prompt and "Reasoning: <one sentence>" in prompt
    assert prompt.endswith("Question: " + query)
    # the rubric's own format line must not be read as a score when a model echoes it
    assert parse_analysis_output(prompt).score is None
