"""A short soak (bench/soak.py, ~30 s) of the embedded default model with mixed traffic: normal, oversized,
malformed, disconnecting and slow clients at once. Every request is accounted for and the server stays healthy."""

import argparse

import pytest

from bench.soak import soak

pytestmark = pytest.mark.e2e


def test_mixed_traffic_loses_nothing_and_never_fails_with_5xx():
    args = argparse.Namespace(
        minutes=0.4,
        model=None,
        idle_requests=30,
        heavy_budget=False,
        clients=["normal", "heavy", "malformed", "disconnect", "slow"],
    )
    report = soak(args)
    assert report["lost"] == 0 and report["server_errors_5xx"] == 0, report
    outcomes = report["outcomes"]
    assert set(outcomes["normal"]) == {"200"} and outcomes["normal"]["200"] > 20, report
    assert set(outcomes["heavy"]) == {"413"}, report  # 16 x 20,000 characters: over the work budget
    assert set(outcomes["malformed"]) <= {"413", "415", "422"}, report
    assert outcomes["slow"].get("closed-by-server", 0) >= 1, report
    assert report["tracebacks_in_log"] == 0 and report["other_log_lines"] < 50, report
    assert report["access_log_lines"] >= sum(report["sent"].values()) - report["sent"]["slow"] - 50, report
    assert report["rss_growth"] < 0.15, report  # 6-9% in the minute-long runs; short runs are noisier
