"""Qt item models over the SQLite store (windowed: SQL does the filtering and sorting)."""
