"""Training datasets: the row formats built from feedback or imported files, and the built
datasets on disk with their lineage."""
