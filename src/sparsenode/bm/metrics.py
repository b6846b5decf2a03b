"""Metric registry (placeholder until the metric module lands)."""


def score(prediction, truth, **kwargs):
    raise NotImplementedError
