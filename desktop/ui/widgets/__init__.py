"""Widgets of the main window: panels, detail pane, charts, dialogs."""
