"""Project-wide pytest configuration.

The harness's own pytest plugin (scenario collection) is registered by the package's ``pytest11``
entry point, so it is not imported here. This file only tunes Hypothesis for CI: no per-example
deadline (two loaded cores make wall-clock deadlines flaky; speed is proven in bench/, not in
tests), and a fixed database-free profile so a run never depends on an earlier one.
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "project",
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("project")
