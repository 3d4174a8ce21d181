"""How the device runs SGD beyond one step: the visiting order per epoch (``shuffle``), the
learning rate per step (``lr_schedule``) and the float classifier's momentum (``momentum``).
Each module is the host's half of a device feature and states the exact arithmetic both share
(docs/arithmetic.md section 10)."""
