"""Alembic migrations; shipped inside the package so ``tonebridge db upgrade`` works anywhere."""
