"""Tests of the pipeline handlers (winchester.handlers)."""
