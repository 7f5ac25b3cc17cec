"""The daemon's side of the agent protocol: a typed client over a socket or an in-memory stream.

Imports ``agent.protocol`` only; the agent's runtime is loaded lazily, in embedded mode alone.
"""
