"""The control socket (``/run/cloudclaude/ctl.sock``) and its client, ``cloudclaudectl``."""
