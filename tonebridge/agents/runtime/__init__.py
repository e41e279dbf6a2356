"""What every agent of the faust worker runs on: ordered, exactly-once delivery (sequencing,
recovery, source marks in tables), deduplication, the outbox and small helpers."""
