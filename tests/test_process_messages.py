"""Tests of air.Process_Utils.process_messages: analysis-output parsing, prompts, question extraction."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from air.Process_Utils.process_messages import (
    MAX_REASON_CHARS,
    FrameScore,
    build_analysis_prompt,
    extract_question_options,
    format_query,
    parse_analysis_output,
    timestamp_prefix,
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
    ("Score: 3\n- 2 people are visible.\n- 1 car.", 3, "2 people are visible."),  # not a range "3 - 2"
    ("Score: 4th place\nScore: 2\nReasoning: x.", 2, "x."),  # "4th" is not a score value
    ("Score: <an integer from 1 to 5>\nReasoning: <one sentence>", None, "<one sentence>"),
    ("The striker scores 2 goals in this frame.", None, "The striker scores 2 goals in this frame."),
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


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=1, max_value=5), st.text(max_size=200))
def test_labelled_score_line_wins_over_any_following_text(value, suffix):
    text = f"Score: {value}\n" + suffix
    assert parse_analysis_output(text).score == value


_N = 50_000
_ADVERSARIAL = [
    "\n" + " " * _N + "x",
    "Reasoning:" + " " * _N + "x",
    "Score" + " " * _N,
    "Score:" + " " * _N + "x",
    "4" + " " * _N + "x",
    "score (" + " " * _N,
    "* " * _N,
    " \n\t" * _N,
    "Score: 4 " * (_N // 8),
    "Reasoning:" + "\n" * _N + "x",
    "4. " * _N,
    "(A)" * (_N // 3),
    "A. x\n" * (_N // 5),
    "(A) x\n(B) y\n" * (_N // 12),
    "Question:" + " " * _N,
    "This video's subtitles are listed below:\n" * (_N // 40),
    ("Score" + " " * 50 + "(" * 30 + "score of " * 50) * 100,
]


@pytest.mark.parametrize("text", _ADVERSARIAL, ids=[repr(t[:10]) for t in _ADVERSARIAL])
def test_long_adversarial_input_stays_linear(text):
    # Regexes with nested or adjacent whitespace quantifiers went quadratic here (tens of seconds)
    # before whitespace normalisation; now each call takes milliseconds.
    import time

    start = time.perf_counter()
    parse_analysis_output(text)
    extract_question_options(text)
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


def test_analysis_prompt_has_every_element_of_the_papers_prompt():
    """SPEC.md Stage 2.3: each element of the paper's analysis prompt (A.2.5), in our own words."""
    from air.Process_Utils.process_messages import ANALYSIS_PROMPT_VERSION

    prompt = build_analysis_prompt("What is the woman doing?\nOptions:\nA. cooking\nB. reading")
    lines = prompt.splitlines()
    lower = prompt.lower()
    assert "expert visual reasoner" in lower
    assert "step by step" in lower and "single image" in lower
    rubric = {int(line[0]): line for line in lines if line[:1].isdigit() and line[1:4] == " = "}
    assert sorted(rubric) == [1, 2, 3, 4, 5]
    assert "unrelated" in rubric[1] and "weak hint" in rubric[2]
    assert "related context" in rubric[3] and "set-up" in rubric[3] and "follow-up" in rubric[3]
    assert "clear evidence" in rubric[4] and "ambiguity" in rubric[4]
    assert "sufficient evidence" in rubric[5] and "without any ambiguity" in rubric[5]
    assert "do not overthink" in lower and "first judgment" in lower
    examples = [line for line in lines if line.startswith("Example:")]
    assert len(examples) == 2
    assert "empty room" in examples[0] and examples[0].endswith("-> 1.")
    assert "exactly the action" in examples[1] and examples[1].endswith("-> 5.")
    format_at = lines.index("Score: <an integer from 1 to 5>")
    assert lines[format_at + 1] == "Reasoning: <one sentence>"
    assert ANALYSIS_PROMPT_VERSION == 2
    # an echo of the prompt, or of any one of its lines, never yields a score
    assert parse_analysis_output(prompt).score is None
    assert all(parse_analysis_output(line).score is None for line in lines)
    # while the two output lines it asks for parse
    reply = parse_analysis_output("Score: 4\nReasoning: The woman stirs a pot on the stove.")
    assert reply == FrameScore(4, "The woman stirs a pot on the stove.", "Score: 4\nReasoning: The woman stirs a pot on the stove.")


# ---------------------------------------------------------------------------------------------
# Question / options extraction from lmms-eval context strings.
# Each context is built the way lmms-eval 0.7.3's task utils build it (doc_to_text + the YAML's
# lmms_eval_specific_kwargs), with made-up docs.
# ---------------------------------------------------------------------------------------------


