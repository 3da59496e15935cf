"""Data: record schemas and validation, readers and writers, media, the synthetic corpus, converters."""
