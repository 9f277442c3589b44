"""`ibpilot audit`: a security check of a running stack (issue 11; SECURITY.md is the threat model).

The secrets come from the configuration (every declaration with `secret=True`, revealed, plus the forms
they take on the way: the VNC password file's DES block, JSON/URL escapes, a webhook URL's token parts).
The audit then looks for them where they must never be, and checks what listens where:

- `needles`  the secrets as byte strings to search for (never printed: only the variable's name)
- `procs`    /proc: the stack's processes (supervisord and its descendants), argv, environment, listeners
- `files`    RUN_DIR, the logs and the Gateway settings dirs: secrets in files, file and socket modes
- `probes`   network answers: /health, /ready, /metrics, the status page, the command server's STATUS,
             `ibpilot status --json`, VNC's security types, the supervisord web UI without credentials
- `report`   `Finding` and the report (one line per finding, or JSON)
- `cli`      the sub-command: exit 0 clean, 1 findings, 2 bad configuration or no running stack
"""
