"""Live delivery: what carries live data from this process's hub to each client. The shared
fan-out, per-connection outboxes and direct frames, the quote, candle and user-event streams
(snapshot or resume, then live, in order), and the protocol handlers; one core, thin
transports. It knows nothing of the schema: the API wires it in."""
