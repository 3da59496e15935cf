"""Adapters to other training engines. Nothing algorithmic lives here: an adapter calls the same reward,
advantage and filtering functions as the native trainer (DESIGN.md, principle 3).

- :mod:`onethinker.integrations.verl`: verl (Ray, FSDP, vLLM) for multi-GPU, multi-node RL.
"""
