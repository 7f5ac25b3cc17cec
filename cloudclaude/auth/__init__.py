"""Authentication primitives: argon2id passwords, the JWT key ring, login rate limits, SSH
tickets and sealing with the server key. No rules about who may do what (that is ``domain``).
"""
