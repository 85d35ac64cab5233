"""A user module that counts the rounds of the script that imports it."""

ROUNDS = 0


def next_round():
    global ROUNDS
    ROUNDS += 1
