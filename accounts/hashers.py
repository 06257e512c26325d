"""How passwords are stored."""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idHasher(Argon2PasswordHasher):
    """Argon2id with OWASP's recommended configuration: 19 MiB of memory, 2 passes, 1 lane.

    Django's own Argon2 defaults (100 MiB, 8 lanes) and PBKDF2 at 1,000,000 iterations both
    cost ~0.25 s of CPU per sign-in on a 2-core box; with a whole office signing in at the
    start of a shift that hashing is what saturates the server. OWASP's Password Storage
    Cheat Sheet lists this configuration first and rates it equal in defence to PBKDF2 at
    600,000 iterations, and being memory-hard it costs a GPU attacker far more per guess.
    The parameters sit in each stored hash, so a later change re-hashes at the next sign-in.
    """

    memory_cost = 19 * 1024  # KiB
    time_cost = 2
    parallelism = 1
