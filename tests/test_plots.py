"""The report's plots: each has its axis and scale, a mark per value and its limit dashed in red;
a flat trend sits mid-height. No lab."""

from __future__ import annotations

import re

from siteproof import plots


def test_bars_have_an_axis_a_point_per_value_and_each_limit():
    svg = plots.bars_svg({"native": 10.0, "bridge": 4.0}, " Gbit/s", {"bridge": 5.0}, "its share of native")
    assert svg.count("<circle") == 2 and svg.count("<rect") == 2
    assert svg.count('stroke-dasharray="4 3"') == 2  # bridge's limit and the legend's sample
    assert ">0</text>" in svg and "11 Gbit/s" in svg and "its share of native" in svg


def test_a_flat_trend_sits_mid_height_with_its_points():
    svg = plots.line_svg([5.0, 5.0, 5.0], limit=None, height=64)
    ys = [float(y) for y in re.findall(r'<circle cx="[\d.]+" cy="([\d.]+)"', svg)]
    assert len(ys) == 3 and all(20 < y < 44 for y in ys), ys
    assert plots.line_svg([1.0]) == ""  # one run is no trend


def test_a_trend_draws_its_limit():
    svg = plots.line_svg([1.0, 2.0, 3.5], limit=3.0)
    assert 'stroke-dasharray="4 3"' in svg and svg.count("<circle") == 3
