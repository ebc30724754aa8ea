"""The smallest asyncweb app: `uvicorn examples.hello:main`."""

import logging

from asyncweb import App, Request, Response


async def hello(request: Request, response: Response, log: logging.Logger) -> None:
    response.set_body("Hello, world!")


main = App(hello)
