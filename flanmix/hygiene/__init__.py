"""Data hygiene: exact deduplication of rendered rows and n-gram decontamination against
held-out eval sets."""
