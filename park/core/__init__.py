"""The pure core: resource models, errors, settings, clock. Imports nothing else of park."""
