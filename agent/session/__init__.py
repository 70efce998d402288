"""The agent's side of a support session.

`book` is the pure core (session and action lifecycles, policy, the consent queue, held output);
`guard` is the thin I/O loop that carries out its decisions with the executors (`agent.executors`);
`feed` is what the user sees and keeps; `rating` the "How did it go?" question; `panel_state` what the
panel shows of all this; `reports` the session ends the server has not heard about yet.
"""
