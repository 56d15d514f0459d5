"""Plotly figure builders, one module per capability: pure functions, data in, `go.Figure` out."""
