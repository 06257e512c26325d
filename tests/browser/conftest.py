"""Browser fixtures live in tests/browser_fixtures.py, shared by every browser test package."""
