"""Level-triggered controllers: a work queue fed by watches and resyncs, drained by reconcilers."""
