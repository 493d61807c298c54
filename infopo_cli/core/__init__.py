"""The algorithm, one module per stage: trajectory -> rollout -> information gain -> advantages -> update."""
