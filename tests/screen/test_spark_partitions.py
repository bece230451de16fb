"""How many patient partitions the screen makes: enough for every core, and more for a large input."""
from __future__ import annotations

from app.screen.spark import PARTITION_BYTES, PER_CORE, partition_count


def test_partitions_follow_the_cores_for_a_small_input(tmp_path):
    small = tmp_path / "Patient.ndjson"
    small.write_text('{"resourceType": "Patient", "id": "p"}\n')
    assert partition_count(1, [str(small)]) == max(2, PER_CORE)
    assert partition_count(16, [str(small)]) == 16 * PER_CORE


def test_a_large_input_gets_a_partition_per_partition_bytes(tmp_path):
    files = []
    for i in range(3):
        f = tmp_path / f"Observation.{i}.ndjson"
        with f.open("wb") as fh:  # sparse files: the size is what counts
            fh.truncate(PARTITION_BYTES * 10 + 1)
        files.append(str(f))
    assert partition_count(2, files) == 31
    assert partition_count(16, files) == 64  # the cores still ask for more
    assert partition_count(2, [*files, "s3a://bucket/Patient.ndjson"]) == 31  # a URL's size is not known here
