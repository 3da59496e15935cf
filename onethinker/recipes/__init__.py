"""Recipes: whole runs assembled from the library's components (the demo, the estimator ablation), kept
apart from them as torchtune keeps ``recipes/`` apart from its library."""
