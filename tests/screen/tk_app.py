"""The X program the screen tests drive: a block of a known colour, a button, a text field, and a
small ticker that changes a few pixels 20 times a second (so a view has frames to send)."""

import tkinter as tk

root = tk.Tk()
root.geometry("600x400+0+60")
root.configure(background="white")
block = tk.Frame(root, width=200, height=150, background="#12c456")
block.place(x=20, y=20)
button = tk.Button(root, text="Press me", command=lambda: print("pressed", flush=True))
button.place(x=260, y=40, width=140, height=50)
entry_text = tk.StringVar()
entry = tk.Entry(root, textvariable=entry_text, font=("Sans", 14))
entry.place(x=260, y=120, width=300, height=36)
entry_text.trace_add("write", lambda *_: print(f"text {entry_text.get()}", flush=True))
ticker = tk.Label(root, text="0", background="white")
ticker.place(x=20, y=300)
count = [0]


def tick() -> None:
    count[0] += 1
    ticker.configure(text=str(count[0]))
    root.after(50, tick)


def report() -> None:
    root.update_idletasks()
    for name, widget in (("block", block), ("button", button), ("entry", entry)):
        print(
            f"geom {name} {widget.winfo_rootx()} {widget.winfo_rooty()}",
            f"{widget.winfo_width()} {widget.winfo_height()}",
            flush=True,
        )


root.after(300, report)
root.after(50, tick)
root.mainloop()
