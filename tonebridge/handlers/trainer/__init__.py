"""The trainer process: its consumer loop, job lifecycle, command intake and outcomes."""
