"""The loopback benchmark keeps measuring what it claims: both bots, as processes, remove exactly the acks."""

from __future__ import annotations

import pytest

from tests.perf import bench_loopback


def test_the_loopback_benchmark_times_both_bots_removing_exactly_the_acks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(bench_loopback.POSTGRES_ENV, raising=False)  # SQLite only, to stay short
    arguments = ["--messages", "200", "--rate", "40", "--seconds", "1", "--rounds", "1"]
    figures = bench_loopback.run(bench_loopback.parse(arguments))
    assert set(figures["bots"]) == {"minimal", "jianfu_sqlite"}
    for bot in figures["bots"].values():
        burst, paced = bot["throughput"], bot["latency"]
        assert (burst["messages"], burst["acks"], burst["others_deleted"]) == (200, 100, 0)
        assert burst["messages_per_second"] > 0
        assert (paced["messages"], paced["acks"], paced["others_deleted"]) == (40, 20, 0)
        assert 0 < paced["p50_ms"] <= paced["p99_ms"] <= paced["max_ms"]
    assert set(figures["ratios"]) == {"jianfu_sqlite"}
    assert all(ratio > 0 for ratio in figures["ratios"]["jianfu_sqlite"].values())
