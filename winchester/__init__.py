"""Winchester: event storage, time expressions, triggers, streams and pipelines."""
