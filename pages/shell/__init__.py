"""The parts of the Streamlit shell, one idea a module; pages/__init__.py re-exports them as `ui`."""
