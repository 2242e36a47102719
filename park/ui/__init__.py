"""`park console`: a k9s-like terminal console on the REST API (Textual).

It talks to the platform only through `park.client`, so it works the same against `park up` and Park on
Kubernetes. Layout: `mirror` turns the API's watch stream into table rows off the UI thread; `views`
says how each kind looks; `screens` and `widgets` are the Textual parts; `app` wires them.
"""

from park.ui.app import ConsoleApp, run_console

__all__ = ["ConsoleApp", "run_console"]