_VIDEOMME_INSTRUCTION = (
    "Select the best answer to the following multiple-choice question based on the video and the subtitles. "
    "Respond with only the letter (A, B, C, or D) of the correct option."
)
_VMME_OPTIONS = ["A. Apples.", "B. Bananas.", "C. Cherries.", "D. Dates."]
_VMME_QUESTION = "What fruit does the woman put into the blender first?"


def _videomme(post_prompt):
    # videomme_doc_to_text: option_prompt + "\n" + question + "\n" + options + "\n" + post_prompt
    return _VIDEOMME_INSTRUCTION + "\n" + _VMME_QUESTION + "\n" + "\n".join(_VMME_OPTIONS) + "\n" + post_prompt


_SUBTITLES = "Welcome back to the channel.\nA. B. C. is the first song we learn.\nToday: smoothies!\n"
_FRUITS = ["Apples.", "Bananas.", "Cherries.", "Dates."]

EXTRACT_TABLE = [
    # Video-MME, default kwargs
    ("videomme default", _videomme("\nAnswer with the option's letter from the given choices directly."),
     _VMME_QUESTION, _FRUITS),
    # Video-MME, llava_vid / gpt4v kwargs
    ("videomme llava_vid", _videomme("The best answer is:"), _VMME_QUESTION, _FRUITS),
    ("videomme gpt4v", _videomme("Answer the question with A, B, C, or D."), _VMME_QUESTION, _FRUITS),
    # Video-MME, qwen3_vl format: f"{pre_prompt}{question}\nOptions:\n{option}\n{post_prompt}"
    ("videomme qwen3_vl", "Question: " + _VMME_QUESTION + "\nOptions:\n" + "\n".join(_VMME_OPTIONS)
     + "\nAnswer with the option letter only.", _VMME_QUESTION, _FRUITS),
    # Video-MME with subtitles: subtitles_prompt + subtitle + "\n" + option_prompt + "\n" + question ...
    ("videomme subtitles", "This video's subtitles are listed below: \n" + _SUBTITLES + "\n" + _VIDEOMME_INSTRUCTION
     + "\n" + _VMME_QUESTION + "\n" + "\n".join(_VMME_OPTIONS) + "\nThe best answer is:", _VMME_QUESTION, _FRUITS),
    ("videomme subtitles qwen3_vl", "This video's subtitles are listed below: \n" + _SUBTITLES + "\n"
     + "Question: " + _VMME_QUESTION + "\nOptions:\n" + "\n".join(_VMME_OPTIONS)
     + "\nAnswer with the option letter only.", _VMME_QUESTION, _FRUITS),
    ("videomme no subtitles available", "This video's subtitles are listed below: \nNo subtitles available\n"
     + _VIDEOMME_INSTRUCTION + "\n" + _VMME_QUESTION + "\n" + "\n".join(_VMME_OPTIONS) + "\nThe best answer is:",
     _VMME_QUESTION, _FRUITS),
    # MLVU dev: the doc's question already holds "(A) ..." lines; post "\nOnly give the best option.\nBest option: ("
    ("mlvu dev", "What is the main background of the video?\n(A) Grassland\n(B) Desert\n(C) Ocean\n(D) City\n"
     "\nOnly give the best option.\nBest option: (", "What is the main background of the video?",
     ["Grassland", "Desert", "Ocean", "City"]),
    ("mlvu plm", "How many times does the dog jump?\n(A) 1\n(B) 2\n(C) 3\n(D) 4\n\nOnly give the best option.",
     "How many times does the dog jump?", ["1", "2", "3", "4"]),
    ("mlvu question/options labels", "Question: In what order do the events happen?\nOptions:\n"
     "(A) cook, eat, wash\n(B) eat, cook, wash\n(C) wash, cook, eat\n(D) cook, wash, eat\n"
     "Only give the best option.", "In what order do the events happen?",
     ["cook, eat, wash", "eat, cook, wash", "wash, cook, eat", "cook, wash, eat"]),
    # LongVideoBench: f"{pre_prompt}{question}\n{post_prompt}", question = q + "\nA. x\nB. y..."
    ("longvideobench", "What is the man in the red jacket holding when he first enters the room?\n"
     "A. A laptop\nB. A coffee cup\nC. A newspaper\nD. An umbrella\nE. Nothing\n"
     "Answer with the option's letter from the given choices directly.\n",
     "What is the man in the red jacket holding when he first enters the room?",
     ["A laptop", "A coffee cup", "A newspaper", "An umbrella", "Nothing"]),
    # LongVideoBench interleaved subtitles: "\n".join of "<image>" and subtitle lines, then the question
    ("longvideobench interleaved", "<image>\n<image>\nHi, I'm late again.\n<image>\nWhere is my coffee?\n<image>\n"
     "What does the man ask for after apologising?\nA. His keys\nB. His coffee\nC. A taxi\nD. The time\n"
     "Answer with the option's letter from the given choices directly.\n",
     "What does the man ask for after apologising?", ["His keys", "His coffee", "A taxi", "The time"]),
    # NExT-QA mc: "\n".join([question] + [f"{L}. {a_i}"]) with empty pre/post prompts
    ("nextqa mc", "why did the boy pick up one present from the group of them and move to the sofa\n"
     "A. share with the girl\nB. approach lady sitting there\nC. unwrap it\nD. playing with toy train\n"
     "E. gesture something",
     "why did the boy pick up one present from the group of them and move to the sofa",
     ["share with the girl", "approach lady sitting there", "unwrap it", "playing with toy train",
      "gesture something"]),
    ("nextqa parenthesised", "what does the lady do after the baby falls\n(A) laughs\n(B) picks him up\n"
     "(C) walks away\n(D) claps\n(E) sings\nAnswer with the option's letter from the given choices directly.",
     "what does the lady do after the baby falls", ["laughs", "picks him up", "walks away", "claps", "sings"]),
    # NExT-QA open-ended: no options
    ("nextqa oe", "what is the man doing on the stage\nAnswer a question using a short phrase or sentence.",
     "what is the man doing on the stage", []),
    # EgoSchema: question + "\n" + each "A. ..." option, post "\nAnswer with the option's letter ..."
    ("egoschema", "Taking into account all the actions performed by c, what can you deduce about the primary "
     "objective of the video?\nA. C is cleaning the kitchen.\nB. C is cooking a meal.\nC. C is repairing a sink.\n"
     "D. C is organising the fridge.\nE. C is washing dishes.\n"
     "Answer with the option's letter from the given choices directly.",
     "Taking into account all the actions performed by c, what can you deduce about the primary objective "
     "of the video?", ["C is cleaning the kitchen.", "C is cooking a meal.", "C is repairing a sink.",
                       "C is organising the fridge.", "C is washing dishes."]),
    ("egoschema gpt4v prompt", "Please answer the question about the video:\nWhat is c mostly doing?\n"
     "A. reading\nB. painting\nC. cooking\nD. sleeping\nE. running\n"
     "Answer with the option's letter from the given choices directly.",
     "What is c mostly doing?", ["reading", "painting", "cooking", "sleeping", "running"]),
    # other layouts seen in the wild
    ("inline options", "Which animal appears first? (A) cat (B) dog (C) bird", "Which animal appears first?",
     ["cat", "dog", "bird"]),
    ("A) layout with CRLF", "Which hand holds the cup?\r\nA) left\r\nB) right\r\n", "Which hand holds the cup?",
     ["left", "right"]),
    ("image placeholder first", "<video>\nWhat is on the table?\nA. A vase\nB. A book", "What is on the table?",
     ["A vase", "A book"]),
    ("plain question", "Describe the video in one sentence.", "Describe the video in one sentence.", []),
    ("empty", "", "", []),
]


@pytest.mark.parametrize(("case", "context", "question", "options"), EXTRACT_TABLE, ids=[r[0] for r in EXTRACT_TABLE])
def test_extract_question_options(case, context, question, options):
    assert extract_question_options(context) == (question, options)


def test_extract_single_option_is_not_a_list():
    # One "A." line alone is not an option list (it is part of the text).
    question, options = extract_question_options("Name the first letter.\nA. is the answer?")
    assert options == []
    assert question == "Name the first letter.\nA. is the answer?"


def test_extract_options_roundtrip_through_format_query():
    question, options = extract_question_options(format_query("What is shown?", ["a cat", "a dog", "a cow"]))
    assert (question, options) == ("What is shown?", ["a cat", "a dog", "a cow"])


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_extract_never_raises(text):
    question, options = extract_question_options(text)
    assert isinstance(question, str)
    assert isinstance(options, list) and all(isinstance(o, str) and o for o in options)
    assert len(options) != 1


def test_timestamp_prefix():
    assert timestamp_prefix([1.0, 3.5, 7.04]) == "The video frames were sampled at 1.0s, 3.5s, 7.0s."
    assert timestamp_prefix([]) == ""
