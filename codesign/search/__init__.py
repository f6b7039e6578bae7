"""The co-design search: settings, sampling with constraints, the trainable, the trials table, the driver.

`codesign.search.driver.run_search` runs one; this package's top level holds only the settings, so that
reading a run folder never imports Ray.
"""

from codesign.search.settings import DataSettings, ResourceSettings, SearchSettings, TuneSettings, parse_budget

__all__ = ["DataSettings", "ResourceSettings", "SearchSettings", "TuneSettings", "parse_budget"]
