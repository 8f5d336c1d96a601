"""The agent desktop and the wallboard in a real browser: a loopback-only network namespace,
headless Chromium through chromedriver, a box serving the pages (see README.md)."""
