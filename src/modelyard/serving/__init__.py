"""The model server: endpoints with weighted, sticky, shadow and canary routes, the Open
Inference Protocol, a hot alias switch and the durable prediction log on every answer.

    from modelyard.serving import create_app, endpoint_from_ref, ServerOptions
    app = create_app(yard, [endpoint_from_ref("loans@production")], ServerOptions())
    # uvicorn.run(app)  — or `modelyard serve --model loans@production`
"""

from .app import ModelServerApp, create_app
from .endpoints import (
    CanaryConfig,
    EndpointConfig,
    RouteConfig,
    ShadowConfig,
    endpoint_from_ref,
    load_endpoints,
    parse_endpoints,
)
from .options import ServerOptions

__all__ = [
    "CanaryConfig",
    "EndpointConfig",
    "ModelServerApp",
    "RouteConfig",
    "ServerOptions",
    "ShadowConfig",
    "create_app",
    "endpoint_from_ref",
    "load_endpoints",
    "parse_endpoints",
]
