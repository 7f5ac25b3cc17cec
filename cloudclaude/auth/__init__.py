"""Authentication: password hashing, the JWT key ring, login rate limits."""
