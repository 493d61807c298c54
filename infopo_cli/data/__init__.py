"""Benchmark data: where it lives (``locations``) and ``infopo data fetch`` (``fetch``), which
downloads pinned upstream releases (``manifest.json``), lays them out the way the tasks read them
(``convert``) and checks every file against its pinned sha256."""
