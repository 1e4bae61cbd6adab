"""A WSGI application that answers "ok" to everything: gunicorn's own behaviour under test."""


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
