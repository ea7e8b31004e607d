"""The paired verdict: per-period data, metric names and the judgement over them."""
