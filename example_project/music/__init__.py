"""The demo's music catalogue, listeners and their listening history."""
