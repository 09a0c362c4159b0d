"""One request: the endpoint's judgement of one chunk of paragraphs.

Answers are parsed strictly: anything but the expected shape raises `MalformedAnswer`,
and the caller falls back to the input text. Only paragraph indices and probabilities
are read from an answer, never text, so the model cannot put words in the output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import openai

from bmw_assets.llm_filter.decision import is_probability
from bmw_assets.llm_filter.endpoint import EndpointSettings
from bmw_assets.llm_filter.prompt import FilterPrompt


class MalformedAnswer(ValueError):
    """The endpoint answered, but not in the shape the route promises."""


class EndpointConfigurationError(RuntimeError):
    """The endpoint refused the requests for a reason no retry fixes: a wrong or missing key (401),
    a key without access (403), an unknown model or route (404). The message holds no secret."""


# Answers that mean the settings are wrong, not that the endpoint is busy: a run stops at the first.
CONFIGURATION_ERRORS = (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError)


def configuration_error(endpoint: EndpointSettings, error: openai.APIStatusError) -> EndpointConfigurationError:
    """The error to raise for `error`, one of CONFIGURATION_ERRORS: what was refused and what to check,
    with the key masked wherever the endpoint echoed it."""
    hint = (
        f"the model id {endpoint.model!r} and the URL {endpoint.base_url}"
        if error.status_code == 404
        else f"the API key in ${endpoint.api_key_env}"
        if endpoint.api_key_env
        else "the endpoint's access settings"
    )
    return EndpointConfigurationError(endpoint.redact(
        f"{endpoint.base_url} refused the LLM filter's request with {error.status_code} "
        f"({type(error).__name__}: {error}); check {hint}. Nothing was cached; fix it and materialize again."
    ))  # fmt: skip


@dataclass(frozen=True)
class ChunkAnswer:
    """P(keep) per paragraph of the chunk, the model's rejection reason (or None), and the
    tokens the endpoint reported for the request (prompt + completion)."""

    keep_probability: tuple[float, ...]
    rejection: str | None
    tokens: int


def judge_chunk(
    client: openai.OpenAI, endpoint: EndpointSettings, prompt: FilterPrompt, paragraphs: list[str]
) -> ChunkAnswer:
    """Ask `endpoint` about `paragraphs` (one request; the client retries transport errors).

    Raises openai.APIError when the endpoint cannot be reached or keeps failing, and
    MalformedAnswer when its answer does not parse.
    """
    if endpoint.api == "systemone":
        return _judge_by_typed_decisions(client, endpoint, prompt, paragraphs)
    return _judge_by_chat_json(client, endpoint, prompt, paragraphs)


def _judge_by_typed_decisions(
    client: openai.OpenAI, endpoint: EndpointSettings, prompt: FilterPrompt, paragraphs: list[str]
) -> ChunkAnswer:
    # One yes/no question per paragraph; the server reads P("Yes") from the next-token logits.
    questions = {f"p{i}": {"type": "noul", "instructions": prompt.question_for(p)} for i, p in enumerate(paragraphs)}
    body = {"model": endpoint.model, "state": prompt.state, "questions": questions}
    response = client.post("/systemone", cast_to=object, body=body)
    if not isinstance(response, dict) or not isinstance(response.get("answers"), dict):
        raise MalformedAnswer(f"/systemone answered {_preview(response)}, not an object with `answers`")
    probabilities = []
    for name in questions:
        answer = response["answers"].get(name)
        if not isinstance(answer, dict) or not is_probability(answer.get("noul")):
            raise MalformedAnswer(f"/systemone answer {name!r} is {_preview(answer)}, not a noul probability")
        probabilities.append(float(answer["noul"]))
    usage = response.get("usage")
    tokens = usage.get("input_tokens", 0) if isinstance(usage, dict) else 0
    return ChunkAnswer(tuple(probabilities), None, tokens if isinstance(tokens, int) else 0)


def _judge_by_chat_json(
    client: openai.OpenAI, endpoint: EndpointSettings, prompt: FilterPrompt, paragraphs: list[str]
) -> ChunkAnswer:
    completion = client.chat.completions.create(
        model=endpoint.model,
        messages=[
            {"role": "system", "content": prompt.chat_system},
            {"role": "user", "content": prompt.chat_user_for(paragraphs)},
        ],
        response_format={"type": "json_object"},
        temperature=0,
    )
    choices = getattr(completion, "choices", None)
    content = choices[0].message.content if choices else None
    if not isinstance(content, str):
        raise MalformedAnswer(f"chat completion has no message content: {_preview(completion)}")
    try:
        data = json.loads(content)
    except json.JSONDecodeError as error:
        raise MalformedAnswer(f"chat answer is not JSON ({error}): {_preview(content)}") from error
    if not isinstance(data, dict):
        raise MalformedAnswer(f"chat answer is not a JSON object: {_preview(content)}")
    drop, reject, reason = data.get("drop"), data.get("reject"), data.get("reason", "")
    if not isinstance(drop, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(paragraphs) for i in drop
    ):
        raise MalformedAnswer(f"`drop` must list paragraph indices 0..{len(paragraphs) - 1}: {_preview(content)}")
    if not isinstance(reject, bool) or not isinstance(reason, str):
        raise MalformedAnswer(f"`reject` must be a boolean and `reason` a string: {_preview(content)}")
    dropped = set(drop)
    usage = getattr(completion, "usage", None)
    tokens = (usage.prompt_tokens or 0) + (usage.completion_tokens or 0) if usage is not None else 0
    return ChunkAnswer(
        tuple(0.0 if i in dropped else 1.0 for i in range(len(paragraphs))),
        (reason or "rejected without a reason") if reject else None,
        tokens,
    )


def _preview(value: object, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
