"""The real criteria plugin without its fact source, for the selection benchmark.

Re-exports ``eligibility_criteria`` and ``plugin_settings_schema`` of ``perlinsos_criteria`` (the
same functions, hence the same nine criterion classes, limits and texts) and leaves out its
``collect_facts``, which asks IKD's facts API over HTTP. ``selection.py`` registers this module
under the name ``criteria`` with the installed ``criteria`` entry point disabled, so the pilot's
``[plugins.criteria]`` settings reach it unchanged; ``bench_facts`` provides the facts.
"""

from perlinsos_criteria.plugin import eligibility_criteria, plugin_settings_schema

NAME = "criteria"

__all__ = ["NAME", "eligibility_criteria", "plugin_settings_schema"]
