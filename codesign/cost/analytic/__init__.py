"""The analytic cost model: Timeloop's access counting on vectorised loop nests, and its mappers."""

from codesign.cost.analytic.engine import MAPPERS, AnalyticEngine, cost_of_mapping, cost_under_mapping

__all__ = ["MAPPERS", "AnalyticEngine", "cost_of_mapping", "cost_under_mapping"]
