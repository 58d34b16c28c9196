"""The tiny configurations that tests train when they check behaviour rather than learning.

One per algorithm, shared by the test files: the session's persistent compile cache
(tests/conftest.py) then compiles each program once. A test that needs another static value (a
width, a population, the number of seeds), another budget or another `eval_every` compiles its own
program: keep those few.
"""
TINY_ES = {"pop_size": 8, "hidden": 8, "eval_every": 2, "eval_episodes": 4}
TINY_PPO = {"num_envs": 4, "num_steps": 32, "hidden": 8, "eval_every": 2, "eval_episodes": 4}
SEEDS = [0, 1]
