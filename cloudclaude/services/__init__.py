"""Background components: scanners now, the reconciler later."""
