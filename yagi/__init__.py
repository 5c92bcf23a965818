"""yagi-event: consume notifications, archive them, turn them into events."""
