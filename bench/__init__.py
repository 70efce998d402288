"""Benchmarks: each module measures one brief target against an anchor in the same run."""
