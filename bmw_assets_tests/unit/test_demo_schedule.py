"""The demo's evaluation schedule: each variant evaluated as the training process finishes it, one
run at a time in the demo's process (two runs set up together there can deadlock in Dagster's
logging set-up; see evaluate_as_trained)."""

import queue
import threading
import time

import pytest

from bmw_assets.demo import evaluate_as_trained


def trainer(trained: queue.Queue, variants: list[str], error: str | None = None) -> threading.Thread:
    """Stands in for the training process (a spawned Dagster run in the demo): reports each
    variant done after a short pause, then the end (with the error text if training failed)."""

    def work() -> None:
        for variant in variants:
            time.sleep(0.02)
            trained.put((variant, {f"trained_model[{variant}]": 1.5}))
        trained.put((None, error))

    thread = threading.Thread(target=work)
    thread.start()
    return thread


class Evaluations:
    """Records the evaluations in order and how many ran at once."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.running = self.most_at_once = 0
        self.lock = threading.Lock()

    def __call__(self, variant: str) -> None:
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        time.sleep(0.05)  # longer than a training step here: evaluations queue up behind each other
        with self.lock:
            self.running -= 1
            self.order.append(variant)


def test_each_variant_is_evaluated_once_in_training_order_and_never_two_at_once():
    trained: queue.Queue = queue.Queue()
    variants = ["dropped_lora", "original_lora", "pruned_lora", "dropped", "original", "pruned"]
    evaluate, timings = Evaluations(), {"base_model_report": 3.0}
    producer = trainer(trained, variants)
    evaluate_as_trained(trained, evaluate, timings)
    producer.join()
    assert evaluate.order == variants
    assert evaluate.most_at_once == 1
    assert timings == {"base_model_report": 3.0} | {f"trained_model[{v}]": 1.5 for v in variants}


def test_a_training_failure_is_raised_after_the_variants_trained_before_it_are_evaluated():
    trained: queue.Queue = queue.Queue()
    evaluate = Evaluations()
    producer = trainer(trained, ["dropped_lora"], error="RuntimeError: out of memory")
    with pytest.raises(RuntimeError, match="training failed: RuntimeError: out of memory"):
        evaluate_as_trained(trained, evaluate, {})
    producer.join()
    assert evaluate.order == ["dropped_lora"]
