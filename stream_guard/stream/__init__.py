"""The Faust edge: moves data between Kafka and the pure core (:mod:`stream_guard.core`)."""
