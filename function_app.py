"""The Functions app: registers the blueprints, nothing else (wiring lives in bootstrap.py)."""

import azure.functions as func

from triggers import command_handlers, console, http_api, orchestrator, timers

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
for blueprint in (http_api.bp, console.bp, orchestrator.bp, command_handlers.bp, timers.bp):
    app.register_functions(blueprint)
