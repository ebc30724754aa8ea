"""Cost per request of asyncweb against Starlette and a hand-written raw ASGI app.

`python -m benchmarks` runs every target interleaved, in process and over
uvicorn + wrk, and prints Markdown tables of medians and ratios to raw.
"""
