"""The end-to-end benchmark keeps measuring what it claims: its traffic really removes acks as reads."""

from __future__ import annotations

from tests.perf import bench_received_e2e


async def test_the_benchmark_removes_acks_records_reads_and_reminds() -> None:
    figures = await bench_received_e2e.run(400)
    assert figures["messages"] == 400 and figures["messages_per_second"] > 0
    # Every removed ack is a recorded read; acks in the group without the delete right are
    # recorded too, so there are more reads than deletions.
    assert 0 < figures["acks_deleted"] < figures["reads_recorded"]
    # Ack demands and removed acks are counted; tips and reminders were sent.
    assert figures["events_recorded"] > figures["acks_deleted"]
    assert figures["messages_sent"] > 0
