"""newsdesk's web chat: a Gradio app built on a Desk it is given (`newsdesk serve`).

`newsdesk_ui.app.serve(desk, host, port, auth)` runs it; `build_app(desk)` returns the Blocks.
"""
