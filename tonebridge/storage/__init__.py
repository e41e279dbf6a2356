"""Storage: SQLAlchemy 2 async, a small repository per aggregate."""
