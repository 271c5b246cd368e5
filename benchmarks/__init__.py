"""Speed and memory benchmarks: minigrad side by side with torch, in one process."""
