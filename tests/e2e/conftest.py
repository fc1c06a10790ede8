"""End-to-end tests in a real Chromium: fixtures `browser`, `sign_in` and `screenshot` live in
tests/conftest.py (one browser per session, shared with the other browser tests)."""
