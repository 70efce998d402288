"""The screen view and control on the agent (issue 16).

    tiles.py      pure, numpy-free: which tiles changed since the last picture, merged into runs
    encoder.py    JPEG tiles (Pillow, libjpeg-turbo) and the link-adaptive quality/rate
    capture.py    mss: the monitors, one grab; a thread that captures, diffs, encodes — newest wins
    indicator.py  the always-on-top window "engineer 张三 is viewing your screen — Stop" (Tk)
    inject.py     the engineer's mouse and keyboard through XTEST (python-xlib); text as text
    watch.py      the user's own mouse and keyboard: control pauses while they are used

The executors (`agent/executors/screen.py`) tie them to the session book: frames leave only while the
book says the view is running, and the view runs only while the indicator is on screen.
"""
