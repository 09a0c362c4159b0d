"""Failure-rate checks of the data assets: too many failed items warn (or block) instead of passing silently."""

from typing import Literal

import dagster as dg

from bmw_assets.stages.failure_rates import FailureRate

FAILURE_RATE_CHECK = "failure_rate_within_limit"


class FailurePolicyResource(dg.ConfigurableResource):
    """How many failed items a data asset may have before its failure-rate check fails, and how hard.

    severity WARN: the check fails as a warning and downstream assets still run;
    ERROR: it fails as an error and, being blocking, stops downstream assets.
    """

    max_failure_rate: float = 0.1  # share of items, 0..1
    severity: Literal["WARN", "ERROR"] = "WARN"

    def check(self, rate: FailureRate, items: str) -> dg.AssetCheckResult:
        """The check result for `rate` (`items` names what was counted, e.g. "attachments")."""
        return dg.AssetCheckResult(
            check_name=FAILURE_RATE_CHECK,
            passed=rate.rate <= self.max_failure_rate,
            severity=dg.AssetCheckSeverity(self.severity),
            description=f"{rate.failed} of {rate.total} {items} failed ({rate.rate:.1%}); "
            f"the limit is {self.max_failure_rate:.1%}",
            metadata={
                "failure_rate": dg.MetadataValue.float(rate.rate),
                "failed": rate.failed,
                "total": rate.total,
                "max_failure_rate": dg.MetadataValue.float(self.max_failure_rate),
                "examples": dg.MetadataValue.json(rate.examples),
            },
        )


def failure_rate_spec(asset: str) -> dg.AssetCheckSpec:
    """The blocking failure-rate check of `asset` (it blocks only when failing with severity ERROR)."""
    return dg.AssetCheckSpec(
        FAILURE_RATE_CHECK,
        asset=asset,
        blocking=True,
        description="Share of failed items at most FailurePolicyResource.max_failure_rate",
    )
