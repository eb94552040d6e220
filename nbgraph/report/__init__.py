"""What users read after (or instead of) a run: status rows, summaries."""
