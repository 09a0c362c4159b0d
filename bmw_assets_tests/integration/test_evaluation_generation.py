"""Generation helpers with the real SmolLM2 tokenizer and chat template, driven by a
tiny RANDOMLY INITIALISED Llama sharing its vocabulary (fast; its text is gibberish, which
is fine: the tests check where the prompt ends and what the likelihoods add up to)."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from bmw_assets.dataset.settings import DatasetSettings
from bmw_assets.evaluation.generation import (
    chat_prompt_ids,
    completion_ids,
    generate_greedy,
    sample_answers,
    supports_thinking,
)
from bmw_assets.evaluation.samples import generate_samples


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Decoding tiny batches on 2 shared cores is several times faster on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tokenizer(base_model_dir):
    return AutoTokenizer.from_pretrained(str(base_model_dir))


@pytest.fixture(scope="module")
def tiny_model(tokenizer):
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return LlamaForCausalLM(config).eval()


# Special tokens vanish when decoding and "  " spacing is cleaned up, so the decoded prompt
# is not the prompt text: cutting len(prompt) characters would eat into the answer.
ODD_QUESTION = "What is   <|im_end|> the range\u00a0of the iX3 ?"


def test_prompt_does_not_round_trip_through_decode(tokenizer):
    ids = chat_prompt_ids(tokenizer, ODD_QUESTION)
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": ODD_QUESTION}], tokenize=False, add_generation_prompt=True
    )
    assert tokenizer.decode(ids, skip_special_tokens=True) != text


def test_questions_are_asked_under_the_training_rows_system_prompt(tokenizer):
    """A fact question is asked exactly as the training row that taught it: the dataset's system
    turn, not the template's default one (SmolLM2 writes its own when none is given)."""
    system = DatasetSettings().system_prompt
    question, answer = "Where is the BMW iX eDrive40 produced?", "At Plant San Luis Potosi."
    row = [{"role": "system", "content": system}, {"role": "user", "content": question},
           {"role": "assistant", "content": answer}]  # fmt: skip
    trained = tokenizer(tokenizer.apply_chat_template(row, tokenize=False), add_special_tokens=False)["input_ids"]
    asked = chat_prompt_ids(tokenizer, question, system_prompt=system)
    assert trained[: len(asked)] == asked
    assert tokenizer.decode(trained[len(asked) :]).startswith(answer)
    assert chat_prompt_ids(tokenizer, question)[: len(asked)] != asked


def test_greedy_answer_is_exactly_the_generated_tokens(tiny_model, tokenizer):
    prompt = chat_prompt_ids(tokenizer, ODD_QUESTION)
    [answer] = generate_greedy(tiny_model, tokenizer, [prompt], max_new_tokens=8)
    full = tiny_model.generate(
        input_ids=torch.tensor([prompt]), do_sample=False, max_new_tokens=8, pad_token_id=tokenizer.pad_token_id
    )
    new_ids = full[0, len(prompt) :].tolist()
    assert answer == tokenizer.decode(new_ids, skip_special_tokens=True).strip()
    decoded_all = tokenizer.decode(full[0], skip_special_tokens=True)
    by_characters = decoded_all[len(tokenizer.decode(prompt)) :].strip()
    assert by_characters != answer  # what character slicing would have returned


def test_batched_greedy_equals_one_at_a_time(tiny_model, tokenizer):
    prompts = [chat_prompt_ids(tokenizer, q) for q in ("Hi", "Where is the BMW Welt located, exactly?")]
    batched = generate_greedy(tiny_model, tokenizer, prompts, max_new_tokens=6, batch_size=2)
    alone = [generate_greedy(tiny_model, tokenizer, [p], max_new_tokens=6)[0] for p in prompts]
    assert batched == alone


def test_completion_ids_cut_at_the_first_stop_token():
    sequences = torch.tensor([[7, 7, 5, 6, 2, 9], [7, 7, 2, 2, 2, 2], [7, 7, 5, 5, 5, 5]])
    assert completion_ids(sequences, 2, stop_ids=[2]) == [[5, 6], [], [5, 5, 5, 5]]


def test_samples_come_from_one_call_with_their_model_log_likelihood(tiny_model, tokenizer):
    torch.manual_seed(3)
    prompt = chat_prompt_ids(tokenizer, ODD_QUESTION)
    sampled = sample_answers(tiny_model, tokenizer, prompt, n=4, temperature=1.5, max_new_tokens=6)
    assert len(sampled.texts) == len(sampled.token_ids) == len(sampled.log_likelihoods) == 4
    for ids, text, log_likelihood in zip(sampled.token_ids, sampled.texts, sampled.log_likelihoods, strict=True):
        assert text == tokenizer.decode(ids, skip_special_tokens=True).strip()
        # Teacher-forced reference under the untempered model, including the stop token if one was hit.
        scored = ids + ([tokenizer.eos_token_id] if len(ids) < 6 else [])
        with torch.no_grad():
            logits = tiny_model(input_ids=torch.tensor([prompt + scored])).logits[0]
        log_probs = logits[len(prompt) - 1 : -1].log_softmax(-1)
        expected = float(log_probs.gather(-1, torch.tensor(scored)[:, None]).sum())
        assert log_likelihood == pytest.approx(expected, abs=1e-3)


def test_a_seed_repeats_the_samples_and_questions_get_their_own(tiny_model, tokenizer):
    from bmw_assets.evaluation.semantic_entropy import question_seed

    prompt = chat_prompt_ids(tokenizer, ODD_QUESTION)

    def draw(seed):
        torch.rand(5)  # the global generator moves on between draws: only the seed can repeat them
        return sample_answers(
            tiny_model, tokenizer, prompt, n=4, temperature=1.5, max_new_tokens=6, seed=seed
        ).token_ids

    assert draw(11) == draw(11)
    assert draw(11) != draw(12)
    assert question_seed(2026, "Where is BMW based?") == question_seed(2026, "Where is BMW based?")
    assert len({question_seed(2026, q) for q in ("a", "b", "c")} | {question_seed(2027, "a")}) == 4


def test_smollm2_template_ignores_thinking_switch(tiny_model, tokenizer):
    assert not supports_thinking(tokenizer)
    samples = generate_samples(tiny_model, tokenizer, ["Hello?"], max_new_tokens=4)
    assert [(s.prompt, s.enable_thinking) for s in samples] == [("Hello?", None)]


def test_a_thinking_template_gets_both_modes(tiny_model, tokenizer):
    # A Qwen3-like template (the real one needs the Hub): it opens an empty think block when thinking is off.
    qwen_like = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    qwen_like.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n"
        "{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
    )
    assert supports_thinking(qwen_like)
    samples = generate_samples(tiny_model, qwen_like, ["Hello?"], max_new_tokens=4)
    assert [s.enable_thinking for s in samples] == [True, False]
