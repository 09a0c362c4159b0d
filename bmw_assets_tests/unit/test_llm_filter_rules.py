"""The LLM filter's pure parts: paragraphs and chunks, the decision rule, the prompt file,
and endpoint settings (no server)."""

from __future__ import annotations

import pytest

from bmw_assets.llm_filter.decision import (
    FilterSettings,
    ModelAnswers,
    answers_from_json,
    decide,
    decision_json,
)
from bmw_assets.llm_filter.endpoint import EndpointSettings
from bmw_assets.llm_filter.paragraphs import (
    chunk_paragraphs,
    join_paragraphs,
    split_paragraphs,
)
from bmw_assets.llm_filter.prompt import load_prompt


def test_split_paragraphs_at_blank_lines_and_join_back():
    text = "Munich. First para\nstill first.\n\n  \n\nSecond.\n \t\nThird.\n"
    assert split_paragraphs(text) == ["Munich. First para\nstill first.", "Second.", "Third."]
    assert split_paragraphs(join_paragraphs(split_paragraphs(text))) == split_paragraphs(text)
    assert split_paragraphs(" \n\n ") == []


@pytest.mark.parametrize("max_chars,max_paragraphs", [(10, 3), (50, 2), (1000, 64), (1, 1)])
def test_chunks_cover_every_paragraph_once_within_bounds(max_chars, max_paragraphs):
    paragraphs = [f"p{i} " + "x" * (i * 7 % 23) for i in range(41)]
    chunks = chunk_paragraphs(paragraphs, max_chars, max_paragraphs)
    assert [i for chunk in chunks for i in chunk] == list(range(41))
    for chunk in chunks:
        assert len(chunk) <= max_paragraphs
        # Over the character bound only as a paragraph alone (never cut).
        assert len(chunk) == 1 or sum(len(paragraphs[i]) for i in chunk) <= max_chars


def test_a_paragraph_longer_than_the_bound_is_kept_whole_in_its_own_chunk():
    paragraphs = ["short", "y" * 500, "short again"]
    assert chunk_paragraphs(paragraphs, 100, 10) == [range(0, 1), range(1, 2), range(2, 3)]


def test_decide_drops_only_below_threshold_and_keeps_by_default():
    answers = ModelAnswers((0.9, 0.05, 0.2, 0.19), (None,))
    decision = decide(answers, FilterSettings(keep_threshold=0.2))
    assert decision.kept == (0, 2) and decision.dropped == (1, 3) and not decision.rejected


def test_decide_rejects_when_nearly_everything_is_dropped_or_every_chunk_is_rejected():
    mostly_furniture = ModelAnswers((0.01,) * 9 + (0.9,), (None,))
    assert decide(mostly_furniture, FilterSettings(reject_dropped_fraction=0.9)).rejected
    assert not decide(mostly_furniture, FilterSettings(reject_dropped_fraction=1.0)).rejected
    one_chunk_rejected = ModelAnswers((1.0, 1.0), ("not English", None))
    assert not decide(one_chunk_rejected, FilterSettings()).rejected
    all_rejected = decide(ModelAnswers((1.0, 1.0), ("not English", "German")), FilterSettings())
    assert all_rejected.rejected and "not English" in all_rejected.reason


def test_decision_document_round_trips_the_answers():
    answers = ModelAnswers((0.5, 0.1), (None, "junk"))
    document = decision_json(answers, decide(answers, FilterSettings()), 0.2)
    assert answers_from_json(document) == answers


def test_settings_reject_impossible_values():
    with pytest.raises(ValueError, match="max_chunk_paragraphs"):
        FilterSettings(max_chunk_paragraphs=65)
    with pytest.raises(ValueError, match="keep_threshold"):
        FilterSettings(keep_threshold=1.5)
    with pytest.raises(ValueError, match="api="):
        EndpointSettings(base_url="http://x/v1", model="m", api="completions")


def test_prompt_file_carries_its_version_and_sections(tmp_path):
    prompt = load_prompt()
    assert prompt.version == "filter_v1"
    assert "{weird} braces" in prompt.question_for("{weird} braces")
    assert "[1] b" in prompt.chat_user_for(["a", "b"])
    broken = tmp_path / "filter_v9.md"
    broken.write_text("---\nversion: filter_v9\n---\n## state\nx\n")
    with pytest.raises(ValueError, match="missing sections"):
        load_prompt(broken)
    broken.write_text("no frontmatter")
    with pytest.raises(ValueError, match="frontmatter"):
        load_prompt(broken)


def test_api_key_comes_from_the_named_variable_and_never_shows(monkeypatch):
    settings = EndpointSettings.production("http://127.0.0.1:9/v1", api_key_env="BMW_TEST_LLM_KEY")
    monkeypatch.delenv("BMW_TEST_LLM_KEY", raising=False)
    with pytest.raises(ValueError, match="BMW_TEST_LLM_KEY"):
        settings.client()
    monkeypatch.setenv("BMW_TEST_LLM_KEY", "sk-secret-123")
    assert settings.client().api_key == "sk-secret-123"
    assert "sk-secret-123" not in repr(settings)


def test_only_short_paragraphs_are_judged_when_capped_and_the_cache_key_says_so():
    from bmw_assets.llm_filter.decision import FilterSettings

    paragraphs = ["Media Information", "x" * 301, "Page 2", "y" * 300]
    assert FilterSettings().judged(paragraphs) == [0, 1, 2, 3]
    capped = FilterSettings(max_judged_chars=300)
    assert capped.judged(paragraphs) == [0, 2, 3]
    assert capped.cache_version("filter_v1") != FilterSettings().cache_version("filter_v1") == "filter_v1"
