"""How the work runs: processes beside, threads, the allocator, the collector, atomic files."""
