"""The delete-only LLM filter behind `llm_text`: an LLM judges which paragraphs of a
regex-cleaned press release are page furniture; the output keeps input paragraphs only."""

from bmw_assets.llm_filter.decision import FilterSettings
from bmw_assets.llm_filter.endpoint import (
    EndpointSettings,
    LocalEndpoint,
    LocalEndpointError,
)
from bmw_assets.llm_filter.judge import EndpointConfigurationError
from bmw_assets.llm_filter.run import FilterInput, FilterResult, FilterRun, filter_texts

__all__ = [
    "EndpointConfigurationError",
    "EndpointSettings",
    "FilterInput",
    "FilterResult",
    "FilterRun",
    "FilterSettings",
    "LocalEndpoint",
    "LocalEndpointError",
    "filter_texts",
]
