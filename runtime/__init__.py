"""The one clock and the event bus: every layer may import them; they import nothing of the project."""
