"""asyncweb's WSGI gateway behind real WSGI servers: gunicorn (sync
workers), waitress and Apache's mod_wsgi, each started by the tests on
127.0.0.1 and stopped by its pid. `apps` is what they serve; it imports
nothing but asyncweb and the apps beside it, so a copy of it runs in
mod_wsgi's www-data venv too."""
