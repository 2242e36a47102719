"""Pure reconcilers: (spec, observed state, now) -> a plan of actions. No I/O here."""
