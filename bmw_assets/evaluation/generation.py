"""Chat-template prompting and generation that strips the prompt by token ids.

The prompt is removed by slicing the generated ids after the prompt length, never by
cutting characters off the decoded text: decoding is not an inverse of encoding
(special tokens are skipped, spaces cleaned up), so character offsets drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


def supports_thinking(tokenizer) -> bool:
    """True when the chat template renders differently with `enable_thinking` (Qwen3 does,
    SmolLM2's template ignores the flag)."""
    messages = [{"role": "user", "content": "Hello"}]
    rendered = {
        flag: tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, enable_thinking=flag)
        for flag in (True, False)
    }
    return rendered[True] != rendered[False]


def chat_prompt_ids(
    tokenizer, question: str, enable_thinking: bool | None = None, system_prompt: str | None = None
) -> list[int]:
    """Token ids of `question` as one user turn plus the assistant header, after `system_prompt`
    when given (the one the training rows carry: without it some templates, SmolLM2's among
    them, put in a default system turn the model was not trained under).

    `enable_thinking` is passed to the template only when not None; templates that do
    not know it ignore it.
    """
    extra = {} if enable_thinking is None else {"enable_thinking": enable_thinking}
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    text = tokenizer.apply_chat_template(
        [*system, {"role": "user", "content": question}], tokenize=False, add_generation_prompt=True, **extra
    )
    # The template already wrote any BOS/special tokens into the text.
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def completion_ids(sequences: torch.Tensor, prompt_length: int, stop_ids: Sequence[int]) -> list[list[int]]:
    """The generated ids of each row of `sequences` (prompt ids followed by new ids):
    everything after `prompt_length`, cut before the first id in `stop_ids` (EOS/pad)."""
    stops = set(stop_ids)
    completions = []
    for row in sequences[:, prompt_length:].tolist():
        cut = next((i for i, token in enumerate(row) if token in stops), len(row))
        completions.append(row[:cut])
    return completions


def _stop_ids(tokenizer, model) -> list[int]:
    ids = set()
    for source in (model.generation_config.eos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id):
        if isinstance(source, int):
            ids.add(source)
        elif source is not None:
            ids.update(source)
    return sorted(ids)


def _left_padded(prompts: Sequence[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(p) for p in prompts)
    input_ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        input_ids[row, width - len(prompt) :] = torch.tensor(prompt)
        attention_mask[row, width - len(prompt) :] = 1
    return input_ids, attention_mask


@torch.no_grad()
def generate_greedy(
    model, tokenizer, prompts: Sequence[list[int]], *, max_new_tokens: int, batch_size: int = 8
) -> list[str]:
    """Greedy completions (decoded, special tokens skipped) of token-id `prompts`,
    `batch_size` prompts per `generate` call (left-padded)."""
    stop_ids = _stop_ids(tokenizer, model)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0]
    device = next(model.parameters()).device
    answers: list[str] = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start : start + batch_size]
        input_ids, attention_mask = _left_padded(chunk, pad_id)
        sequences = model.generate(
            input_ids=input_ids.to(device),
            attention_mask=attention_mask.to(device),
            do_sample=False,
            max_new_tokens=max_new_tokens,
            pad_token_id=pad_id,
            top_p=None,
            top_k=None,
            temperature=None,
        )
        for ids in completion_ids(sequences.cpu(), input_ids.shape[1], stop_ids):
            answers.append(tokenizer.decode(ids, skip_special_tokens=True).strip())
    return answers


@dataclass(frozen=True)
class SampledAnswers:
    """`texts[i]` (decoded from `token_ids[i]`, the generated ids without the stop token)
    was sampled with sequence log-likelihood `log_likelihoods[i]` (nats, sum over its
    generated tokens of log p under the model, up to and including the stop token)."""

    texts: list[str]
    token_ids: list[list[int]]
    log_likelihoods: list[float]


@torch.no_grad()
def sample_answers(
    model, tokenizer, prompt: list[int], *, n: int, temperature: float, max_new_tokens: int, seed: int | None = None
) -> SampledAnswers:
    """`n` samples for one token-id `prompt` in one `generate` call (`num_return_sequences`);
    with `seed`, the same model and prompt give the same samples."""
    if seed is not None:
        torch.manual_seed(seed)
    stop_ids = _stop_ids(tokenizer, model)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0]
    device = next(model.parameters()).device
    input_ids = torch.tensor([prompt], device=device)
    output = model.generate(
        input_ids=input_ids,
        attention_mask=torch.ones_like(input_ids),
        do_sample=True,
        temperature=temperature,
        top_k=None,
        top_p=None,  # plain sampling, as semantic entropy assumes
        num_return_sequences=n,
        max_new_tokens=max_new_tokens,
        pad_token_id=pad_id,
        return_dict_in_generate=True,
        output_logits=True,
    )
    generated = output.sequences[:, len(prompt) :].cpu()
    # Raw logits, so the likelihood is the model's own, not the temperature-scaled one.
    log_probs = torch.stack(output.logits, dim=1).float().log_softmax(dim=-1).cpu()
    token_log_probs = log_probs.gather(-1, generated.unsqueeze(-1)).squeeze(-1)
    texts, log_likelihoods = [], []
    completions = completion_ids(output.sequences.cpu(), len(prompt), stop_ids)
    for row, ids in enumerate(completions):
        counted = min(len(ids) + 1, generated.shape[1])  # include the stop token when one was produced
        texts.append(tokenizer.decode(ids, skip_special_tokens=True).strip())
        log_likelihoods.append(float(token_log_probs[row, :counted].sum()))
    return SampledAnswers(texts=texts, token_ids=completions, log_likelihoods=log_likelihoods)
