"""The web chat: Gradio layout and event wiring on a Desk it is given (`newsdesk serve`).

Answers, sources, citations and the archive all come from the Desk; rendering is in
render.py and the event functions in handlers.py.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from newsdesk.errors import UsageError
from newsdesk.sources import SUPPORTED
from newsdesk_ui import render
from newsdesk_ui.handlers import EXAMPLE_COUNT, Handlers

if TYPE_CHECKING:
    from newsdesk.desk import Desk

HERE = Path(__file__).resolve().parent
UPLOAD_TYPES = list(SUPPORTED)
CONCURRENCY = 2  # the machines this runs on have two cores


@dataclass
class _Layout:
    """The components the events are wired to."""

    turns: gr.State
    chat: gr.HTML
    sources: gr.HTML
    example_row: gr.Column
    example_buttons: list[gr.Button]
    question: gr.Textbox
    ask: gr.Button
    outlets: gr.Dropdown
    since: gr.Textbox
    until: gr.Textbox
    clear: gr.Button
    archive_tab: gr.Tab
    counts: gr.HTML
    search: gr.Textbox
    table: gr.Dataframe
    upload: gr.File
    remove_choice: gr.Dropdown
    remove: gr.Button
    confirm_row: gr.Column
    confirm_text: gr.HTML
    confirm: gr.Button
    cancel: gr.Button
    pending: gr.State  # the article id the confirmation names, so that exactly it is removed
    report: gr.HTML
    report_reset: gr.Button


def build_app(desk: Desk) -> gr.Blocks:
    """The web chat's Blocks, with a queue sized for two cores."""
    handlers = Handlers(desk)
    with gr.Blocks(title="newsdesk", analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        gr.HTML('<h2 class="nd-title">newsdesk</h2><p class="nd-subtitle">Ask the news archive: '
                'every sentence of an answer is quoted from an article and cites it.</p>',
                js_on_load=None)
        turns = gr.State([])
        with gr.Tabs():
            layout = _layout(turns)
        # the API first, so that its names are not taken by the (private) UI events
        gr.api(handlers.api_ask, api_name="ask", concurrency_id="ask")  # type: ignore[attr-defined]
        gr.api(handlers.api_articles, api_name="articles")  # type: ignore[attr-defined]
        _wire(app, layout, handlers)
    app.queue(default_concurrency_limit=CONCURRENCY)
    blocks: gr.Blocks = app
    return blocks


def _layout(turns: gr.State) -> _Layout:
    with gr.Tab("Chat", id="chat"), gr.Row(equal_height=False):
        with gr.Column(scale=3):
            chat = gr.HTML(render.conversation([]), elem_id="nd-chat", autoscroll=True,
                           js_on_load=(HERE / "chat.js").read_text(encoding="utf-8"))
            # example questions come from the archive's own headlines once the page loads
            with gr.Column(elem_id="nd-examples", visible=False) as example_row:
                gr.HTML('<p class="nd-hint">Try one of these:</p>', js_on_load=None)
                with gr.Row():
                    example_buttons = [gr.Button("", size="sm", variant="secondary", visible=False,
                                                 elem_classes=["nd-example"])
                                       for _ in range(EXAMPLE_COUNT)]
            with gr.Row(equal_height=True):
                question = gr.Textbox(placeholder="Ask the archive a question…", show_label=False,
                                      scale=6, max_lines=4, elem_id="nd-question", autofocus=True)
                ask = gr.Button("Ask", variant="primary", scale=1, elem_id="nd-ask")
            with gr.Accordion("Filters (apply to your next questions)", open=False,
                              elem_id="nd-filters"), gr.Row():
                outlets = gr.Dropdown([], multiselect=True, label="Outlets", elem_id="nd-outlets")
                since = gr.Textbox(label="Since", placeholder="YYYY-MM-DD", elem_id="nd-since")
                until = gr.Textbox(label="Until", placeholder="YYYY-MM-DD", elem_id="nd-until")
            clear = gr.Button("Clear conversation", size="sm", elem_id="nd-clear")
        with gr.Column(scale=2):
            sources = gr.HTML(render.sources([]), elem_id="nd-sources", js_on_load=None)
    with gr.Tab("Archive", id="archive", elem_id="nd-archive-tab") as archive_tab:
        counts = gr.HTML(js_on_load=None, elem_id="nd-counts")
        search = gr.Textbox(label="Search titles", placeholder="a word of the title",
                            elem_id="nd-search")
        table = gr.Dataframe(headers=render.ARTICLE_COLUMNS, type="array", interactive=False,
                             wrap=True, elem_id="nd-articles",
                             column_widths=["44%", "16%", "12%", "8%", "20%"])
        with gr.Row(equal_height=False):
            upload = gr.File(label="Add articles (" + " ".join(UPLOAD_TYPES) + ")",
                             file_count="multiple", file_types=UPLOAD_TYPES, elem_id="nd-upload")
            with gr.Column():
                remove_choice = gr.Dropdown([], label="Remove an article",
                                            elem_id="nd-remove-choice")
                remove = gr.Button("Remove…", variant="stop", elem_id="nd-remove")
                with gr.Column(visible=False, elem_id="nd-confirm") as confirm_row:
                    confirm_text = gr.HTML(js_on_load=None, elem_id="nd-confirm-text")
                    with gr.Row():
                        confirm = gr.Button("Yes, remove it", variant="stop",
                                            elem_id="nd-confirm-remove")
                        cancel = gr.Button("Cancel", elem_id="nd-cancel-remove")
        pending = gr.State(None)
        report = gr.HTML(elem_id="nd-report",
                         js_on_load=(HERE / "archive.js").read_text(encoding="utf-8"))
        report_reset = gr.Button("Clear the report", visible="hidden", elem_id="nd-report-reset")
    return _Layout(turns, chat, sources, example_row, example_buttons, question, ask, outlets,
                   since, until, clear, archive_tab, counts, search, table, upload, remove_choice,
                   remove, confirm_row, confirm_text, confirm, cancel, pending, report,
                   report_reset)


def _wire(app: gr.Blocks, ui: _Layout, handlers: Handlers) -> None:
    """Connect the events; UI events are private (the API is /ask and /articles)."""
    private: dict[str, Any] = {"api_visibility": "private"}
    ask: dict[str, Any] = {"outputs": [ui.chat, ui.sources, ui.turns, ui.question, ui.example_row],
                           "concurrency_id": "ask", "show_progress": "minimal", **private}
    state = [ui.turns, ui.outlets, ui.since, ui.until]
    ui.question.submit(handlers.ask, [ui.question, *state], **ask)
    ui.ask.click(handlers.ask, [ui.question, *state], **ask)
    for button in ui.example_buttons:
        button.click(handlers.ask, [button, *state], **ask)
    ui.clear.click(handlers.clear, None, [ui.chat, ui.sources, ui.turns, ui.example_row], **private)

    examples = [ui.example_row, *ui.example_buttons]
    app.load(handlers.examples_view, None, examples, **private)
    view = [ui.table, ui.remove_choice, ui.outlets, ui.counts]
    app.load(handlers.archive_view, [ui.search], view, **private)
    ui.archive_tab.select(handlers.archive_view, [ui.search], view, **private)
    # .change, not .input: a title pasted into the search filters too
    ui.search.change(handlers.archive_search, [ui.search], [ui.table, ui.remove_choice, ui.counts],
                     trigger_mode="always_last", **private)
    # writes take turns with each other, never with answering
    writes: dict[str, Any] = {"concurrency_id": "archive-writes", "concurrency_limit": 1, **private}
    ui.upload.upload(handlers.add_files, [ui.upload, ui.search], [ui.report, *view, ui.upload],
                     **writes).then(handlers.examples_view, None, examples, **private)
    # choosing files clears the last upload's report, even when the browser refuses them
    ui.report_reset.click(None, None, [ui.report], js="() => ''", **private)
    confirmation = [ui.confirm_row, ui.confirm_text, ui.pending]
    ui.remove.click(handlers.ask_remove, [ui.remove_choice], [*confirmation, ui.report], **private)
    ui.cancel.click(handlers.cancel_remove, None, confirmation, **private)
    ui.remove_choice.change(handlers.cancel_remove, None, confirmation, **private)
    ui.confirm.click(handlers.confirm_remove, [ui.pending, ui.search],
                     [ui.report, *view, *confirmation], **writes).then(
        handlers.examples_view, None, examples, **private)


def login(host: str, auth: str | None) -> tuple[str, str] | None:
    """The (user, password) to require, or None; refuses a non-loopback host without one."""
    credentials = None
    if auth:
        user, sep, password = auth.partition(":")
        if not (sep and user and password):
            raise UsageError("--auth must be USER:PASS (or set NEWSDESK_AUTH=USER:PASS)")
        credentials = (user, password)
    if credentials is None and not is_loopback(host):
        raise UsageError(
            f"refusing to serve on {host} without a login: anyone who can reach it could read "
            "and change the archive; add --auth USER:PASS (or set NEWSDESK_AUTH), "
            "or keep the default --host 127.0.0.1")
    return credentials


def is_loopback(host: str) -> bool:
    """Whether an address to bind is reachable from this machine only."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


def why_unbindable(host: str, port: int) -> str:
    """Why a server cannot listen on host:port, as the system says it ("Address already in
    use")."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.bind(address)
    except OSError as exc:
        return str(exc.strerror or exc).lower()
    return "the web server could not bind it"


def serve(desk: Desk, host: str = "127.0.0.1", port: int = 7860, auth: str | None = None,
          announce: Callable[[str], None] | None = None, allowed_hosts: Sequence[str] = ()) -> None:
    """Run the web chat on the Desk until interrupted; `announce` is told the URL once it
    listens. Requests are answered only when their Host header is an IP address, localhost,
    this machine's name, `host`, or one of `allowed_hosts` (and the settings' ones)."""
    from starlette.middleware import Middleware

    from newsdesk_ui.hosts import KnownHosts, host_names

    credentials = login(host, auth)
    names = host_names(host, [*desk.settings.allowed_hosts, *allowed_hosts])
    app = build_app(desk)
    try:
        # no share link and no allowed_paths: only Gradio's own uploads and assets are served
        app.launch(server_name=host, server_port=port, auth=credentials, share=False,
                   max_file_size=desk.settings.max_file_bytes, ssr_mode=False, inbrowser=False,
                   css=(HERE / "chat.css").read_text(encoding="utf-8"),
                   theme=gr.themes.Soft(font=["ui-sans-serif", "system-ui", "sans-serif"],
                                        font_mono=["ui-monospace", "monospace"]),
                   footer_links=["api"], quiet=True, prevent_thread_lock=True,
                   app_kwargs={"middleware": [Middleware(KnownHosts, names=names)]})
    except OSError as exc:  # Gradio's "Cannot find empty port", whatever stopped it binding
        raise UsageError(f"cannot serve on {host}:{port}: {why_unbindable(host, port)}; choose "
                         "another --port (or --host)") from exc
    if announce is not None:
        announce(f"http://{host}:{app.server_port}/")
    app.block_thread()

