"""Parts of long pages, in a subfolder: Streamlit's v1 mode lists every pages/*.py file as a page."""
