"""Going live: what connects the window to Twilio, owned by the main window (``MainWindow.live``).

``going_live.GoingLive`` — the Tools-menu actions, the status-bar URL, and what closing must do first
(restore or keep the webhooks the app set); ``tunnel_controller`` — the ngrok tunnel or the operator's
own URL; ``context`` — what the wizard pages and the dialogs share; the dialogs (credentials, own URL,
tunnel settings, receiver port, send) each in a module; ``wizard/`` — the set-up wizard's pages only.
The Qt-free parts (credentials, re-pointing, the REST calls) live in the core (``receiver/``).
"""
