"""The PostgreSQL backend (team mode, issue #13): schema and migrations, the receiver's writer.

Imported only when a ``postgresql://`` store is named (receiver/store/url.py), so the embedded SQLite
mode never loads psycopg. See docs/TEAM.md."""
