"""Compare figures: every divergence-heatmap cell carries its (layer, head), and a click on a cell reads back
as integers whatever shape Plotly hands customdata back in."""

import numpy as np

from workbench.compare import figures


def test_each_heatmap_cell_carries_its_layer_and_head():
    divergence = np.arange(12, dtype=float).reshape(3, 4) / 12  # (L, H)
    fig = figures.divergence_heatmap(divergence, [2, 5, 9], "Jensen-Shannon distance", "lora", selected=(5, 3))
    cells = np.asarray(fig.data[0].customdata)
    assert cells.shape == (3, 4, 2)
    assert cells[1, 3].tolist() == [5, 3] and cells[2, 0].tolist() == [9, 0]
    assert fig.layout.shapes[0].x0 == 2.5 and fig.layout.shapes[0].y0 == 0.5  # the picked cell is outlined


def test_a_clicked_cell_reads_back_as_integer_layer_and_head():
    assert figures.clicked_head([]) is None
    assert figures.clicked_head([{"x": "H3", "y": "L5"}]) is None  # no customdata: not a heatmap cell
    assert figures.clicked_head([{"customdata": [5, 3]}]) == (5, 3)
    assert figures.clicked_head([{"customdata": {"1": 3.0, "0": 5.0}}]) == (5, 3)
