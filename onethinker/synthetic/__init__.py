"""The synthetic world: scenes of coloured shapes (``scenes``), the multi-task corpus built from them
(``questions``: one generator per task key; ``corpus``: pools, records, media), and simulated rollouts
for benchmarks, the demo and tests (``rollouts``)."""
