"""The benchmark's X program (full screen): an editor (a Tk Text), which `bench/screen.py` types into,
scrolls, and recolours whole (a full-screen change). Prints `ready` once on screen."""

import tkinter as tk

root = tk.Tk()
root.geometry(f"{root.winfo_screenwidth()}x{root.winfo_screenheight()}+0+0")
text = tk.Text(root, font=("Monospace", 12), background="white", undo=False)
text.pack(fill="both", expand=True)
for n in range(2000):
    text.insert(
        "end", f"{n:05d}  The quick brown fox jumps over the lazy dog. 网络连接正常，请检查路由器。\n"
    )
text.mark_set("insert", "1.0")
text.focus_force()
colours = ["white", "#203040"]


def flip(_event: object = None) -> str:
    colours.reverse()
    text.configure(background=colours[0])
    return "break"


root.bind_all("<F9>", flip)
root.after(500, lambda: print("ready", flush=True))
root.mainloop()
