"""Time `make demo`'s work: the whole graph on the local profile, asset by asset.

    python benchmarks/demo.py [--storage DIR]

Starts from an empty storage root (the packaged model is dequantized again too, as on a
fresh clone), materializes every asset and every variant, prints where the time goes
and writes benchmarks/results/demo.json. Target: the whole graph within 15 minutes on a
2-core machine.
"""

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import dagster as dg

from bmw_assets.demo import run_demo, stop_local_services
from bmw_assets.settings import load_settings

TARGET_SECONDS = 15 * 60
RESULTS = Path(__file__).parent / "results" / "demo.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", type=Path, default=None, help="empty storage root (default: a temp folder)")
    args = parser.parse_args()
    root = args.storage or Path(tempfile.mkdtemp(prefix="bmw-demo-"))
    settings = load_settings({"BMW_STORAGE": str(root)})
    os.environ["BMW_STORAGE"] = str(root)
    started = time.monotonic()
    try:
        with dg.instance_for_test() as instance:
            timings = run_demo(settings, instance, say=lambda line: print(line, flush=True))
    finally:
        stop_local_services(settings)
    total = time.monotonic() - started
    rows = sorted(timings.items(), key=lambda item: -item[1])
    print(f"\n{'step':<40} {'seconds':>8} {'share':>6}")
    for step, seconds in rows:
        print(f"{step:<40} {seconds:>8.1f} {seconds / total:>6.1%}")
    verdict = "meets" if total <= TARGET_SECONDS else "misses"
    print(f"{'total (wall)':<40} {total:>8.1f}   {verdict} the {TARGET_SECONDS / 60:.0f}-minute target")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "total_seconds": round(total, 1), "target_seconds": TARGET_SECONDS, "steps": dict(rows),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }, indent=2) + "\n")  # fmt: skip
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
