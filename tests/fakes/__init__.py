"""Stand-ins for the outside services the app talks to (Twilio's REST API, the ngrok tunnel).

There is no network in tests: these fakes listen on 127.0.0.1 and answer with the shapes the real
services use, so the real client libraries (twilio-python, requests) are exercised end to end.
"""
