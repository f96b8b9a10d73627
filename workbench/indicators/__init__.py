"""Indicators: the catalogue (zh/en metadata, one SQL query each) and their computation per term."""
from workbench.indicators.catalogue import (DIRECTIONS, Catalogue, CatalogueError, Indicator,
                                            load_catalogue)
from workbench.indicators.compute import (IndicatorFrame, compute_indicators, population,
                                          write_indicator_values)

__all__ = ["Catalogue", "CatalogueError", "DIRECTIONS", "Indicator", "IndicatorFrame", "compute_indicators",
           "load_catalogue", "population", "write_indicator_values"]
