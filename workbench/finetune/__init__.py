"""LoRA fine-tuning: the run config, the training entry point (plain or `accelerate launch`), background jobs."""
