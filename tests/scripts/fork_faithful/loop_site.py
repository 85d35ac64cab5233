"""Unguarded: each round of a loop calls a helper of a user module (counting the rounds),
then starts a Pool. Under fork every worker sees the parent's count at its start; a child
that ran the loop's body again on its way to the Pool would count one round too many."""

import multiprocessing
import os

try:
    from fork_faithful import round_counter  # python -m fork_faithful.loop_site
except ImportError:
    import round_counter  # python fork_faithful/loop_site.py

context = multiprocessing.get_context(os.environ["START_METHOD"])


def seen(_):
    return round_counter.ROUNDS


for round_number in range(2):
    round_counter.next_round()
    with context.Pool(1) as pool:
        print("round", round_number, "workers see", pool.map(seen, [0, 1]))
