"""A virtual EZSP stick: an ASH/EZSP NCP on a pseudo-terminal, backed by the simulated HAN.

``ash`` owns the serial framing (UG101), ``ncp`` the EZSP command set (UG100) that bellows drives,
``pty`` the pseudo-terminal and the serving loop. ``hanrig sim stick`` is the command-line face.
"""
