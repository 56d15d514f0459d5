"""LLM Workbench core: models, attention, generation, fine-tuning, evaluation, bias; no Streamlit here but ui.py."""

__version__ = "0.1.0"
