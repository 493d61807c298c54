"""Built-in models, built on first use and cached: tiny, smollm2-135m, the starters."""
