"""The agent desktop and the supervisor's wallboard: pages the box serves to browsers."""
