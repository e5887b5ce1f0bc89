"""The benchmark and the helpers other load tests share (bench/harness.py)."""
