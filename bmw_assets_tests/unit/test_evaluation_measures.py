"""The general-English text of the forgetting measure, the retrieval baseline's passages and
retrieval, and the fact-recall standard error."""

from __future__ import annotations

import json
import math

import pytest

from bmw_assets.evaluation.fact_recall import FactAnswer, FactRecallResult, guessed_recalls
from bmw_assets.evaluation.general_text import (
    ENTRIES_PER_DOCUMENT,
    GeneralTextUnavailable,
    general_documents,
    wordnet_entries,
    write_general_text,
)
from bmw_assets.evaluation.retrieval import article_texts, passages, rag_questions

WORDNET_LINE = (
    "00001740 29 v 04 {word} 0 take_a_breath 0 respire 0 suspire 3 000 | draw air into, and expel out of, "
    'the lungs; "I can breathe better when the air is clean"; "The patient is respiring"  \n'
)


def wordnet_folder(tmp_path, lines_per_file: int = 30):
    for part in ("noun", "verb", "adj", "adv"):
        header = "  1 This software and database is being provided to you, the LICENSEE, by  \n"
        body = "".join(WORDNET_LINE.format(word=f"{part}{i}") for i in range(lines_per_file))
        no_example = "00002000 29 v 01 sleep 0 000 | be asleep  \n"
        (tmp_path / f"data.{part}").write_text(header + body + no_example)
    return tmp_path


def test_wordnet_entries_are_sentences_with_their_examples(tmp_path):
    entries = wordnet_entries(wordnet_folder(tmp_path))
    assert len(entries) == 4 * 30  # the licence header and the gloss without an example are left out
    assert entries[0] == ("Noun0: draw air into, and expel out of, the lungs. I can breathe better when the air is clean. "
                          "The patient is respiring.")  # fmt: skip


def test_general_documents_are_bounded_and_the_same_every_time(tmp_path):
    folder = wordnet_folder(tmp_path)
    documents = general_documents(3000, folder)
    assert sum(map(len, documents)) <= 3000 + len(documents) * ENTRIES_PER_DOCUMENT
    assert all(len(d.splitlines()) <= ENTRIES_PER_DOCUMENT for d in documents) and len(documents) >= 2
    assert documents == general_documents(3000, folder)
    kinds = {line.split(":")[0].rstrip("0123456789") for d in documents for line in d.splitlines()}
    assert kinds == {"Noun", "Verb", "Adj", "Adv"}  # an even stride over all four files


def test_general_text_file_is_jsonl_of_texts(tmp_path):
    info = write_general_text(tmp_path / "general.jsonl", 2000, wordnet_folder(tmp_path))
    rows = [json.loads(line) for line in (tmp_path / "general.jsonl").read_text().splitlines()]
    assert info["documents"] == len(rows) and all(row["text"] for row in rows)
    assert "WordNet" in info["source"]


def test_missing_wordnet_says_how_to_install_it(tmp_path):
    with pytest.raises(GeneralTextUnavailable, match="apt-get install wordnet-base"):
        wordnet_entries(tmp_path)


def test_passages_keep_whole_sentences_within_the_word_limit():
    texts = ["Munich. The BMW iX is built in Dingolfing. It has 523 hp. Deliveries start in May.",
             "Oxford. The MINI Cooper SE is built in Oxford."]  # fmt: skip
    packed = passages(texts, max_words=8)
    assert all(len(p.split()) <= 8 or p.count(".") == 1 for p in packed)
    assert "Dingolfing." in " ".join(packed) and not any("May. Oxford" in p for p in packed)  # never across texts
    assert " ".join(packed).split() == " ".join(texts).split()  # nothing lost or repeated


def test_article_texts_prefer_article_rows_and_join_chunks(tmp_path):
    def row(article, style, chunk, content):
        return json.dumps({"article_id": article, "style": style, "chunk": chunk,
                           "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": content}]})  # fmt: skip

    split = tmp_path / "train.jsonl"
    split.write_text("\n".join([row("A", "article", 1, "second."), row("A", "instruct", 0, "instruct A."),
                                row("A", "article", 0, "First"), row("B", "instruct", 0, "Only B."),
                                row("B", "qa", 0, "qa B.")]) + "\n")  # fmt: skip
    assert article_texts(split) == ["First second.", "Only B."]


def test_retrieval_prompt_numbers_the_passages():
    (prompt,) = rag_questions(["Where is the iX built?"], [["The iX is built in Dingolfing.", "Other."]])
    assert "[1] The iX is built in Dingolfing." in prompt and "[2] Other." in prompt
    assert prompt.endswith("Question: Where is the iX built?")


@pytest.mark.parametrize(
    ("correct", "n", "expected"), [(0, 24, math.sqrt(2 / 28 * 26 / 28 / 28)), (12, 24, math.sqrt(0.25 / 28))]
)
def test_fact_recall_error_is_never_zero(correct, n, expected):
    answers = [FactAnswer("q", "a", "a", i < correct) for i in range(n)]
    result = FactRecallResult(answers, correct / n)
    assert result.standard_error == pytest.approx(expected)
    assert FactRecallResult([], float("nan")).standard_error is None


def test_a_value_given_to_several_questions_is_a_guess_not_a_recall():
    def answer(question: str, reference: str, prediction: str) -> dict:
        return {"question": question, "reference": reference, "prediction": prediction,
                "correct": reference.lower() in prediction.lower()}  # fmt: skip

    answers = [
        answer("Where is the X2 built?", "Plant Berlin", "It is built at Plant Berlin."),
        answer("Where is the M5 built?", "Plant Dingolfing", "It is built at Plant Berlin."),
        answer("Where is the iX2 built?", "Plant Regensburg", "It is built at Plant Berlin."),
        answer("Where is the M4 built?", "Plant Debrecen", "It is built at Plant Debrecen."),
        answer("How fast is the M4?", "250 km/h", "It reaches 240 km/h."),
    ]
    # Berlin is said three times and right once: a guess. Debrecen is said once, for its own question.
    assert sum(a["correct"] for a in answers) == 2 and guessed_recalls(answers) == 1
    assert guessed_recalls([]) == 0
