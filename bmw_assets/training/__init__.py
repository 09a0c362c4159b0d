"""Out-of-process fine-tuning: the entry point that `trained_model[variant]` launches
with Dagster Pipes. Imports only dagster_pipes and the ML stack, never dagster."""
